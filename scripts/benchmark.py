"""Indexing and query speed at 1k, 10k and 100k agenda items, side by side with SQLite FTS5 and tantivy.

Items are the real corpus's, re-sampled to reach each size (new ids; councils and dates drawn from
the real ones), so text stays realistic. For each size it measures the product's index build
(items/s, MB of text/s, peak memory, size on disk) and query latency from a warm searcher through
the product's own search module, then through the HTTP API of the production server with 8
concurrent clients; the same items and queries go through SQLite FTS5 (bm25) and tantivy. Writes
the table to docs/performance.md.

Example: .venv/bin/python scripts/benchmark.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from queue import Empty
from typing import Any
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.build import build_index  # noqa: E402
from indexer.store import open_index, publish  # noqa: E402

# One to four words, phrases, filters, facet counts (always computed) and date sort.
QUERIES: list[dict[str, str]] = [
    {"q": "fostering"},
    {"q": "care leavers"},
    {"q": "staying put"},
    {"q": "health assessments"},
    {"q": "virtual school annual report"},
    {"q": "not in education employment training"},
    {"q": '"corporate parenting"'},
    {"q": '"pathway plan"'},
    {"q": "care leavers", "council": "kent"},
    {"q": "budget", "year": "2025"},
    {"q": "missing children", "sort": "date"},
    {"q": "Ofsted inspection", "decisions": "1"},
    {"q": "UASC"},
    {"q": "placements sufficiency", "from": "2020-01-01"},
    {"q": "council tax"},
    {"q": "mental health"},
]
TWO_WORD = [q for q in QUERIES if len(q["q"].split()) == 2 and len(q) == 1 and '"' not in q["q"]]


def real_records(work: Path, cache: Path | None = None, cost: bool = True) -> tuple[list[dict[str, Any]], str]:
    """Returns the stored fields of every item of the real corpus, built from scratch into work/real,
    and a line saying how long that build took (and, with cost, what the embeddings cost).

    With cache, an earlier build's cache (extracted text, vectors) is used, as a re-run of `cpsearch index`
    would: the real build then times no extraction or encoding."""
    index_dir = work / "real"
    if cache is not None:
        shutil.copytree(cache, index_dir / "cache")
    report = build_index(ROOT / "corpus", index_dir)
    reader = open_index(index_dir)
    records = [dict(f) for f in reader.stored_records()]
    reader.close()
    line = (
        f"The real corpus ({len(report.indexed)} files, {report.items} items) indexed from scratch in "
        f"{report.seconds:.0f} s (target: under a minute), with PDF text extraction and sentence embeddings "
        f"the largest parts{' (from the cache of an earlier build)' if cache else ''}.\n\n"
        f"{embedding_cost(records) if cost else 'Embedding cost not measured in this run (--no-embedding-cost).'}"
    )
    return records, line


def embedding_cost(records: list[dict[str, Any]]) -> str:
    """Returns a paragraph measuring what the sentence embeddings cost: model load, memory, time per item."""
    from indexer.embeddings import Encoder, passage_texts

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    encoder = Encoder()
    load_s = time.perf_counter() - started
    texts = [t for r in records for t in passage_texts(r["item_title"], r["decisions"].split("\n"), r["body"])]
    started = time.perf_counter()
    encoder.encode(texts)
    seconds = time.perf_counter() - started
    per_item_ms, per_text_ms = seconds * 1000 / len(records), seconds * 1000 / len(texts)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    per_item = len(texts) / len(records)
    return (
        f"Sentence embeddings (all-MiniLM-L6-v2 in numpy): the model loads in {load_s:.1f} s and the process "
        f"grows by {grown:.0f} MB. Each item is embedded whole and in windows of 150 words, {per_item:.1f} "
        f"texts an item on the real corpus; encoding costs {per_text_ms:.0f} ms a text, {per_item_ms:.0f} ms "
        f"an item, on this machine, so {per_item_ms * 100_000 / 3_600_000:.1f} hours for 100,000 new items "
        "(both cores), paid once: vectors are cached by each paper's text. Each server worker holds the "
        f"whole-item vectors (1.5 KB an item, 147 MB for 100,000 items); the passages ({per_item * 768 / 1024:.1f} "
        f"KB an item as float16, {per_item * 768 * 100_000 / 1024**2:.0f} MB for 100,000) are memory-mapped, "
        "one copy in the page cache for every worker. In the table, items re-sampled from the real ones "
        "reuse the real items' vectors."
    )


def scaled_records(real: list[dict[str, Any]], size: int, seed: int = 7) -> list[dict[str, Any]]:
    """Returns `size` index fields made by re-sampling real items with new ids, councils and dates."""
    rng = random.Random(seed)
    councils = sorted({(r["council"], r["council_name"]) for r in real})
    dates = [r["date"] for r in real if r.get("date")]
    out = []
    for n in range(size):
        base = real[n % len(real)] if n < len(real) else rng.choice(real)
        fields = dict(base)
        if n >= len(real):
            fields["council"], fields["council_name"] = rng.choice(councils)
            when = rng.choice(dates) + timedelta(days=rng.randrange(-720, 720))
            fields["date"], fields["year"] = when, str(when.year)
            fields["id"] = f"synthetic-{n}"
            fields["doc_id"] = fields["source"] = f"{fields['council']}/synthetic-{n // 10}.txt"
            fields["dup_key"] = fields["id"]
        fields["_base"] = base["id"]
        out.append(fields)
    return out


def build_whoosh(records: list[dict[str, Any]], index_dir: Path, queue: Any) -> None:
    """Child process: writes the records as the product's indexer does, streamed; reports its peak memory."""
    from indexer.store import Vocabulary, next_generation, open_writer

    index_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generation = next_generation(index_dir, empty=True)
    writer = open_writer(generation, parallel=True)  # as the product's build from scratch
    vocabulary = Vocabulary()  # the words for spelling suggestions, counted as the product's build does
    for fields in records:
        writer.add_record({k: v for k, v in fields.items() if not k.startswith("_")})
        vocabulary.add(fields["item_title"], fields["title"], fields["body"], fields["decisions"])
    writer.commit()
    vocabulary.save(generation)
    publish(index_dir, generation, {"__index_format__": "benchmark"})
    # The writer processes of a parallel build are children: the peak is the largest of them all.
    peak_mb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    queue.put((time.perf_counter() - started, peak_mb))


