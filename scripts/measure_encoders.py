"""Encoding speed and agreement: the numpy Encoder against ONNX Runtime variants, in one run, on real text.

Texts are the real corpus's, cut as the indexer cuts them (indexer.embeddings.passage_texts: each
paper whole, then 150-word windows), and a seeded sample of them is encoded by every encoder. Each is
timed several times, interleaved, and its best kept: timings on a shared 2-core machine vary by up to
half, and the best run is the one least disturbed. Agreement is the cosine of each vector to the numpy
encoder's vector of the same text. Besides: the judged queries of tests/data, encoded one at a time as
the search does (ms a query, and their agreement), and how far a text's vector moves when it is
encoded alone rather than in its batch ("alone"; int8 shares quantisation scales across a batch).

Example: .venv/bin/python scripts/measure_encoders.py --texts 400 --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.embeddings import Encoder, passage_texts  # noqa: E402
from indexer.errors import IndexerError  # noqa: E402
from indexer.extract import extract_file  # noqa: E402
from indexer.onnx_encoder import DEFAULT_VARIANT, FP32, ONNX_BATCH, OnnxEncoder, Variant, cached_model  # noqa: E402

# Candidates: float32, int8 with each of the quantiser's options, and int8 keeping float32 the feed-forward
# output MatMuls (all, or those of layers 0-2: the default), the ones whose int8 loses most.
FFN_OUT = r"\d\.output\.dense"
CANDIDATES = [
    FP32,
    Variant(per_channel=False, exclude=()),
    Variant(exclude=()),
    Variant(reduce_range=True, exclude=()),
    Variant(unsigned_weights=True, exclude=()),
    Variant(ops=("MatMul", "Gather"), exclude=()),
    Variant(per_channel=False, exclude=(FFN_OUT,)),
    Variant(exclude=(FFN_OUT,)),
    DEFAULT_VARIANT,
    Variant(ops=("MatMul", "Gather")),
]


def corpus_texts(corpus: Path, count: int, pdf_every: int, seed: int) -> list[str]:
    """Returns `count` texts sampled from every text paper and every `pdf_every`-th PDF, cut into windows."""
    papers = sorted(corpus.rglob("*.txt")) + sorted(corpus.rglob("*.pdf"))[::pdf_every]
    texts: list[str] = []
    for path in papers:
        try:
            extracted = extract_file(path, str(path.relative_to(corpus)))
        except IndexerError:
            continue
        title = extracted.title or path.stem.replace("_", " ")
        texts.extend(passage_texts(title, [], extracted.text))
    return random.Random(seed).sample(texts, min(count, len(texts)))


ALONE = 24
"""Texts encoded one at a time to compare with their batched vectors."""


def judged_queries(data: Path) -> list[str]:
    """Returns the distinct queries of the judged query sets (the words users type: a few, not 200)."""
    queries: list[str] = []
    for path in sorted(data.glob("*queries.json")) + [data / "judgments.json"]:
        for query in json.loads(path.read_text())["queries"]:
            text = query.get("q") or query.get("query")
            if text and text not in queries:
                queries.append(text)
    return queries


def one_at_a_time(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> np.ndarray:
    return np.stack([encode([text])[0] for text in texts])


def timed_run(encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, np.ndarray]:
    """Returns texts per second of one timed run, and its vectors."""
    start = time.perf_counter()
    vectors = encode(texts)
    return len(texts) / (time.perf_counter() - start), vectors


def cosine_figures(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Returns the minimum, 1st percentile and mean cosine of rows to the reference's rows."""
    cosines = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
    return float(cosines.min()), float(np.percentile(cosines, 1)), float(cosines.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "onnx-cache")
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--pdf-every", type=int, default=6, help="take every n-th PDF (PDF extraction is slow)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1,8,16,32,64", help="batch sizes tried with the swept variants")
    parser.add_argument(
        "--sweep", default="", help="variant names tried at every batch size; default the chosen one and fp32"
    )
    parser.add_argument("--only", default="", help="comma-separated variant names; default all candidates")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    texts = corpus_texts(args.corpus, args.texts, args.pdf_every, args.seed)
    variants = [v for v in CANDIDATES if not args.only or v.name in args.only.split(",")]
    numpy_encoder = Encoder()
    lengths = [sum(e.attention_mask) for e in numpy_encoder.tokenizer.encode_batch(texts)]  # it pads
    print(
        f"{len(texts)} texts, word pieces: median {int(np.median(lengths))}, "
        f"{sum(n == 256 for n in lengths)} cut at 256, {sum(n < 64 for n in lengths)} under 64"
    )
    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {"numpy": numpy_encoder.encode}
    swept = args.sweep.split(",") if args.sweep else [DEFAULT_VARIANT.name, FP32.name]
    for variant in variants:
        started = time.perf_counter()
        size = len(cached_model(args.cache_dir, variant))
        print(f"{variant.name}: {size / 1e6:.0f} MB, ready in {time.perf_counter() - started:.1f} s")
        batches = [int(b) for b in args.batches.split(",")] if variant.name in swept else [ONNX_BATCH]
        for batch in batches:
            encoder = OnnxEncoder(args.cache_dir, variant, batch=batch)
            encoder.encode(texts[:8])  # the first run allocates the session's buffers
            encoders[f"{variant.name} b{batch}"] = encoder.encode

    queries = judged_queries(ROOT / "tests" / "data")
    rates, query_rates = dict.fromkeys(encoders, 0.0), dict.fromkeys(encoders, 0.0)
    vectors: dict[str, np.ndarray] = {}
    query_vectors: dict[str, np.ndarray] = {}
    for round_ in range(args.repeats):  # interleaved, so a slow spell of the machine falls on every encoder
        print(f"timing round {round_ + 1} of {args.repeats}", file=sys.stderr, flush=True)
        for name, encode in encoders.items():
            rate, vectors[name] = timed_run(encode, texts)
            rates[name] = max(rates[name], rate)
            rate, query_vectors[name] = timed_run(functools.partial(one_at_a_time, encode), queries)
            query_rates[name] = max(query_rates[name], rate)

    print(f"\n{len(queries)} queries, one at a time; alone: the first {ALONE} texts encoded one at a time")
    print("| encoder | texts/s | x numpy | cos min | cos p1 | cos mean | alone min | ms/query | query cos min |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, encode in encoders.items():
        low, p1, mean = cosine_figures(vectors[name], vectors["numpy"])
        alone = cosine_figures(one_at_a_time(encode, texts[:ALONE]), vectors[name][:ALONE])[0]
        query_low = cosine_figures(query_vectors[name], query_vectors["numpy"])[0]
        figures = f"{rates[name]:.1f} | {rates[name] / rates['numpy']:.2f} | {low:.4f} | {p1:.4f} | {mean:.4f}"
        print(f"| {name} | {figures} | {alone:.4f} | {1000 / query_rates[name]:.1f} | {query_low:.4f} |")


if __name__ == "__main__":
    main()
