"""The Xapian backend at scale (issue 21): one local database against four shards on loopback.

Items are re-sampled from the real corpus as scripts/benchmark.py does. Each council is placed on a shard
by the cluster file's rule, and the four shards are written by two processes. xapian-compact then merges
them into one local database. Both are searched the way the product searches: the query set through
search_app/xapian_service.XapianIndex, with five facet counts, copies folded, snippets and other sources.
The local database is opened in the process; the shards are served by xapian-tcpsrv on 127.0.0.1. Then
it measures HTTP with 8 clients through `cpsearch serve --backend xapian`, and the peak memory of a fresh
process that searches the shards. That process holds nothing per item.

Each item gets meaning vectors (its real item's, mixed as scripts/benchmark_meaning.py mixes them), mapped by
the web server as `cpsearch serve --backend xapian --index` maps them, so searches fuse meaning as served.

With --whoosh, the product's default index (Whoosh) is built from the same items and measured the same way;
with --peers, SQLite FTS5 and tantivy.

Example: .venv/bin/python scripts/benchmark_xapian.py --size 1000000 --cache var/index/cache --work var/bench-1m
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark as bench  # noqa: E402

from indexer.cluster import Cluster, ShardSpec, load_cluster, start_servers, stop_servers  # noqa: E402
from indexer.xapian_backend import Shard, XapianWriter, mark_canonical  # noqa: E402
from search_app.server import one_thread_each  # noqa: E402

SHARDS = 4
COMMIT_EVERY = 20_000
# The records to write, inherited by the writer processes when they fork (not pickled: a million dicts).
TO_WRITE: dict[str, list[dict[str, Any]]] = {}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_shard(job: tuple[str, str]) -> float:
    """Writes one shard's records to its database; returns the seconds it took."""
    name, path = job
    started = time.perf_counter()
    writer = XapianWriter(Path(path))
    for n, record in enumerate(TO_WRITE[name], 1):
        writer.add_record(record)
        if n % COMMIT_EVERY == 0:
            writer.commit()
    writer.commit()
    writer.close()
    return time.perf_counter() - started


def build(records: list[dict[str, Any]], work: Path) -> tuple[Cluster, Path, dict[str, float]]:
    """Places and writes the shards (two processes), merges them into one database; returns the cluster,
    the merged database and the timings."""
    specs = [ShardSpec(f"s{k}", work / "shards" / f"s{k}", port=free_port()) for k in range(SHARDS)]
    cluster = Cluster(work / "cluster.json", specs)
    items: Counter[str] = Counter()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    # In the order the sync meets them (by paper path, so a council's papers come together), not in the
    # re-sampled order, where every council first appears among the first few hundred items.
    for record in sorted(records, key=lambda r: str(r["doc_id"])):
        owner = cluster.place(str(record["council"]), items)
        items[owner] += 1
        groups[owner].append(record)
    cluster.save()
    (work / "shards").mkdir(parents=True)
    TO_WRITE.update(groups)
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(write_shard, [(s.name, str(s.path)) for s in specs], chunksize=1)
    shards_s = time.perf_counter() - started
    # As the README says after a build from scratch: documents arriving in hashed-number order leave the
    # B-tree blocks half full (8 GB a shard at 1M items, 3.3 GB compacted; docs/performance.md).
    started = time.perf_counter()
    for spec in specs:
        packed = spec.path.with_name(spec.path.name + ".compact")
        subprocess.run(
            ["xapian-compact", "--no-renumber", str(spec.path), str(packed)], check=True, capture_output=True
        )
        shutil.rmtree(spec.path)
        packed.rename(spec.path)
    shard_compact_s = time.perf_counter() - started
    started = time.perf_counter()
    merged = work / "local"
    subprocess.run(["xapian-compact", *(str(s.path) for s in specs), str(merged)], check=True, capture_output=True)
    compact_s = time.perf_counter() - started
    print(f"items per shard: {dict(items)}", flush=True)
    return cluster, merged, {"shards_s": shards_s, "shard_compact_s": shard_compact_s, "compact_s": compact_s}