def whoosh_built(records: list[dict[str, Any]], index_dir: Path) -> tuple[float, float]:
    """Runs build_whoosh in a forked child (the records inherited, not pickled) and returns its seconds and
    peak MB; raises if the child dies without reporting, instead of waiting for it forever."""
    queue: Any = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=build_whoosh, args=(records, index_dir, queue))
    child.start()
    while True:
        try:
            seconds, peak = queue.get(timeout=30)
            break
        except Empty:
            if not child.is_alive():
                raise RuntimeError(f"the Whoosh build stopped (exit code {child.exitcode})") from None
    child.join()
    return seconds, peak


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def time_queries(run: Any, rounds: int) -> list[float]:
    """Returns latencies in ms of every query in the set, run `rounds` times after one warm-up pass."""
    for params in QUERIES:
        run(params)
    latencies = []
    for _ in range(rounds):
        for params in QUERIES:
            started = time.perf_counter()
            run(params)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def first_runs(run: Any) -> list[float]:
    """Returns the latency in ms of each query of the set run once on a searcher just opened: nothing
    of the query is in memory yet (its postings and positions are read from disk)."""
    latencies = []
    for params in QUERIES:
        started = time.perf_counter()
        run(params)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def product_runner(index_dir: Path) -> Any:
    from werkzeug.datastructures import MultiDict

    from search_app.params import parse_search_args
    from search_app.service import SearchIndex

    index = SearchIndex(index_dir)
    index.warm()  # as each server worker does before it takes requests
    return lambda params: index.search(parse_search_args(MultiDict(params)))


