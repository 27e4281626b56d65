"""Pools the top results of the product, the BM25 baseline and the embedding ranking for blind judging.

For each query in tests/data/blind_queries.json the top DEPTH items of each system are merged, copies
of one item counted once, and written in a shuffled order with no word of which system found them.
The judge sees each item's title, council, date and the passages holding the query's words.

Example: .venv/bin/python scripts/pool.py --out var/pool.json
         .venv/bin/python scripts/pool.py --show var/pool.json --query b01
         .venv/bin/python scripts/pool.py --queries tests/data/heldout_queries.json --depth 10 --out var/hpool.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluate import ensure_index, systems_for_blind  # noqa: E402

from indexer.store import open_index  # noqa: E402

QUERIES = ROOT / "tests" / "data" / "blind_queries.json"
DEPTH = 20


def pool(index_dir: Path, queries_file: Path = QUERIES, depth: int = DEPTH) -> dict[str, list[str]]:
    """Returns query id -> shuffled item ids found in any system's top `depth`."""
    queries = json.loads(queries_file.read_text(encoding="utf-8"))["queries"]
    systems = systems_for_blind(index_dir)
    pooled: dict[str, list[str]] = {}
    for entry in queries:
        found: set[str] = set()
        for ranker in systems.values():
            for ids in ranker(entry["q"])[:depth]:
                found.add(ids[0])
        items = sorted(found)
        random.Random(entry["id"]).shuffle(items)
        pooled[entry["id"]] = items
    return pooled


STOP = {"what", "about", "with", "from", "their", "have", "does", "that", "this", "been", "after", "they", "into"}


def best_passage(text: str, query: str, width: int = 170) -> str:
    """Returns the passage of text holding most of the query's distinct words (by their first five letters)."""
    stems = {w[:5] for w in re.findall(r"[a-z]{4,}", query.lower()) if w not in STOP}
    lower = text.lower()
    spots = sorted({m.start() for stem in stems for m in re.finditer(re.escape(stem), lower)})
    if not spots:
        return " ".join(text[:width].split())
    best = max(spots, key=lambda s: sum(stem in lower[max(0, s - 20) : s + width] for stem in stems))
    return " ".join(text[max(0, best - 20) : best + width].split())


def show(index_dir: Path, pool_file: Path, query_id: str, queries_file: Path = QUERIES) -> None:
    """Prints one query's pooled items as the judge sees them: numbered, with no system named."""
    queries = {q["id"]: q for q in json.loads(queries_file.read_text(encoding="utf-8"))["queries"]}
    items = json.loads(pool_file.read_text(encoding="utf-8"))[query_id]
    query = queries[query_id]["q"]
    print(f"## {query_id} ({queries[query_id]['user']}): {query}")
    reader = open_index(index_dir)
    for n, item_id in enumerate(items):
        docnum = reader.docnum_of(item_id)
        fields = reader.stored(docnum) if docnum is not None else {}
        title = fields.get("item_title", "")[:80]
        passage = best_passage(fields.get("body", "") or fields.get("decisions", ""), query)
        print(f"[{n}] {fields.get('council')} {fields.get('date', '')!s:.4} | {title} :: {passage}")
    reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "index")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--show", type=Path)
    parser.add_argument("--query", action="append", default=[])
    parser.add_argument("--queries", type=Path, default=QUERIES, help="the query set (blind_queries.json)")
    parser.add_argument("--depth", type=int, default=DEPTH, help="how many of each system's results are pooled")
    args = parser.parse_args()
    index_dir = ensure_index(args.index)
    if args.out:
        args.out.write_text(json.dumps(pool(index_dir, args.queries, args.depth), indent=1), encoding="utf-8")
        print(f"pooled into {args.out}")
    if args.show:
        for query_id in args.query:
            show(index_dir, args.show, query_id, args.queries)


if __name__ == "__main__":
    main()