def write_vectors(records: list[tuple[str, str, str]], real_index: Path, index_dir: Path) -> float:
    """Writes meaning vectors for the items (each its real item's id, its own id and its paper), as a
    generation of index_dir the web server maps; returns the seconds it took. Each item's vectors are its
    real item's mixed with another real passage and noise (scripts/benchmark_meaning.py), so the items
    nearest a query are as spread as real ones would be."""
    import numpy as np
    from benchmark_meaning import mixed

    from indexer.store import current_generation
    from indexer.vectors import ItemVectors

    started = time.perf_counter()
    real = ItemVectors.load(current_generation(real_index))
    row_of = {str(item_id): row for row, item_id in enumerate(real.ids)}
    base = np.array([row_of[real_id] for real_id, _, _ in records])
    counts = real.counts[base]
    starts = real.starts()[base]
    rows = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    rng = np.random.default_rng(7)
    partners = np.repeat(rng.integers(0, len(real.passages), base.size), counts)
    weights = np.repeat(rng.uniform(0.5, 0.9, base.size).astype(np.float32), counts)
    keep = np.repeat([real_id == item_id for real_id, item_id, _ in records], counts)  # real items keep their own
    source = np.asarray(real.passages)
    passages = np.empty((rows.size, source.shape[1]), dtype=np.float16)
    for start in range(0, rows.size, 500_000):
        part = slice(start, start + 500_000)
        moved = mixed(source[rows[part]], source[partners[part]], weights[part], rng)
        passages[part] = np.where(keep[part, None], source[rows[part]], moved)
    firsts = np.cumsum(counts) - counts
    vectors = ItemVectors(
        [item_id for _, item_id, _ in records],
        [doc_id for _, _, doc_id in records],
        passages[firsts].astype(np.float32),
        counts,
        passages,
    )
    generation = index_dir / "gen-000001"
    generation.mkdir(parents=True)
    vectors.save(generation)
    (index_dir / "CURRENT").write_text(generation.name, encoding="utf-8")
    return time.perf_counter() - started


def product_runner(shards: list[Shard], index_dir: Path) -> Any:
    from werkzeug.datastructures import MultiDict

    from search_app.params import parse_search_args
    from search_app.xapian_service import XapianIndex

    index = XapianIndex(shards, index_dir)
    return lambda params: index.search(parse_search_args(MultiDict(params)))


def two_word_runner(shards: list[Shard], index_dir: Path) -> Any:
    from search_app.results import SearchRequest
    from search_app.xapian_service import XapianIndex

    index = XapianIndex(shards, index_dir)
    return lambda params: index.search(SearchRequest(q=params["q"]))


def worker_memory_mb(where: dict[str, str]) -> tuple[float, float]:
    """Returns the memory (MB) of a fresh process that has searched with the query set twice, opened as
    `cpsearch serve` opens its index (`where`: "index", and "cluster" for the Xapian backend): its own
    (anonymous) pages, and the file pages it has mapped (shared by every worker). Read from /proc: a peak
    from getrusage would include the pages of the benchmark it was forked from."""
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/scripts'];"
        "import benchmark as bench, json; from pathlib import Path;"
        "from werkzeug.datastructures import MultiDict; from search_app.params import parse_search_args;"
        "from search_app.server import one_thread_each; one_thread_each();"
        "where = json.loads(sys.argv[2]);"
        "from search_app.xapian_service import open_cluster; from search_app.service import SearchIndex;"
        "index = open_cluster(Path(where['cluster']), Path(where['index'])) if 'cluster' in where"
        " else SearchIndex(Path(where['index']));"
        "index.warm();"
        "[index.search(parse_search_args(MultiDict(p))) for _ in range(2) for p in bench.QUERIES];"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'));"
        "print(int(status['RssAnon'].split()[0]) / 1024, int(status['RssFile'].split()[0]) / 1024)"
    )
    argv = [sys.executable, "-c", code, str(ROOT), json.dumps(where)]
    found = subprocess.run(argv, capture_output=True, text=True)
    if found.returncode:
        raise RuntimeError(f"the memory probe failed: {found.stderr.strip()[-2000:]}")
    own, mapped = found.stdout.strip().splitlines()[-1].split()
    return float(own), float(mapped)


def build_whoosh(work: Path, records: list[dict[str, Any]]) -> None:
    """Builds the product's default index (Whoosh) from the same re-sampled items in work/whoosh, as
    scripts/benchmark.py does (the writer in a child process, its peak memory taken), with their vectors;
    kept as the shards are, so a later run with the same --work measures it again."""
    index_dir = work / "whoosh"
    if (work / "whoosh-built.json").exists():
        return
    shutil.rmtree(index_dir, ignore_errors=True)
    print(f"building the Whoosh index of the same {len(records):,} items ...", flush=True)
    seconds, peak = bench.whoosh_built(records, index_dir)
    vectors_s = bench.write_vectors(records, work / "real", index_dir)
    timings = {"build_s": seconds, "peak_mb": peak, "vectors_s": vectors_s}
    (work / "whoosh-built.json").write_text(json.dumps(timings), encoding="utf-8")


