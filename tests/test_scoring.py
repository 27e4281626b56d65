"""The array evaluation of queries against Whoosh's own matchers, on the whole corpus: same items, same scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.store import open_index
from search_app.expansion import find_expansions
from search_app.scoring import fold_copies, phrase_docnums, rank_by_date, rank_by_score
from search_app.search import ArrayIndex, SearchIndex, SearchRequest, build_query, evaluate, filter_mask

QUERIES = [
    "fostering",
    "care leavers",
    "Staying Put",
    "EET",
    "NEET care leavers",
    "UASC",
    '"corporate parenting"',
    '"pathway plan" Kent',
    "virtual school annual report",
    "not in education employment training",
    "care NOT fostering",
    "fostering OR adoption",
    "title:budget council tax",
    "(care leavers)^2 housing",
    "the",
    "zzzxqv",
    "",
]


@pytest.mark.parametrize("text", QUERIES)
def test_array_scores_are_whooshs(full_index: Path, text: str) -> None:
    with open_index(full_index).searcher() as searcher:
        arrays = ArrayIndex(searcher)
        query = build_query(searcher, text, find_expansions(text))
        found = evaluate(query, searcher, arrays)
        assert found is not None, "plain words, phrases and boolean operators are evaluated as arrays"
        expected = {hit.docnum: hit.score for hit in searcher.search(query, limit=None)}
        got = {int(d): float(found.scores[d]) for d in np.flatnonzero(found.mask & arrays.columns.live)}
        assert got.keys() == expected.keys()
        for docnum, score in expected.items():
            assert got[docnum] == pytest.approx(score, rel=1e-9), docnum


def test_wildcards_are_left_to_whoosh(full_index: Path) -> None:
    index = SearchIndex(full_index)
    with open_index(full_index).searcher() as searcher:
        for text in ("foster*", "leav?rs"):
            query = build_query(searcher, text)
            assert evaluate(query, searcher, index.arrays()) is None
            assert index.search(SearchRequest(q=text)).total > 0


def test_filters_keep_only_chosen_values_and_dates(full_index: Path) -> None:
    index = SearchIndex(full_index)
    columns = index.arrays().columns
    request = SearchRequest(filters={"council": ["kent", "croydon"], "topic": ["care-leavers"]})
    mask = filter_mask(request, columns)
    assert mask.any()
    councils = columns.facets["council"]
    held = {councils.values[c] for c in councils.item_codes()[mask]}
    assert held == {"kent", "croydon"}
    topics = columns.facets["topic"]
    assert topics.matrix is not None and topics.matrix[mask, topics.values.index("care-leavers")].all()


def test_phrase_needs_the_words_in_order_and_adjacent() -> None:
    def at(*pairs: tuple[int, int]) -> np.ndarray:
        return np.array(sorted((d << 32) | p for d, p in pairs), dtype=np.int64)

    care = at((1, 4), (2, 7), (3, 1))
    leavers = at((1, 5), (2, 9), (3, 0))
    everyone = np.ones(4, dtype=bool)
    assert phrase_docnums([care, leavers], everyone).tolist() == [1]
    assert phrase_docnums([care, leavers], np.array([True, False, True, True])).tolist() == []


def test_ranking_orders_and_folding_keeps_originals() -> None:
    mask = np.array([True, True, True, True, False])
    scores = np.array([1.0, 3.0, 3.0, 2.0, 9.0])
    in_index_order = np.arange(5)
    ranked = rank_by_score(mask, scores, in_index_order)
    assert ranked.tolist() == [1, 2, 3, 0]
    # Ties follow each item's stable place, not its document number.
    assert rank_by_score(mask, scores, np.array([0, 9, 1, 2, 3])).tolist() == [2, 1, 3, 0]
    # Items 1 and 3 are copies; 1 is an earlier meeting's minutes reprinted, so 3 stands for both, at 1's rank.
    dup = np.array([0, 1, 2, 1, 4])
    earlier = np.array([False, True, False, False, False])
    assert fold_copies(ranked, dup, earlier).tolist() == [3, 2, 0]
    undated = np.iinfo(np.int64).max
    days = np.array([5, undated, 7, 6, 1])
    assert rank_by_date(mask, days, in_index_order, newest_first=True).tolist() == [2, 3, 0, 1]
    assert rank_by_date(mask, days, in_index_order, newest_first=False).tolist() == [0, 3, 2, 1]


def test_items_replaced_by_an_incremental_build_are_not_found(updated_index: Path) -> None:
    index = SearchIndex(updated_index)
    with open_index(updated_index).searcher() as searcher:
        assert searcher.reader().has_deletions(), "the old items are deleted, not yet merged away"
        live = searcher.doc_count()
    assert index.search(SearchRequest(q="zanzibarian", semantic=False)).total == 1
    assert index.search(SearchRequest(q="")).total <= live
    assert index.search(SearchRequest(q="staying put")).total == len(
        {h.id for h in index.search(SearchRequest(q="staying put", per_page=100)).hits}
    )


def test_folding_matches_a_plain_reading_of_the_rule() -> None:
    # For each item in order of its best-ranked copy: its best-ranked copy that is not earlier minutes
    # reprinted in a later pack, else its best-ranked copy.
    rng = np.random.default_rng(7)
    for _ in range(500):
        size = int(rng.integers(0, 40))
        codes, earlier = rng.integers(0, size // 2 + 1, size), rng.random(size) < 0.3
        ranked = rng.permutation(size)[: int(rng.integers(0, size + 1))]
        expected: dict[int, list[int]] = {}
        for docnum in ranked.tolist():
            expected.setdefault(int(codes[docnum]), []).append(docnum)
        want = [next((d for d in copies if not earlier[d]), copies[0]) for copies in expected.values()]
        assert fold_copies(ranked, codes, earlier).tolist() == want
