"""Relevance on the judged queries: nDCG@10, MRR and recall@20 for the product and a plain BM25 baseline.

The baseline is SQLite FTS5 (porter tokenizer, bm25 ranking) over exactly the same agenda items,
read from the product's index, with the words typed ANDed together.

Example: .venv/bin/python scripts/evaluate.py            (uses var/index, or builds one from corpus/)
         .venv/bin/python scripts/evaluate.py --xapian --blind   (the Xapian backend against the Whoosh one)
"""

from __future__ import annotations

import argparse
import functools
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
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.build import build_index  # noqa: E402
from indexer.records import duplicate_key  # noqa: E402
from indexer.store import current_generation, open_index  # noqa: E402
from search_app.pipeline import run_search  # noqa: E402
from search_app.results import SearchRequest  # noqa: E402
from search_app.service import SearchIndex  # noqa: E402

if TYPE_CHECKING:
    from search_app.xapian_service import XapianIndex

JUDGMENTS = ROOT / "tests" / "data" / "judgments.json"
BLIND_QUERIES = ROOT / "tests" / "data" / "blind_queries.json"
BLIND_JUDGMENTS = ROOT / "tests" / "data" / "blind_judgments.json"
BY_USER = ("all", "officer", "researcher", "councillor")
BY_KIND = ("all", "specific", "general")
# Queries typing a council's place name ("Croydon placement sufficiency strategy"), marked names_council.
COUNCIL_NAMED = "names a council"


def judged_set(option: str, heading: str, groups: tuple[str, ...]) -> tuple[str, str, Path, Path, tuple[str, ...]]:
    """Returns a judged set's option, heading, queries and judgments files (tests/data/OPTION_*.json), groups."""
    data = ROOT / "tests" / "data"
    return option, heading, data / f"{option}_queries.json", data / f"{option}_judgments.json", groups


# The judged sets written before searching, judged blind from pools: option, heading, files, query groups.
JUDGED_SETS = (
    judged_set("blind", "blind set", BY_USER),
    judged_set("heldout", "held-out set", BY_USER),
    judged_set("heldout2", "second held-out set (issue 22)", BY_KIND),
    judged_set("heldout3", "third held-out set (issue 22)", BY_KIND),
    judged_set("heldout4", "fourth held-out set (issue 22)", BY_KIND),
    judged_set("heldout5", "fifth held-out set (issue 22)", BY_KIND),
    judged_set("heldout6", "sixth held-out set (issue 22)", BY_KIND),
    judged_set("heldout7", "seventh held-out set (issue 22)", BY_KIND),
    judged_set("heldout8", "eighth held-out set (issue 22)", BY_KIND),
    judged_set("heldout9", "ninth held-out set (issue 22)", BY_KIND),
    judged_set("heldout10", "tenth held-out set (issue 22)", BY_KIND),
    judged_set("heldout11", "eleventh held-out set (issue 22)", BY_KIND),
    judged_set("heldout12", "twelfth held-out set (issue 22)", BY_KIND),
    judged_set("heldout13", "thirteenth held-out set (issue 22)", BY_KIND),
    judged_set("heldout14", "fourteenth held-out set (issue 22)", BY_KIND),
    judged_set("heldout15", "fifteenth held-out set (issue 22)", BY_KIND),
    judged_set("heldout16", "sixteenth held-out set (issue 22)", (*BY_KIND, COUNCIL_NAMED)),
    judged_set("heldout17", "seventeenth held-out set (issue 22, the test set)", (*BY_KIND, COUNCIL_NAMED)),
)
METRICS = ("ndcg@10", "mrr", "p@1", "recall@20")
# A ranked list of items, each as its item id followed by the ids of its copies in other papers.
IdRanker = Callable[[str], list[list[str]]]
DEPTH = 20
# Words in a window of the passage baseline (SQLite FTS5 over 250-word windows, as issue 22 measured it).
WINDOW = 250


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
    """Returns nDCG@10, reciprocal rank and precision at 1 (grade 2 or more) and recall@20 of one ranked list."""
    used: set[int] = set()
    grades = [grade_of(r, rules, used) for r in results[:DEPTH]]
    dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:10]))
    ideal = sorted((rule["grade"] for rule in rules), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(grades) if g >= 2), None)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "mrr": 1 / (first + 1) if first is not None else 0.0,
        "p@1": 1.0 if grades and grades[0] >= 2 else 0.0,
        "recall@20": len(used) / len(rules),
    }