def two_word_runner(index_dir: Path, semantic: bool = True) -> Any:
    from search_app.results import SearchRequest
    from search_app.service import SearchIndex

    index = SearchIndex(index_dir)
    index.warm()
    return lambda params: index.search(SearchRequest(q=params["q"], semantic=semantic))


def write_vectors(records: list[dict[str, Any]], real_index: Path, index_dir: Path) -> float:
    """Writes every record's vector (its real item's) into the benchmark generation; returns the seconds."""
    from indexer.store import current_generation
    from indexer.vectors import ItemVectors

    started = time.perf_counter()
    real = ItemVectors.load(current_generation(real_index))
    row_of = {item_id: row for row, item_id in enumerate(real.ids)}
    rows = np.array([row_of[r["_base"]] for r in records], dtype=np.int64)
    counts, starts = real.counts[rows], real.starts()[rows]
    offsets = np.cumsum(counts) - counts
    passage_rows = np.repeat(starts - offsets, counts) + np.arange(int(counts.sum()))
    vectors = ItemVectors()
    vectors.add(
        [r["id"] for r in records], [r["doc_id"] for r in records], counts.tolist(), real.passages[passage_rows]
    )
    vectors.save(current_generation(index_dir))  # type: ignore[arg-type]
    return time.perf_counter() - started


def build_fts5(records: list[dict[str, Any]], path: Path) -> float:
    started = time.perf_counter()
    db = sqlite3.connect(path)
    db.execute(
        "CREATE VIRTUAL TABLE items USING fts5(item_title, body, council UNINDEXED, year UNINDEXED, "
        "committee UNINDEXED, doc_type UNINDEXED, topics UNINDEXED, date UNINDEXED, tokenize='porter unicode61')"
    )
    db.executemany(
        "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                r["item_title"],
                r["body"],
                r["council"],
                r.get("year", ""),
                r["committee"],
                r["doc_type"],
                r.get("topics", ""),
                r["date"].isoformat() if r.get("date") else "",
            )
            for r in records
        ),
    )
    db.commit()
    db.close()
    return time.perf_counter() - started


def fts5_runner(path: Path) -> Any:
    db = sqlite3.connect(path, check_same_thread=False)

    def run(params: dict[str, str]) -> None:
        words = " ".join(f'"{w}"' for w in params["q"].replace('"', " ").split())
        where, args = "items MATCH ?", [words]
        for column in ("council", "year"):
            if column in params:
                where += f" AND {column} = ?"
                args.append(params[column])
        order = "date DESC" if params.get("sort") == "date" else "bm25(items)"
        db.execute(
            f"SELECT rowid, snippet(items, 1, '<mark>', '</mark>', '…', 20) FROM items WHERE {where} "
            f"ORDER BY {order} LIMIT 20",
            args,
        ).fetchall()
        for facet in ("council", "year", "committee", "doc_type", "topics"):
            db.execute(f"SELECT {facet}, count(*) FROM items WHERE {where} GROUP BY {facet}", args).fetchall()

    return run


def build_tantivy(records: list[dict[str, Any]], path: Path) -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("item_title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    for name in ("council", "year", "committee", "doc_type"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", fast=True)
    schema = builder.build()
    path.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(schema, path=str(path))
    started = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=2)
    for r in records:
        writer.add_document(
            tantivy.Document(
                item_title=r["item_title"],
                body=r["body"],
                council=r["council"],
                year=r.get("year", ""),
                committee=r["committee"],
                doc_type=r["doc_type"],
            )
        )
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    return index, time.perf_counter() - started


def tantivy_runner(index: Any) -> Any:
    searcher = index.searcher()

    def run(params: dict[str, str]) -> None:
        text = params["q"]
        for column in ("council", "year"):
            if column in params:
                text = f"({text}) AND {column}:{params[column]}"
        query = index.parse_query(text, ["item_title", "body"])
        searcher.search(query, 20)
        for facet in ("council", "year", "committee", "doc_type"):
            searcher.aggregate(query, {"f": {"terms": {"field": facet, "size": 50}}})

    return run


