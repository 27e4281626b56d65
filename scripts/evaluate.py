"""Relevance on the judged queries: nDCG@10, MRR and recall@20 for the product and a plain BM25 baseline.

The baseline is SQLite FTS5 (porter tokenizer, bm25 ranking) over exactly the same agenda items,
read from the product's index, with the words typed ANDed together.

Example: .venv/bin/python scripts/evaluate.py            (uses var/index, or builds one from corpus/)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.build import build_index  # noqa: E402
from indexer.store import current_generation, open_index  # noqa: E402
from search_app.search import SearchIndex, SearchRequest  # noqa: E402

JUDGMENTS = ROOT / "tests" / "data" / "judgments.json"
DEPTH = 20


@dataclass
class Result:
    """A ranked result as judged: the item's title and every paper it appears in."""

    title: str
    sources: list[str]


Ranker = Callable[[str], list[Result]]


def grade_of(result: Result, rules: list[dict], used: set[int]) -> int:
    """Returns the best grade of a judgment the result satisfies and has not been credited yet."""
    best, best_rule = 0, None
    for k, rule in enumerate(rules):
        if k in used or rule["grade"] <= best:
            continue
        title_ok = "title" not in rule or rule["title"].lower() in result.title.lower()
        if title_ok and any(fnmatch(source, rule["source"]) for source in result.sources):
            best, best_rule = rule["grade"], k
    if best_rule is not None:
        used.add(best_rule)
    return best


def score_query(results: list[Result], rules: list[dict]) -> dict[str, float]:
    """Returns nDCG@10, reciprocal rank (grade 2 or more) and recall@20 of one ranked list."""
    used: set[int] = set()
    grades = [grade_of(r, rules, used) for r in results[:DEPTH]]
    dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:10]))
    ideal = sorted((rule["grade"] for rule in rules), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(grades) if g >= 2), None)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "mrr": 1 / (first + 1) if first is not None else 0.0,
        "recall@20": len(used) / len(rules),
    }


def product_ranker(index_dir: Path) -> Ranker:
    """Returns the product's search as a ranker."""
    index = SearchIndex(index_dir)

    def rank(query: str) -> list[Result]:
        hits = index.search(SearchRequest(q=query, per_page=DEPTH)).hits
        return [Result(h.item_title, [h.source, *(o["source"] for o in h.other_sources)]) for h in hits]

    return rank


def baseline_ranker(index_dir: Path) -> Ranker:
    """Returns SQLite FTS5 bm25 over the same items as a ranker."""
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE items USING fts5(title, item_title, body, source UNINDEXED, tokenize='porter unicode61')"
    )
    with open_index(index_dir).searcher() as searcher:
        rows = [(f["title"], f["item_title"], f["body"], f["source"]) for f in searcher.all_stored_fields()]
    db.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)

    def rank(query: str) -> list[Result]:
        words = re.findall(r"[A-Za-z0-9]+", query)
        if not words:
            return []
        match = " ".join(f'"{w}"' for w in words)
        found = db.execute(
            "SELECT item_title, source FROM items WHERE items MATCH ? ORDER BY bm25(items) LIMIT ?", (match, DEPTH)
        ).fetchall()
        return [Result(title, [source]) for title, source in found]

    return rank


def evaluate(ranker: Ranker, queries: Iterable[dict]) -> dict[str, dict[str, float]]:
    """Returns mean metrics over all queries and per user group."""
    groups: dict[str, list[dict[str, float]]] = {}
    for entry in queries:
        scores = score_query(ranker(entry["query"]), entry["relevant"])
        for group in ("all", entry["user"]):
            groups.setdefault(group, []).append(scores)
    return {
        group: {metric: sum(s[metric] for s in scores) / len(scores) for metric in scores[0]}
        for group, scores in groups.items()
    }


def ensure_index(index_dir: Path | None) -> Path:
    """Returns an index directory, building one from corpus/ when none is given or found."""
    if index_dir and current_generation(index_dir):
        return index_dir
    target = Path(tempfile.mkdtemp(prefix="cps-eval-"))
    build_index(ROOT / "corpus", target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=ROOT / "var" / "index")
    args = parser.parse_args()
    index_dir = ensure_index(args.index)
    queries = json.loads(JUDGMENTS.read_text(encoding="utf-8"))["queries"]
    systems = {
        "Council Papers Search": product_ranker(index_dir),
        "BM25 baseline (SQLite FTS5)": baseline_ranker(index_dir),
    }
    results = {name: evaluate(ranker, queries) for name, ranker in systems.items()}
    print(f"{len(queries)} judged queries, {sum(len(q['relevant']) for q in queries)} judgments")
    print(f"{'system':32} {'group':12} {'nDCG@10':>8} {'MRR':>7} {'recall@20':>10}")
    for name, by_group in results.items():
        for group in ("all", "officer", "researcher", "councillor"):
            m = by_group.get(group)
            if m:
                print(f"{name:32} {group:12} {m['ndcg@10']:8.3f} {m['mrr']:7.3f} {m['recall@20']:10.3f}")


if __name__ == "__main__":
    main()