def titles_of(index: SearchIndex | XapianIndex) -> Ranker:
    """Returns a backend's search as a ranker of titles and papers."""

    def rank(query: str) -> list[Result]:
        hits = index.search(SearchRequest(q=query, per_page=DEPTH)).hits
        return [Result(h.item_title, [h.source, *(o["source"] for o in h.other_sources)]) for h in hits]

    return rank


def ids_of(index: SearchIndex | XapianIndex, semantic: bool = True) -> IdRanker:
    """Returns a backend's search as a ranker of item ids (each result with its copies)."""

    def rank(query: str) -> list[list[str]]:
        hits = index.search(SearchRequest(q=query, per_page=DEPTH, semantic=semantic)).hits
        return [[h.id, *(o["id"] for o in h.other_sources)] for h in hits]

    return rank


def without_council_lift_ids(index_dir: Path) -> IdRanker:
    """Returns the product's search with no council lift (SearchIndex.search less its councils_typed step): the
    sixteenth set was pooled from it, and its twelve queries naming a council measure the lift against it."""
    index = SearchIndex(index_dir)

    def rank(query: str) -> list[list[str]]:
        request = SearchRequest(q=query, per_page=DEPTH)
        hits = run_search(index.terms(), request, index.speller, index.meaning).hits
        return [[h.id, *(o["id"] for o in h.other_sources)] for h in hits]

    return rank


def product_ranker(index_dir: Path) -> Ranker:
    """Returns the product's search as a ranker."""
    return titles_of(SearchIndex(index_dir))


def fts5_items(index_dir: Path) -> sqlite3.Connection:
    """Returns an in-memory SQLite FTS5 table (porter stemming) of the index's items, with source and id."""
    db = sqlite3.connect(":memory:")
    columns = "title, item_title, body, source UNINDEXED, id UNINDEXED, tokenize='porter unicode61'"
    db.execute(f"CREATE VIRTUAL TABLE items USING fts5({columns})")
    reader = open_index(index_dir)
    rows = [(f["title"], f["item_title"], f["body"], f["source"], f["id"]) for f in reader.stored_records()]
    reader.close()
    db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", rows)
    return db


def fts5_match(query: str, joiner: str) -> str:
    """Returns the typed words as an FTS5 query, each word quoted, joined by ' ' (AND) or ' OR '."""
    return joiner.join(f'"{w}"' for w in re.findall(r"[A-Za-z0-9]+", query))


def baseline_ranker(index_dir: Path) -> Ranker:
    """Returns SQLite FTS5 bm25 over the same items as a ranker."""
    db = fts5_items(index_dir)

    def rank(query: str) -> list[Result]:
        match = fts5_match(query, " ")
        if not match:
            return []
        found = db.execute(
            "SELECT item_title, source FROM items WHERE items MATCH ? ORDER BY bm25(items) LIMIT ?", (match, DEPTH)
        ).fetchall()
        return [Result(title, [source]) for title, source in found]

    return rank


def product_ids(index_dir: Path, semantic: bool = True) -> IdRanker:
    """Returns the product's search as a ranker of item ids (each result with its copies)."""
    return ids_of(SearchIndex(index_dir), semantic)


def baseline_or_ids(index_dir: Path) -> IdRanker:
    """Returns SQLite FTS5 bm25 with the words ORed (porter stemming) over the same items."""
    db = fts5_items(index_dir)

    def rank(query: str) -> list[list[str]]:
        match = fts5_match(query, " OR ")
        if not match:
            return []
        found = db.execute("SELECT id FROM items WHERE items MATCH ? ORDER BY bm25(items) LIMIT ?", (match, DEPTH))
        return [[item_id] for (item_id,) in found.fetchall()]

    return rank