# How long `cpsearch serve` may take to answer its first search (its workers warm first).
READY_SECONDS = 600


def http_latencies(index_dir: Path, clients: int, rounds: int, serve_args: list[str] | None = None) -> list[float]:
    """Returns latencies (ms) of the query set through `cpsearch serve` with concurrent clients; serve_args
    replace `--index index_dir` (scripts/benchmark_xapian.py serves the shards)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-c",
        "from search_app.cli import main; main()",
        "serve",
        *(serve_args or ["--index", str(index_dir)]),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        # Ready once it answers a search (a worker warms before it takes requests: minutes at 1M items).
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"`cpsearch serve` exited with code {server.returncode} before answering")
            if time.monotonic() > deadline:
                raise RuntimeError(f"`cpsearch serve` did not answer a search within {READY_SECONDS} s")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=READY_SECONDS)
                probe.request("GET", "/api/search?q=care")
                probe.getresponse().read()
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)

        def client(seed: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            order = QUERIES * rounds
            random.Random(seed).shuffle(order)
            for params in order:
                started = time.perf_counter()
                try:
                    conn.request("GET", "/api/search?" + urlencode(params))
                    response = conn.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException) as error:  # no answer: a worker killed, a timeout
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    status = f"no answer ({type(error).__name__})"
                with lock:
                    if status == "200":
                        latencies.append((time.perf_counter() - started) * 1000)
                    else:
                        refused.append(f"{status} {params}")

        refused: list[str] = []
        for _ in range(2):  # the first concurrent pass warms every worker process; the second is measured
            latencies.clear()
            refused.clear()
            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    if refused:  # not timed, and said: a fast error is never read as a fast search
        answers = len(latencies) + len(refused)
        print(f"{len(refused)} of {answers} HTTP requests got no 200 answer: {', '.join(sorted(set(refused))[:10])}")
    if not latencies:
        raise RuntimeError("no HTTP request was answered with 200")
    return latencies


def run_size(real: list[dict[str, Any]], size: int, work: Path, rounds: int) -> dict[str, Any]:
    records = scaled_records(real, size)
    text_mb = sum(len(r["body"]) + len(r["item_title"]) for r in records) / 2**20
    row: dict[str, Any] = {"items": size, "text_mb": round(text_mb, 1)}

    index_dir = work / f"whoosh-{size}"
    seconds, peak = whoosh_built(records, index_dir)
    vector_seconds = write_vectors(records, work / "real", index_dir)
    row["whoosh"] = {
        "build_s": seconds,
        "items_per_s": size / seconds,
        "mb_per_s": text_mb / seconds,
        "peak_mb": peak,
        "disk_mb": dir_mb(index_dir),
        "vectors_s": vector_seconds,
    }
    runner = product_runner(index_dir)
    row["whoosh"]["first_ms"] = percentiles(first_runs(runner))
    row["whoosh"]["query_ms"] = percentiles(time_queries(runner, rounds))
    row["whoosh"]["two_word_ms"] = percentiles(time_queries_subset(two_word_runner(index_dir), rounds))
    row["whoosh"]["two_word_words_only_ms"] = percentiles(
        time_queries_subset(two_word_runner(index_dir, semantic=False), rounds)
    )
    row["whoosh"]["http_ms"] = percentiles(http_latencies(index_dir, 8, max(1, rounds // 4)))

    fts_path = work / f"fts5-{size}.db"
    fts_seconds = build_fts5(records, fts_path)
    row["fts5"] = {
        "build_s": fts_seconds,
        "items_per_s": size / fts_seconds,
        "disk_mb": fts_path.stat().st_size / 2**20,
        "query_ms": percentiles(time_queries(fts5_runner(fts_path), rounds)),
    }

    tantivy_index, tantivy_seconds = build_tantivy(records, work / f"tantivy-{size}")
    row["tantivy"] = {
        "build_s": tantivy_seconds,
        "items_per_s": size / tantivy_seconds,
        "disk_mb": dir_mb(work / f"tantivy-{size}"),
        "query_ms": percentiles(time_queries(tantivy_runner(tantivy_index), rounds)),
    }
    return row


def time_queries_subset(run: Any, rounds: int) -> list[float]:
    latencies = []
    for params in TWO_WORD:
        run(params)
    for _ in range(rounds * 4):
        for params in TWO_WORD:
            started = time.perf_counter()
            run(params)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def ratio(ours: float, theirs: float) -> str:
    """Returns ours / theirs as "12x", or "0.4x" when ours is the faster."""
    value = ours / theirs
    return f"{value:.0f}x" if value >= 10 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def table(rows: list[dict[str, Any]]) -> str:
    """Returns the results as a Markdown table with ratios to the peers."""
    lines = [
        "| items | system | build s | items/s | MB text/s | peak MB | disk MB | query p50 / p95 / p99 ms "
        "| two-word + 5 facets p95 ms (words only) | HTTP, 8 clients p50 / p95 / p99 ms | first run p50 / p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        w, f, t = row["whoosh"], row["fts5"], row["tantivy"]
        q = w["query_ms"]
        lines.append(
            f"| {row['items']:,} | Council Papers Search (Whoosh) | {w['build_s']:.1f} | {w['items_per_s']:.0f} | "
            f"{w['mb_per_s']:.2f} | {w['peak_mb']:.0f} | {w['disk_mb']:.0f} | {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f} | "
            f"{w['two_word_ms'][1]:.1f} ({w['two_word_words_only_ms'][1]:.1f}) | "
            f"{w['http_ms'][0]:.0f} / {w['http_ms'][1]:.0f} / {w['http_ms'][2]:.0f} | "
            f"{w['first_ms'][0]:.0f} / {w['first_ms'][1]:.0f} |"
        )
        for name, peer in (("SQLite FTS5", f), ("tantivy", t)):
            p = peer["query_ms"]
            lines.append(
                f"| | {name} (ratio Whoosh/peer) | {peer['build_s']:.1f} ({ratio(w['build_s'], peer['build_s'])}) | "
                f"{peer['items_per_s']:.0f} | | | {peer['disk_mb']:.0f} | {p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f} "
                f"({ratio(q[0], p[0])} / {ratio(q[1], p[1])} / {ratio(q[2], p[2])}) | | | |"
            )
    return "\n".join(lines)


WHY = """
How the search reaches these figures, and what is left:

