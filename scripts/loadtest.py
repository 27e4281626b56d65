"""Load test on loopback: many clients search the production server while full re-indexes run.

Starts `cpsearch serve` (gunicorn) on 127.0.0.1, works out every query's answer single-threaded,
then runs N client threads for a bounded time while `cpsearch index --full` rebuilds the same index
in a loop. Prints throughput, p50/p95/p99 latency, errors and wrong answers (responses that differ
from the single-threaded ones). Exits non-zero if there was any error or wrong answer.

Example: .venv/bin/python scripts/loadtest.py --clients 20 --seconds 60
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
CPSEARCH = [sys.executable, "-c", "from search_app.cli import main; main()"]
QUERIES = [
    {"q": "Staying Put"},
    {"q": "care leavers"},
    {"q": "care leavers", "council": "kent"},
    {"q": "care leavers", "sort": "date"},
    {"q": "health assessments", "decisions": "1"},
    {"q": "fostering"},
    {"q": "foster carers recruitment"},
    {"q": '"pathway plan"'},
    {"q": "Ofsted inspection"},
    {"q": "missing children"},
    {"q": "unaccompanied asylum seeking children"},
    {"q": "budget", "year": "2025"},
    {"q": "virtual school"},
    {"q": "council tax", "topic": "care-leavers"},
    {"q": "corporate parenting strategy"},
    {"q": "EET"},
    {"q": "mental health CAMHS"},
    {"q": "", "council": "croydon", "sort": "date"},
    {"q": "placements sufficiency", "from": "2020-01-01"},
    {"q": "fost*"},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(conn: http.client.HTTPConnection, params: dict[str, str]) -> tuple[int, dict | None]:
    conn.request("GET", "/api/search?" + urlencode({**params, "per_page": "10"}))
    response = conn.getresponse()
    body = response.read()
    return response.status, json.loads(body) if response.status == 200 else None


def answer_key(data: dict) -> tuple:
    """What must not change between generations: the total, and the top ten by score then id."""
    top = sorted((round(r["score"], 3), r["id"]) for r in data["results"])
    cutoff = top[0][0] if top else 0
    # Items tied with the tenth score may swap in and out at the boundary; compare those by score only.
    return data["total"], [s for s, _ in top], sorted(i for s, i in top if s > cutoff)


def wait_for(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            fetch(conn, {"q": "care"})
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server did not start")


def client_loop(port: int, expected: dict[int, tuple], stop: float, stats: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rng = random.Random()
    while time.monotonic() < stop:
        n = rng.randrange(len(QUERIES))
        started = time.perf_counter()
        try:
            status, data = fetch(conn, QUERIES[n])
        except (OSError, http.client.HTTPException, ValueError) as exc:
            stats["errors"].append(f"{QUERIES[n]}: {exc!r}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        stats["latencies"].append(time.perf_counter() - started)
        if status != 200 or data is None:
            stats["errors"].append(f"{QUERIES[n]}: HTTP {status}")
        elif answer_key(data) != expected[n]:
            stats["wrong"].append(f"{QUERIES[n]}: total {data['total']}, expected {expected[n][0]}")


def reindex_loop(corpus: Path, index_dir: Path, stop: float, runs: list[float]) -> None:
    while time.monotonic() < stop:
        started = time.monotonic()
        shutil.rmtree(index_dir / "cache", ignore_errors=True)  # a real full re-index: extract everything again
        command = CPSEARCH + ["index", "--full", "--corpus", str(corpus), "--index", str(index_dir)]
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        runs.append(time.monotonic() - started)


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker process (default: the server's own)")
    parser.add_argument("--no-reindex", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cps-load-"))
    index_dir = work / "index"
    subprocess.run(
        CPSEARCH + ["index", "--corpus", str(args.corpus), "--index", str(index_dir)], check=True, capture_output=True
    )
    port = free_port()
    server = subprocess.Popen(
        CPSEARCH
        + [
            "serve",
            "--index",
            str(index_dir),
            "--corpus",
            str(args.corpus),
            "--port",
            str(port),
            *(["--threads", str(args.threads)] if args.threads else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        expected = {}
        for n, params in enumerate(QUERIES):
            status, data = fetch(conn, params)
            assert status == 200 and data is not None, (params, status)
            expected[n] = answer_key(data)
        stats: dict = {"latencies": [], "errors": [], "wrong": []}
        runs: list[float] = []
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(port, expected, stop, stats)) for _ in range(args.clients)
        ]
        if not args.no_reindex:
            threads.append(threading.Thread(target=reindex_loop, args=(args.corpus, index_dir, stop, runs)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 660)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    latencies = [x * 1000 for x in stats["latencies"]]
    print(f"clients: {args.clients}, threads per worker: {args.threads}, duration: {elapsed:.0f} s")
    print(f"full re-indexes completed during the run: {len(runs)} ({', '.join(f'{r:.0f} s' for r in runs)})")
    print(f"requests: {len(latencies)}, throughput: {len(latencies) / elapsed:.1f} req/s")
    if latencies:
        p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
        print(f"latency ms: p50 {p50:.0f}, p95 {p95:.0f}, p99 {p99:.0f}, max {max(latencies):.0f}")
    print(f"errors: {len(stats['errors'])}, wrong answers: {len(stats['wrong'])}")
    for line in (stats["errors"] + stats["wrong"])[:10]:
        print("  " + line)
    sys.exit(1 if stats["errors"] or stats["wrong"] else 0)


if __name__ == "__main__":
    main()