def window_items(index_dir: Path) -> sqlite3.Connection:
    """Returns an in-memory FTS5 table (porter stemming) of every item's text cut into windows of WINDOW words."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE windows USING fts5(text, id UNINDEXED, tokenize='porter unicode61')")
    reader = open_index(index_dir)
    rows = []
    for f in reader.stored_records():
        words = f"{f['title']} {f['item_title']} {f['body']}".split()
        rows += [(" ".join(words[s : s + WINDOW]), f["id"]) for s in range(0, len(words), WINDOW)]
    reader.close()
    db.executemany("INSERT INTO windows VALUES (?, ?)", rows)
    return db


def baseline_window_ids(index_dir: Path) -> IdRanker:
    """Returns SQLite FTS5 bm25 with the words ORed over windows of WINDOW words, each item at its best window's
    place: the baseline the issue measured (a rare word's paragraph ranks first, whatever the item's length)."""
    db = window_items(index_dir)

    def rank(query: str) -> list[list[str]]:
        match = fts5_match(query, " OR ")
        if not match:
            return []
        found = db.execute("SELECT id FROM windows WHERE windows MATCH ? ORDER BY bm25(windows)", (match,))
        ids = list(dict.fromkeys(item_id for (item_id,) in found))
        return [[item_id] for item_id in ids[:DEPTH]]

    return rank


def embedding_ids(index_dir: Path) -> IdRanker:
    """Returns the embedding ranking alone: the items nearest the query's vector, over every item."""
    from indexer.embeddings import query_vector
    from indexer.vectors import ItemVectors

    vectors = ItemVectors.load(current_generation(index_dir))

    def rank(query: str) -> list[list[str]]:
        similarity = vectors.matrix @ query_vector(query)
        return [[vectors.ids[i]] for i in (-similarity).argsort()[:DEPTH]]

    return rank


@functools.cache
def xapian_index(index_dir: Path) -> XapianIndex:
    """Returns the Xapian backend over the index's items: written to one local database (as `cpsearch cluster
    sync` writes a shard; on shards the order is the same, tests/test_cluster.py), with the index's vectors."""
    from indexer.cluster import Cluster, ShardSpec, papers_of, sync_cluster
    from indexer.xapian_backend import Shard
    from search_app.xapian_service import XapianIndex

    root = Path(tempfile.mkdtemp(prefix="cps-eval-xapian-"))
    reader = open_index(index_dir)
    sync_cluster(Cluster(root / "cluster.json", [ShardSpec("s0", root / "s0")]), papers_of(reader))
    reader.close()
    return XapianIndex([Shard("s0", path=root / "s0")], index_dir)


def xapian_ids(index_dir: Path) -> IdRanker:
    """Returns the Xapian backend's search as a ranker of item ids (each result with its copies)."""
    return ids_of(xapian_index(index_dir))


def xapian_ranker(index_dir: Path) -> Ranker:
    """Returns the Xapian backend's search as a ranker."""
    return titles_of(xapian_index(index_dir))


def backends_compared(index_dir: Path) -> dict[str, IdRanker]:
    """Returns the product on each backend (issue 21: the Xapian backend ranks within 0.03 nDCG@10 of Whoosh)."""
    return {
        "Council Papers Search": product_ids(index_dir),
        "  without meaning matching": product_ids(index_dir, semantic=False),
        "Xapian backend": xapian_ids(index_dir),
    }


def systems_for_blind(index_dir: Path) -> dict[str, IdRanker]:
    """Returns the systems pooled and compared on the blind set."""
    return {
        "Council Papers Search": product_ids(index_dir),
        "  without meaning matching": product_ids(index_dir, semantic=False),
        "  without the council lift": without_council_lift_ids(index_dir),
        "BM25 baseline (FTS5, words ORed)": baseline_or_ids(index_dir),
        "BM25 over 250-word windows": baseline_window_ids(index_dir),
        "Embedding ranking alone": embedding_ids(index_dir),
    }


def item_groups(index_dir: Path) -> dict[str, str]:
    """Returns item id -> the key its copies share (same council, date and title), as the product folds them."""
    reader = open_index(index_dir)
    groups = {
        f["id"]: duplicate_key(f["council"], f.get("date") and f["date"].date(), f["item_title"], f["id"])
        for f in reader.stored_records()
    }
    reader.close()
    return groups


def score_ids(results: list[list[str]], grades: dict[str, int], groups: dict[str, str]) -> dict[str, float]:
    """Returns nDCG@10, MRR and precision at 1 (grade 2 or more) and recall@20 of a ranked id list, each
    item credited once.

    An item's grade is the best any of its judged copies got; a copy shown again earns nothing.
    """
    best: dict[str, int] = {}
    for item_id, grade in grades.items():
        group = groups.get(item_id, item_id)
        best[group] = max(best.get(group, 0), grade)
    credited: set[str] = set()
    gains = []
    for ids in results[:DEPTH]:
        mine = {groups.get(i, i) for i in ids}
        gains.append(max((best.get(g, 0) for g in mine - credited), default=0))
        credited |= mine
    relevant = {g for g, grade in best.items() if grade > 0}
    dcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sorted(best.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(gains) if g >= 2), None)
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "mrr": 1 / (first + 1) if first is not None else 0.0,
        "p@1": 1.0 if gains and gains[0] >= 2 else 0.0,
        "recall@20": len(relevant & credited) / len(relevant) if relevant else 0.0,
    }