- Whoosh stays the index format, schema, query parser and writer, but searches no longer run
  through its matchers, which scored every matching item one at a time in Python (facet counts,
  totals and folding of copies need all of them). search.py reads each term's postings from
  Whoosh's segment files a block at a time and keeps them, BM25F scores computed, per index
  generation; scoring.py then does the union, intersection, phrase matching (binary search over
  positions, only in items holding every word), filters, ranking, folding of copies and facet
  counts as numpy array operations. tests/test_scoring.py checks the scores equal Whoosh's own on
  the whole corpus. Wildcards and other expanding terms still go through Whoosh's matchers.
- "First run" is a query whose terms are not in memory yet: its postings and positions are read
  from disk in Python, hundreds of milliseconds for common words at 100k items. After that the
  term is in memory for every query that uses it (up to 40 million postings per process).
- HTTP: gunicorn runs one worker process per core (2 threads each); a search is Python and numpy
  work, so threads of one process take turns on the interpreter lock and the second process is
  what answers two searches at once. A worker takes no more connections than it has threads and
  closes each after answering, so each request goes to a free worker. 8 clients on 2 cores means
  each request waits for about 3 others: the HTTP figure is about four times the in-process one.
- Meaning matching, at 100k items: a query's vector is encoded once per process (kept for the
  next page, facet or sort of the same words; encoding streams the model's 90 MB of weights). The
  first look over every item uses each vector cut to its 96 main directions (from the items' own
  vectors; a full 384-number product read 150 MB, 12 ms on one core); the best 1,000 by it, and the
  pool the fusion ranks, are scored again whole. Below 20,000 items it is exact.
