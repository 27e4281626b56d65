"""The relevance gate: the product stays above its pinned floors and above a plain BM25 baseline."""

from __future__ import annotations

import json
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import (  # noqa: E402
    JUDGED_SETS,
    backends_compared,
    baseline_ranker,
    evaluate,
    evaluate_blind,
    item_groups,
    product_ranker,
    xapian_ranker,
)

JUDGMENTS = json.loads((ROOT / "tests" / "data" / "judgments.json").read_text(encoding="utf-8"))
FLOORS = json.loads((ROOT / "tests" / "data" / "relevance_floors.json").read_text(encoding="utf-8"))
pytestmark = pytest.mark.slow


def test_judged_query_set_is_big_enough_and_points_at_real_papers() -> None:
    queries = JUDGMENTS["queries"]
    assert len(queries) >= 40
    assert {q["user"] for q in queries} == {"officer", "researcher", "councillor"}
    papers = [p.relative_to(ROOT / "corpus").as_posix() for p in (ROOT / "corpus").rglob("*") if p.is_file()]
    for query in queries:
        for rule in query["relevant"]:
            assert any(fnmatch(p, rule["source"]) for p in papers), rule["source"]


def test_floors_are_never_lowered_silently() -> None:
    for key in ("floors", "blind_floors"):
        entries = [h for h in FLOORS["history"] if key in h]
        since = max((n for n, h in enumerate(entries) if h.get("lowered_because")), default=0)
        highest = {m: max(h[key][m] for h in entries[since:]) for m in FLOORS[key]}
        assert FLOORS[key] == highest, f"a {key} value is below one recorded in history without a reason"


@pytest.mark.parametrize(
    ("judgments", "at_least"),
    [
        (judgments, at_least)
        for (*_, judgments, _), at_least in zip(
            JUDGED_SETS, (40, 25, 20, 30, 30, 25, 30, 30, 30, 25, 25, 25, 25, 25, 25, 25, 25, 30), strict=True
        )
    ],
)
def test_blind_judgments_name_items_that_exist(full_index: Path, judgments: Path, at_least: int) -> None:
    """Each set keeps the queries it was judged on (those with a relevant item), and every item it names."""
    judged = json.loads(judgments.read_text(encoding="utf-8"))["judgments"]
    assert len(judged) >= at_least
    known = set(item_groups(full_index))
    missing = {item for grades in judged.values() for item in grades} - known
    assert not missing, f"{len(missing)} judged items are not in the index (ids changed?)"


def test_blind_set_stays_above_its_floors(full_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = evaluate_blind(full_index)
    product = results["Council Papers Search"]["all"]
    with capsys.disabled():
        for name, by_group in results.items():
            print(f"\nblind set: {name.strip()} {by_group['all']}")
    for metric, floor in FLOORS["blind_floors"].items():
        assert product[metric] >= floor, f"blind {metric} {product[metric]:.3f} fell below its floor {floor}"
    # What the issue asked of search by meaning: 0.1 nDCG@10 over plain BM25 with the words ORed, and its recall.
    baseline = results["BM25 baseline (FTS5, words ORed)"]["all"]
    assert product["ndcg@10"] >= baseline["ndcg@10"] + 0.1
    assert product["recall@20"] >= baseline["recall@20"]


def test_product_beats_floors_and_baseline(full_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    product = evaluate(product_ranker(full_index), JUDGMENTS["queries"])["all"]
    baseline = evaluate(baseline_ranker(full_index), JUDGMENTS["queries"])["all"]
    with capsys.disabled():
        print(f"\nrelevance: product {product}, BM25 baseline {baseline}")
    for metric, floor in FLOORS["floors"].items():
        assert product[metric] >= floor, f"{metric} {product[metric]:.3f} fell below its floor {floor}"
    assert product["ndcg@10"] > baseline["ndcg@10"]


@pytest.mark.parametrize(
    ("queries", "judgments"),
    [*((queries, judgments) for _, _, queries, judgments, _ in JUDGED_SETS), (None, None)],
)
def test_the_xapian_backend_ranks_as_well_as_whoosh(
    full_index: Path, queries: Path | None, judgments: Path | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 21: on every judged set the Xapian backend (words on the shards, meaning and the pair rule at the
    web server) is within 0.03 nDCG@10 of the Whoosh backend."""
    pytest.importorskip("xapian")
    if queries is None:  # the first judged set, judged by title and paper
        whoosh = evaluate(product_ranker(full_index), JUDGMENTS["queries"])["all"]
        xapian = evaluate(xapian_ranker(full_index), JUDGMENTS["queries"])["all"]
    else:
        assert judgments is not None
        results = evaluate_blind(full_index, queries, judgments, backends_compared)
        whoosh, xapian = results["Council Papers Search"]["all"], results["Xapian backend"]["all"]
    with capsys.disabled():
        print(f"\n{queries.name if queries else 'judgments.json'}: whoosh {whoosh}, xapian {xapian}")
    assert abs(xapian["ndcg@10"] - whoosh["ndcg@10"]) <= 0.03
