"""The relevance gate: the product stays above its pinned floors and above a plain BM25 baseline."""

from __future__ import annotations

import json
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import baseline_ranker, evaluate, product_ranker  # noqa: E402

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
    highest = {m: max(h["floors"][m] for h in FLOORS["history"]) for m in FLOORS["floors"]}
    assert FLOORS["floors"] == highest, "a floor is below one recorded in history"


def test_product_beats_floors_and_baseline(full_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    product = evaluate(product_ranker(full_index), JUDGMENTS["queries"])["all"]
    baseline = evaluate(baseline_ranker(full_index), JUDGMENTS["queries"])["all"]
    with capsys.disabled():
        print(f"\nrelevance: product {product}, BM25 baseline {baseline}")
    for metric, floor in FLOORS["floors"].items():
        assert product[metric] >= floor, f"{metric} {product[metric]:.3f} fell below its floor {floor}"
    assert product["ndcg@10"] > baseline["ndcg@10"]