- Indexing: Whoosh analyses and writes each item in Python (our items average 806 words). Builds
  from scratch use one writer process per core, each writing its own segment; analysis runs in
  one pass (the same tokens as Whoosh's StemmingAnalyzer at about half the cost); and spelling
  suggestions come from a word list counted during the build instead of Whoosh's spelling field,
  which indexed every word a second time and was half of the build.

What the build costs: Whoosh's writer does per-posting Python work (about 18 million body
postings, 177 per item, at 100k items): analysing, pooling, sorting and merging its posting runs,
writing blocks, with both cores busy (one writer process each). Removed: the spelling field (half of
the build), a second index of quoted figures, analysis through four generators (now one pass). Tried
and dropped: 1 GB writer pools instead of 256 MB (312 s, three times the memory). This machine's speed
varies from run to run by up to half (compare the peers' columns between runs). tantivy builds the
same items in under 20 s. The table's build leaves out encoding: new papers' sentence embeddings
cost far more than the index (see the paragraph above), paid once per paper.

Earlier removals, still in place: a second pass per request, Whoosh's highlighter re-analysing whole
items (snippets come from one compiled expression, stopping at the first window holding every
word), a second evaluation of the typed query to rank it above glossary expansions (a weight),
expansions that stem to the words typed. PDF extraction uses both cores and is cached by content
hash.
"""


def targets(rows: list[dict[str, Any]]) -> str:
    """Returns the issue's targets against the largest size measured."""
    row = max(rows, key=lambda r: r["items"])
    w = row["whoosh"]
    checks = [
        ("two-word query with counts for five facets, warm searcher: p95 <= 50 ms", w["two_word_ms"][1], 50.0, "ms"),
        ("HTTP API under 8 concurrent clients: p95 <= 150 ms", w["http_ms"][1], 150.0, "ms"),
        ("full index build < 5 min", w["build_s"], 300.0, "s"),
    ]
    lines = [
        f"## Against the targets ({row['items']:,} items)",
        "",
        "| target | measured | met? |",
        "| --- | --- | --- |",
    ]
    for label, value, limit, unit in checks:
        over = value / limit
        verdict = "yes" if over <= 1 else f"no, {over - 1:.0%} over" if over < 2 else f"no, {over:.1f}x over"
        lines.append(f"| {label} | {value:,.0f} {unit} | {verdict} |")
    return "\n".join(lines)


def machine() -> str:
    import tantivy  # noqa: F401
    import whoosh

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Whoosh {'.'.join(map(str, whoosh.__version__))}, SQLite {sqlite3.sqlite_version}, tantivy 0.27.0, "
        f"{datetime.now():%Y-%m-%d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the query set per system")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--cache", type=Path, help="an index's cache/ folder to reuse for the real corpus's build")
    parser.add_argument("--no-embedding-cost", action="store_true", help="skip timing the encoder on every text")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cps-bench-"))
    try:
        real, real_line = real_records(work, args.cache, not args.no_embedding_cost)
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"benchmarking {size:,} items ...", flush=True)
            rows.append(run_size(real, size, work, args.rounds))
            print(table(rows[-1:]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(rows)
    print(text)
    analysis = f"{targets(rows)}\n\n{real_line}\n{WHY}\n"
    report = (
        f"# Performance\n\nLatest run of `python scripts/benchmark.py --sizes {args.sizes}` on {machine()}.\n\n"
        f"{text}\n\nRatios are Whoosh's time divided by the peer's. The product's query figures include what a "
        "page needs (facet counts for five facets, folding of copies, highlighted snippets); the peers run "
        "the same query with top-20 ranking and, for FTS5 and tantivy, facet counts by council, year, "
        "committee and type. Query figures are from a warm searcher (after one pass over the set); "
        "the last column is that first pass.\n\n" + analysis
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
