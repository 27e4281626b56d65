"""Matching by meaning at 100,000 and 1,000,000 items: the nearest-neighbour index against exact search.

For each size, item vectors are made from the real corpus's (each a real item's vectors moved by a little
noise, so near neighbours stay as crowded as in real papers) and saved as the indexer saves them (with
the inverted-file index above 20,000 items). Then, for the judged queries of tests/data:
- recall@100 of the approximate search against the exact one: of the inverted-file index alone, and of what the
  search uses (its best semantic.CANDIDATES scored again exactly, then the best 100 taken);
- the meaning stage's time per query (nearest items and the best passages of the pool), p50 and p95;
- memory per worker: a fresh process maps the vectors and answers the queries; its private memory is
  what each server worker adds, its shared pages are the page cache's one copy.
Timings vary by up to half from run to run here; compare the rows of one run.

Example: .venv/bin/python scripts/benchmark_meaning.py --sizes 100000,1000000 --real-index var/index
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.embeddings import DIMENSIONS  # noqa: E402
from indexer.vectors import ItemVectors  # noqa: E402
from search_app import semantic  # noqa: E402

QUERY_SETS = ("judgments", "blind_queries", "heldout_queries", "heldout2_queries")
NOISE = 0.2
RECALL_AT = 100
PLACING = "align-benchmark"


def judged_queries() -> list[str]:
    """Returns the text of every judged query the project keeps."""
    texts: list[str] = []
    for name in QUERY_SETS:
        data = json.loads((ROOT / "tests" / "data" / f"{name}.json").read_text(encoding="utf-8"))
        queries = data["queries"]
        rows = queries if isinstance(queries, list) else [{"q": q} for q in queries]
        texts += [row.get("q") or row["query"] for row in rows]
    return sorted(set(texts))


def mixed(rows: np.ndarray, partners: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Returns each row moved towards its partner (another real vector) by 1 - weight, plus a little noise,
    normalised again: a new vector in the region real papers fill, not a near-copy of one of them."""
    noise = rng.standard_normal(rows.shape, dtype=np.float32) * np.float32(NOISE / np.sqrt(DIMENSIONS))
    out = weights[:, None] * rows.astype(np.float32) + (1 - weights[:, None]) * partners.astype(np.float32) + noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def synthetic(real: ItemVectors, size: int, seed: int = 7) -> ItemVectors:
    """Returns `size` items' vectors: each a real item's whole and passage vectors mixed with one other real
    passage (weights 0.5 to 0.9) and noise, so that no two synthetic items are copies of each other."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, len(real.ids), size)
    counts = real.counts[base]
    starts = real.starts()[base]
    passage_rows = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    partner_of_item = rng.integers(0, len(real.passages), size)
    weight_of_item = rng.uniform(0.5, 0.9, size).astype(np.float32)
    partners, weights = np.repeat(partner_of_item, counts), np.repeat(weight_of_item, counts)
    passages = np.empty((passage_rows.size, DIMENSIONS), dtype=np.float16)
    source = np.asarray(real.passages)
    for start in range(0, passage_rows.size, 500_000):
        part = slice(start, start + 500_000)
        passages[part] = mixed(source[passage_rows[part]], source[partners[part]], weights[part], rng)
    firsts = np.cumsum(counts) - counts
    ids = [f"synthetic-{n}" for n in range(size)]
    papers = [f"paper-{n // 8}" for n in range(size)]
    return ItemVectors(ids, papers, passages[firsts].astype(np.float32), counts, passages)


def measure(generation: Path, queries_file: Path) -> dict[str, float]:
    """Runs in a fresh process: maps the vectors, answers every query, returns recall, times and memory."""
    queries = np.load(queries_file)
    vectors = ItemVectors.load(generation, mapped=True)
    # As a server worker after the first: the placing of rows at document numbers is mapped from files.
    doc = semantic.align_vectors(vectors, vectors.ids, generation / PLACING)
    usable = np.ones(len(vectors.ids), dtype=bool)
    matrix = vectors.matrix
    del vectors  # as the server does: its ids were needed only to place the rows
    times, recall_alone, recall_used = [], [], []
    rng = np.random.default_rng(3)
    nearest = {}
    held: dict[str, float] = {}
    for _repeat in range(3):
        for n, query in enumerate(queries):
            started = time.perf_counter()
            _, near = semantic.whole_similarity(doc, query, usable)
            words = np.unique(rng.integers(0, len(usable), semantic.RESCORED))  # stands for the best word matches
            semantic.best_passages(doc, query, np.union1d(near, words))
            times.append(time.perf_counter() - started)
            nearest[n] = near
            if not held:  # what a worker keeps between searches, once it has answered one
                held = {f"held_{name}": value for name, value in memory_figures().items()}
    memory = {**memory_figures(), **held}  # before the exact search below reads every vector
    if doc.nearest is not None:
        exact_matrix = np.asarray(matrix, dtype=np.float32)
        for n, query in enumerate(queries):
            near = nearest[n]
            truth = set(np.argpartition(-(exact_matrix @ query), RECALL_AT)[:RECALL_AT].tolist())
            alone = doc.nearest.search(query, RECALL_AT)
            recall_alone.append(len(truth & set(alone.tolist())) / RECALL_AT)
            recall_used.append(len(truth & set(near[:RECALL_AT].tolist())) / RECALL_AT)
    times.sort()
    return {
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
        "recall_alone": float(np.mean(recall_alone)) if recall_alone else 1.0,
        "recall_used": float(np.mean(recall_used)) if recall_used else 1.0,
        "min_recall_used": float(np.min(recall_used)) if recall_used else 1.0,
        **memory,
    }


def memory_figures() -> dict[str, float]:
    """Returns this process's own memory and its pages of mapped files, in MB (Linux smaps_rollup)."""
    figures = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Rss", "Anonymous"):
            figures[name] = int(value.split()[0]) / 1024
    # Anonymous pages are the process's own; the rest of its resident pages are files' pages (the
    # memory-mapped vectors), which the page cache holds once for every process that maps them.
    return {
        "rss_mb": figures["Rss"],
        "private_mb": figures["Anonymous"],
        "shared_mb": figures["Rss"] - figures["Anonymous"],
    }