def whoosh_lines(work: Path, rounds: int) -> list[str]:
    """Returns the Whoosh index's figures: build seconds and peak memory, disk, query p50/p95/p99 and the
    two-word p95 in this process (warm, as a server worker searches), HTTP with 8 clients through
    `cpsearch serve`, and a fresh worker's memory."""
    index_dir = work / "whoosh"
    timings = json.loads((work / "whoosh-built.json").read_text(encoding="utf-8"))
    lines = [
        f"Whoosh (the embedded default): writing {timings['build_s']:.0f} s (peak {timings['peak_mb']:.0f} MB a"
        " process, the records the forked writer inherits included), its vectors"
        f" {timings['vectors_s']:.0f} s; disk {bench.dir_mb(index_dir):.0f} MB.",
        "",
        "| database | query p50 / p95 / p99 ms | two-word + 5 facets p95 ms |",
        "| --- | --- | --- |",
        row("Whoosh", bench.product_runner(index_dir), bench.two_word_runner(index_dir), rounds),
    ]
    print("\n".join(lines), flush=True)
    p50, p95, p99 = bench.percentiles(bench.http_latencies(index_dir, 8, rounds))
    own, mapped = worker_memory_mb({"index": str(index_dir)})
    lines += [
        f"\nHTTP, 8 clients, Whoosh: p50 / p95 / p99 {p50:.0f} / {p95:.0f} / {p99:.0f} ms.",
        f"A fresh process after searching the Whoosh index: {own:.0f} MB of its own, {mapped:.0f} MB of mapped files.",
    ]
    print("\n".join(lines[-2:]), flush=True)
    return lines


def same_records(work: Path, size: int) -> list[dict[str, Any]]:
    """Returns the re-sampled items again: the real corpus's records in work/real, re-sampled with the same
    seed as the shards were written from."""
    from indexer.store import open_index

    reader = open_index(work / "real")
    try:
        real = [dict(fields) for fields in reader.stored_records()]
    finally:
        reader.close()
    return bench.scaled_records(real, size)


def peer_rows(work: Path, records: list[dict[str, Any]], rounds: int) -> list[str]:
    """Builds SQLite FTS5 and tantivy from the same re-sampled items and returns their table rows: build
    seconds, disk, query p50/p95/p99 and the two-word query's p95, each with the facet counts the peers can
    give. The records are emptied once the peers are built (gigabytes at 1M items)."""
    peers = work / "peers"
    shutil.rmtree(peers, ignore_errors=True)
    peers.mkdir()
    print("building SQLite FTS5 and tantivy from the same items ...", flush=True)
    fts5_s = bench.build_fts5(records, peers / "fts5.db")
    tantivy_index, tantivy_s = bench.build_tantivy(records, peers / "tantivy")
    del records[:]
    lines = []
    for name, seconds, path, run in (
        ("SQLite FTS5", fts5_s, peers / "fts5.db", bench.fts5_runner(peers / "fts5.db")),
        ("tantivy", tantivy_s, peers / "tantivy", bench.tantivy_runner(tantivy_index)),
    ):
        p50, p95, p99 = bench.percentiles(bench.time_queries(run, rounds))
        two_p95 = bench.percentiles(bench.time_queries_subset(run, rounds))[1]
        disk = path.stat().st_size / 2**20 if path.is_file() else bench.dir_mb(path)
        lines.append(f"| {name} | {seconds:.0f} | {disk:.0f} | {p50:.1f} / {p95:.1f} / {p99:.1f} | {two_p95:.1f} |")
        print(lines[-1], flush=True)
    return lines