def evaluate_blind(
    index_dir: Path,
    queries_file: Path = BLIND_QUERIES,
    judgments_file: Path = BLIND_JUDGMENTS,
    systems: Callable[[Path], dict[str, IdRanker]] = systems_for_blind,
) -> dict[str, dict[str, dict[str, float]]]:
    """Returns per system the mean metrics on a blind set, overall and per user group, and per query."""
    queries = json.loads(queries_file.read_text(encoding="utf-8"))["queries"]
    judged = json.loads(judgments_file.read_text(encoding="utf-8"))["judgments"]
    groups = item_groups(index_dir)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, ranker in systems(index_dir).items():
        per_group: dict[str, list[dict[str, float]]] = {}
        for entry in queries:
            if entry["id"] not in judged:
                continue
            scores = score_ids(ranker(entry["q"]), judged[entry["id"]], groups)
            kind = ["specific"] if entry.get("specific") else ["general"] if "specific" in entry else []
            kind += [COUNCIL_NAMED] if entry.get("names_council") else []
            for group in ("all", entry["user"], *kind, entry["id"]):
                per_group.setdefault(group, []).append(scores)
        out[name] = {
            group: {metric: sum(s[metric] for s in scores) / len(scores) for metric in scores[0]}
            for group, scores in per_group.items()
        }
    return out


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
    for option, heading, _, judgments, _ in JUDGED_SETS:
        parser.add_argument(f"--{option}", action="store_true", help=f"Also the {heading} ({judgments.name}).")
    parser.add_argument(
        "--xapian", action="store_true", help="Compare the Xapian backend with the Whoosh one on the chosen sets."
    )
    parser.add_argument("--per-query", type=Path, help="Write every system's figures per query to this JSON file.")
    args = parser.parse_args()
    index_dir = ensure_index(args.index)
    systems = backends_compared if args.xapian else systems_for_blind
    per_query: dict[str, object] = {}
    for option, heading, queries_file, judgments_file, groups in JUDGED_SETS:
        if getattr(args, option):
            judged = json.loads(judgments_file.read_text(encoding="utf-8"))["judgments"]
            # MRR and P@1 count an item graded 2 or more; a query with none scores 0 in every system.
            answered = sum(max(grades.values(), default=0) >= 2 for grades in judged.values())
            print(
                f"{heading}: {len(judged)} judged queries with a relevant item, {answered} with one graded 2 or more"
                f" (the most MRR can be: {answered / max(len(judged), 1):.3f})"
            )
            per_query[option] = evaluate_blind(index_dir, queries_file, judgments_file, systems)
            print_table(per_query[option], groups)  # type: ignore[arg-type]
    if args.per_query:
        args.per_query.write_text(json.dumps(per_query, indent=1), encoding="utf-8")
    queries = json.loads(JUDGMENTS.read_text(encoding="utf-8"))["queries"]
    rankers = {"Council Papers Search": product_ranker(index_dir)}
    if args.xapian:
        rankers["Xapian backend"] = xapian_ranker(index_dir)
    else:
        rankers["BM25 baseline (SQLite FTS5)"] = baseline_ranker(index_dir)
    print(f"{len(queries)} judged queries, {sum(len(q['relevant']) for q in queries)} judgments")
    print_table({name: evaluate(ranker, queries) for name, ranker in rankers.items()})


def print_table(
    results: dict[str, dict[str, dict[str, float]]],
    groups: tuple[str, ...] = BY_USER,
) -> None:
    """Prints each system's metrics overall and per group of queries."""
    print(f"{'system':34} {'group':12} {'nDCG@10':>8} {'MRR':>7} {'P@1':>6} {'recall@20':>10}")
    for name, by_group in results.items():
        for group in groups:
            m = by_group.get(group)
            if m:
                print(
                    f"{name:34} {group:12} {m['ndcg@10']:8.3f} {m['mrr']:7.3f} {m['p@1']:6.3f} {m['recall@20']:10.3f}"
                )


if __name__ == "__main__":
    main()