def baseline_memory() -> dict[str, float]:
    """Returns the private memory of a process that imports the same modules and maps nothing."""
    import search_app.semantic  # noqa: F401

    return memory_figures()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--real-index", type=Path, default=ROOT / "var" / "index")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = measure(Path(args.child[0]), Path(args.child[1])) if args.child[0] != "-" else baseline_memory()
        print(json.dumps(figures))
        return
    from indexer.embeddings import shared_encoder
    from indexer.store import current_generation

    real = ItemVectors.load(current_generation(args.real_index))
    if not real.ids:
        sys.exit(f"{args.real_index} has no meaning vectors: run `cpsearch embed --index {args.real_index}`")
    queries = shared_encoder().encode(judged_queries())
    work = Path(tempfile.mkdtemp(prefix="cps-meaning-"))
    np.save(work / "queries.npy", queries)
    base = child(["-", "-"])
    print(f"{len(queries)} judged queries; {len(real.ids)} real items' vectors; baseline process {base}")
    print(
        "| items | save (index build) | meaning p50 / p95 | recall@100 index alone / as used (min) "
        "| worker private held / after all queries / shared MB |"
    )
    print("| --- | --- | --- | --- | --- |")
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            generation = work / f"gen-{size}"
            generation.mkdir()
            vectors = synthetic(real, size)
            started = time.perf_counter()
            vectors.save(generation)
            saved = time.perf_counter() - started
            del vectors
            mapped = ItemVectors.load(generation, mapped=True)
            semantic.align_vectors(mapped, mapped.ids, generation / PLACING)  # the first worker's work
            del mapped
            f = child([str(generation), str(work / "queries.npy")])
            private = f["private_mb"] - base["private_mb"]
            held = f["held_private_mb"] - base["private_mb"]
            print(
                f"| {size:,} | {saved:.0f} s | {f['p50_ms']:.1f} / {f['p95_ms']:.1f} ms | "
                f"{f['recall_alone']:.3f} / {f['recall_used']:.3f} ({f['min_recall_used']:.2f}) | "
                f"{held:.0f} / {private:.0f} / {f['shared_mb']:.0f} |",
                flush=True,
            )
            shutil.rmtree(generation)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def child(arguments: list[str]) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *arguments], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