def row(name: str, run: Any, two: Any, rounds: int) -> str:
    """Returns one table row: query p50/p95/p99 and the two-word p95 with five facets."""
    p50, p95, p99 = bench.percentiles(bench.time_queries(run, rounds))
    two_p95 = bench.percentiles(bench.time_queries_subset(two, rounds))[1]
    return f"| {name} | {p50:.1f} / {p95:.1f} / {p99:.1f} | {two_p95:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, help="an index's cache/ folder to reuse for the real corpus's build")
    parser.add_argument(
        "--work", type=Path, help="build here and keep it; a later run with the same --work measures it again"
    )
    parser.add_argument(
        "--peers", action="store_true", help="also build and measure SQLite FTS5 and tantivy on the same items, last"
    )
    parser.add_argument(
        "--whoosh",
        action="store_true",
        help="also build (once, in --work) and measure the product's default index, Whoosh, on the same items",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cps-xapian-bench-"))
    servers: list[subprocess.Popen[bytes]] = []
    index_dir = work / "index"
    try:
        built = (work / "built.json").exists()
        if not built:
            work.mkdir(parents=True, exist_ok=True)
            real, _ = bench.real_records(work, args.cache, cost=False)
            records = bench.scaled_records(real, args.size)
            mark_canonical(records)
            print(f"writing {args.size:,} items to {SHARDS} shards ...", flush=True)
            _, merged, timings = build(records, work)
            TO_WRITE.clear()
            slim = [(str(r["_base"]), str(r["id"]), str(r["doc_id"])) for r in records]
            del records[:]  # the texts: gigabytes at 1M items
            print("writing their meaning vectors ...", flush=True)
            timings["vectors_s"] = write_vectors(slim, work / "real", index_dir)
            (work / "built.json").write_text(json.dumps(timings), encoding="utf-8")
        timings = json.loads((work / "built.json").read_text(encoding="utf-8"))
        # Searched in this process as a server worker searches: numeric libraries on one thread each.
        one_thread_each()
        cluster = load_cluster(work / "cluster.json")
        merged = work / "local"
        shard_mb = [bench.dir_mb(s.path) for s in cluster.shards]
        servers = start_servers(cluster)
        local = [Shard("local", path=merged)]
        served = [spec.served() for spec in cluster.shards]
        lines = [
            f"{args.size:,} items on {bench.machine()}.",
            f"Writing the {SHARDS} shards (2 processes): {timings['shards_s']:.0f} s; compacting them: "
            f"{timings.get('shard_compact_s', 0):.0f} s; merging them into one "
            f"database (xapian-compact): {timings['compact_s']:.0f} s; the vectors and their nearest-neighbour "
            f"index: {timings['vectors_s']:.0f} s. Disk: one database {bench.dir_mb(merged):.0f} MB; shards "
            f"{', '.join(f'{mb:.0f}' for mb in shard_mb)} MB; vectors {bench.dir_mb(index_dir):.0f} MB.",
            "",
            "| database | query p50 / p95 / p99 ms | two-word + 5 facets p95 ms |",
            "| --- | --- | --- |",
            row("one local database", product_runner(local, index_dir), two_word_runner(local, index_dir), args.rounds),
            row(
                f"{SHARDS} shards on loopback",
                product_runner(served, index_dir),
                two_word_runner(served, index_dir),
                args.rounds,
            ),
        ]
        print("\n".join(lines), flush=True)
        serve_args = ["--backend", "xapian", "--cluster", str(cluster.file), "--index", str(index_dir)]
        http = bench.http_latencies(work, 8, args.rounds, serve_args)
        p50, p95, p99 = bench.percentiles(http)
        lines.append(f"\nHTTP, 8 clients, {SHARDS} shards: p50 / p95 / p99 {p50:.0f} / {p95:.0f} / {p99:.0f} ms.")
        own, mapped = worker_memory_mb({"index": str(index_dir), "cluster": str(cluster.file)})
        lines.append(
            f"A fresh process after searching the shards: {own:.0f} MB of its own, {mapped:.0f} MB of mapped files."
        )
        print("\n".join(lines[-2:]), flush=True)
        if args.whoosh or args.peers:
            stop_servers(servers)  # the shards' servers are not measured again; their memory goes to the rest
            servers = []
            wanted = args.peers or not (work / "whoosh-built.json").exists()
            records = same_records(work, args.size) if wanted else []
            if args.whoosh:
                build_whoosh(work, records)
            if args.peers:
                print("\n| peer | build s | disk MB | query p50 / p95 / p99 ms | two-word + facets p95 ms |")
                print("| --- | --- | --- | --- | --- |")
                peer_rows(work, records, args.rounds)  # measured once the records are let go
            del records[:]
            if args.whoosh:
                print()
                whoosh_lines(work, args.rounds)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this benchmark process peaked at {peak:.0f} MB, holding every record while writing)")
    finally:
        stop_servers(servers)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
