"""The one ranking rule: BM25F worked out by hand, the same scores however a query is written, array
evaluation of phrases, wildcards and filters, and the orders results are shown in."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from indexer.backend import Postings
from indexer.store import open_index
from search_app import semantic
from search_app.evaluate import evaluate, phrase_docnums
from search_app.facets import filter_mask
from search_app.pipeline import find_matches
from search_app.query import parse
from search_app.ranking import (
    CLOSE_BONUS,
    LENGTH_CAP,
    PAIR_COMMON,
    PHRASE_BONUS,
    UNDATED,
    B,
    FieldPostings,
    FoldingColumns,
    bm25f,
    date_keys,
    fold_and_rank,
    fold_copies,
    pair_rarity,
    rank_by_date,
    rank_by_score,
    window_coverage,
)
from search_app.results import SearchRequest
from search_app.service import SearchIndex


def test_bm25f_against_figures_worked_by_hand() -> None:
    # Four items; the term is in item 0's title once (title length 2, average 4, weight 3) and in its body
    # twice (length 10, average 10, weight 1); in item 2's body once (length 5).
    title = FieldPostings(Postings(np.array([0]), np.array([1.0])), np.array([2.0, 4, 6, 4]), 4.0, 3.0)
    body = FieldPostings(Postings(np.array([0, 2]), np.array([2.0, 1.0])), np.array([10.0, 10, 5, 15]), 10.0, 1.0)
    scored = bm25f([title, body], size=4)
    # idf = ln(1 + (4 - 2 + 0.5) / (2 + 0.5)) = ln 2.
    idf = math.log(2)
    # Item 0: title tf 1 / (0.25 + 0.75 * 2/4) = 1.6, times 3 = 4.8; body 2 / 1 = 2: pseudo-frequency 6.8.
    # Item 2: body 1 / (0.25 + 0.75 * 5/10) = 1.6.
    expected_0 = idf * 6.8 * 2.2 / (6.8 + 1.2)
    expected_2 = idf * 1.6 * 2.2 / (1.6 + 1.2)
    assert scored.docnums.tolist() == [0, 2]
    assert scored.scores.tolist() == pytest.approx([expected_0, expected_2], rel=1e-12)
    assert expected_0 == pytest.approx(1.296, abs=1e-3) and expected_2 == pytest.approx(0.871, abs=1e-3)


def test_a_word_in_two_fields_saturates_once() -> None:
    lengths = np.array([4.0, 4.0])
    both = bm25f(
        [
            FieldPostings(Postings(np.array([0]), np.array([1.0])), lengths, 4.0, 1.0),
            FieldPostings(Postings(np.array([0]), np.array([1.0])), lengths, 4.0, 1.0),
        ],
        size=2,
    )
    one = bm25f([FieldPostings(Postings(np.array([0]), np.array([1.0])), lengths, 4.0, 1.0)], size=2)
    assert one.scores[0] < both.scores[0] < 2 * one.scores[0]


def test_length_normalisation_stops_at_the_cap() -> None:
    # One mention each in bodies of 6, 12, 24 and 48 times the average length (average 10, cap 12): past the
    # cap an item counts the mention as one of 12 times the average does, 1 / (0.25 + 0.75 x 12) = 1 / 9.25.
    lengths = np.array([60.0, 120, 240, 480, 10])
    body = FieldPostings(Postings(np.array([0, 1, 2, 3]), np.array([1.0] * 4)), lengths, 10.0, 1.0)
    scores = bm25f([body], size=5).scores
    idf = math.log(1 + (5 - 4 + 0.5) / (4 + 0.5))
    at_cap = idf * (1 / 9.25) * 2.2 / (1 / 9.25 + 1.2)
    assert LENGTH_CAP == 12
    assert scores[1] == scores[2] == scores[3] == pytest.approx(at_cap, rel=1e-12)
    assert scores[0] > scores[1]  # below the cap, shorter still counts for more


def test_both_backends_normalise_lengths_alike() -> None:
    """The Xapian backend writes BM25F's pseudo-frequencies at index time: its b and cap are the pipeline's."""
    from indexer import xapian_backend

    assert (xapian_backend.FIELD_B, xapian_backend.FIELD_LENGTH_CAP) == (B, LENGTH_CAP)


@pytest.mark.parametrize(
    ("strict", "plain"),
    [
        ("care AND leavers", "care leavers"),
        ('"care leavers"', "care leavers"),
        ("(fostering OR adoption) panel", "fostering adoption panel"),
        ("care NOT fostering", "care"),
        ("foster* AND panel", "fostering panel"),
    ],
)
def test_strict_queries_score_by_the_same_rule_as_plain_words(full_index: Path, strict: str, plain: str) -> None:
    terms = SearchIndex(full_index).terms()
    loose = find_matches(terms, SearchRequest(q=plain, expand=False)).found
    kept = find_matches(terms, SearchRequest(q=strict, expand=False)).found
    assert kept.mask.any() and np.count_nonzero(kept.mask) < np.count_nonzero(loose.mask)
    assert not (kept.mask & ~loose.mask).any(), "strict matching finds fewer items, never others"
    assert kept.scores[kept.mask] == pytest.approx(loose.scores[kept.mask], rel=1e-9)


def test_a_field_word_counts_its_field_only(full_index: Path) -> None:
    index = SearchIndex(full_index)
    hits = index.search(SearchRequest(q="title:budget council tax", semantic=False)).hits
    assert hits and all("budget" in h.title.lower() for h in hits)
    title_only = index.terms().field_scores("title", "budget")
    every_field = index.terms().word_scores("budget")
    assert set(title_only.docnums.tolist()) < set(every_field.docnums.tolist())


def test_phrase_scores_its_words_with_the_bonus(full_index: Path) -> None:
    index = SearchIndex(full_index)
    terms = index.terms()
    found = evaluate(parse('"corporate parenting"'), terms)
    words = terms.word_scores("corpor"), terms.word_scores("parent")
    expected = np.zeros(terms.size)
    for postings in words:
        expected[postings.docnums] += postings.scores
    docnums = np.flatnonzero(found.mask)
    assert docnums.size > 10
    assert found.scores[docnums] == pytest.approx(expected[docnums])
    top = index.search(SearchRequest(q='"corporate parenting"', per_page=1)).hits[0]
    best = int(docnums[np.argmax(expected[docnums])])
    assert top.score == pytest.approx(expected[best] * (1 + PHRASE_BONUS), rel=1e-3)


def test_a_pair_is_specific_by_how_few_items_hold_it() -> None:
    assert pair_rarity(1, 500) == pytest.approx(1.0)
    assert pair_rarity(int(PAIR_COMMON * 500), 500) == pytest.approx(0.0, abs=0.01)
    assert pair_rarity(100, 500) == 0.0 and pair_rarity(0, 500) == 0.0
    rarities = [pair_rarity(n, 500) for n in range(1, 30)]
    assert rarities == sorted(rarities, reverse=True)


def test_the_paper_naming_a_scheme_comes_before_the_topic(full_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kent's Family Hubs response names the "Holiday Activities and Food (HAF) Programme" in one line of 4,800
    # words; other items hold the words apart ("food", "programme", "activities") and one short item holds more
    # of them. Without the specific-match rule that item comes first. (The glossary's HAF would also find the
    # paper by that phrase: expansions are off, so the rule is what is tested.)
    index = SearchIndex(full_index)
    request = SearchRequest(q="holiday activities and food programme", per_page=1, semantic=False, expand=False)

    def top_names_it() -> bool:
        top = index.search(request).hits[0]
        return "holiday activities and food" in " ".join(str(index.get_item(top.id)["body"]).lower().split())

    assert top_names_it()
    monkeypatch.setattr("search_app.pipeline.PAIR_BONUS", 0.0)
    assert not top_names_it()


def test_window_coverage_is_the_share_of_the_words_weight_held_close_together() -> None:
    def at(*pairs: tuple[int, int]) -> np.ndarray:
        return np.array(sorted((d << 32) | p for d, p in pairs), dtype=np.int64)

    # Item 1 holds both words side by side; item 2 holds them 500 positions apart; item 3 holds the rare
    # word twice and nothing else; item 4 holds the common word beside the rare one near its end.
    rare = at((1, 10), (2, 5), (3, 7), (3, 9), (4, 990))
    common = at((1, 11), (2, 505), (4, 1000))
    weights = np.array([3.0, 1.0])
    coverage = window_coverage([rare, common], weights, np.array([1, 2, 3, 4, 9]))
    assert coverage.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    # A third, unheld word's weight counts against every window; a window needs two distinct words.
    third = np.zeros(0, dtype=np.int64)
    assert window_coverage([rare, common, third], np.array([3.0, 1.0, 4.0]), np.array([1, 3])).tolist() == [0.5, 0.0]
    # Occurrences in different items never make one window, however close their numbers.
    assert window_coverage([at((1, 2**32 - 1)), at((2, 0))], weights, np.array([1, 2])).tolist() == [0.0, 0.0]


def test_the_paragraph_naming_it_lifts_a_long_paper(full_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kent's Q3 performance report and its 19,821-word appendix say "(EHCPs) issued within 20 weeks" in one
    # line; a short Thurrock minute about initial health assessments holds "within", "20" and "assessment",
    # and meaning ranks it first when it reads the words as typed (expansions off: with them, meaning reads
    # what EHCP stands for and puts Kent's report first too) and sees only the report's opening pages. Any of
    # three rules puts Kent's report first: the words' closeness, BM25F's length normalisation stopping at
    # LENGTH_CAP times the average, and meaning reading the report's windows to its end (MAX_WINDOWS).
    request = SearchRequest(q="EHCP assessments within 20 weeks", per_page=1, expand=False)
    read_pool = semantic.read_pool

    def first_windows_only(
        vectors: semantic.DocVectors, docnums: np.ndarray, deep: np.ndarray | None = None
    ) -> semantic.PoolVectors:
        # As meaning read an item when its windows stopped at 32: no item read past its opening.
        return read_pool(vectors, docnums, deep=docnums[:0])

    def top_is_kents_report() -> bool:
        return "_QPR_Q3_" in SearchIndex(full_index).search(request).hits[0].source  # a fresh index: fresh scores

    assert top_is_kents_report()
    monkeypatch.setattr("search_app.pipeline.CLOSE_BONUS", 0.0)
    monkeypatch.setattr("search_app.ranking.LENGTH_CAP", np.inf)
    assert top_is_kents_report()
    monkeypatch.setattr("search_app.semantic.read_pool", first_windows_only)
    assert not top_is_kents_report()
    monkeypatch.setattr("search_app.pipeline.CLOSE_BONUS", CLOSE_BONUS)
    assert top_is_kents_report()
    monkeypatch.setattr("search_app.pipeline.CLOSE_BONUS", 0.0)
    monkeypatch.setattr("search_app.ranking.LENGTH_CAP", LENGTH_CAP)
    assert top_is_kents_report()


def test_wildcards_and_fuzzy_words_expand_from_the_dictionary(full_index: Path) -> None:
    index = SearchIndex(full_index)
    terms = index.terms()
    fostering = set(np.flatnonzero(evaluate(parse("fostering"), terms).mask).tolist())
    assert fostering <= set(np.flatnonzero(evaluate(parse("foster*"), terms).mask).tolist())
    leavers = SearchRequest(q="leavers", expand=False, semantic=False)
    assert index.search(SearchRequest(q="leav?rs")).total == index.search(leavers).total
    # One edit away: "fostring" is the stem "fostr", one letter from "foster".
    assert index.search(SearchRequest(q="fostring~", semantic=False)).hits[0].item_title.lower().count("foster")


def test_filters_keep_only_chosen_values_and_dates(full_index: Path) -> None:
    index = SearchIndex(full_index)
    columns = index.terms().columns
    request = SearchRequest(filters={"council": ["kent", "croydon"], "topic": ["care-leavers"]})
    mask = filter_mask(request, columns)
    assert mask.any()
    councils = columns.facets["council"]
    held = {councils.values[c] for c in councils.item_codes()[mask]}
    assert held == {"kent", "croydon"}
    topics = columns.facets["topic"]
    assert topics.mask(["care-leavers"])[mask].all()


def test_field_filters_and_date_ranges_in_the_query_are_weightless(full_index: Path) -> None:
    index = SearchIndex(full_index)
    words = {h.id: h.score for h in index.search(SearchRequest(q="fostering", semantic=False, per_page=500)).hits}
    kent = index.search(SearchRequest(q="council:Kent fostering", semantic=False, per_page=500)).hits
    assert kent and {h.council for h in kent} == {"kent"}
    assert all(h.score == pytest.approx(words[h.id]) for h in kent)
    dated = index.search(SearchRequest(q="date:[2021 TO 2021-06] care", semantic=False, per_page=500)).hits
    assert dated and all(h.date and "2021-01-01" <= h.date <= "2021-06-30" for h in dated)


def test_phrase_needs_the_words_in_order_and_near() -> None:
    def at(*pairs: tuple[int, int]) -> np.ndarray:
        return np.array(sorted((d << 32) | p for d, p in pairs), dtype=np.int64)

    care = at((1, 4), (2, 7), (3, 1))
    leavers = at((1, 5), (2, 9), (3, 0))
    everyone = np.ones(4, dtype=bool)
    assert phrase_docnums([care, leavers], everyone).tolist() == [1]
    assert phrase_docnums([care, leavers], np.array([True, False, True, True])).tolist() == []
    assert phrase_docnums([care, leavers], everyone, slop=2).tolist() == [1, 2]
    # The next word's occurrence must be in the same item, however close the numbers.
    assert phrase_docnums([at((1, 2**32 - 1)), at((2, 0))], everyone).tolist() == []


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
    reader = open_index(updated_index)
    live = reader.live()
    reader.close()
    assert not live.all(), "the old items are deleted, not yet merged away"
    assert index.search(SearchRequest(q="zanzibarian", semantic=False)).total == 1
    assert index.search(SearchRequest(q="")).total <= int(live.sum())
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


def test_a_page_is_the_fold_of_the_whole_ranking() -> None:
    # A search sorts only the items with copies and the page's candidates (fold_and_rank); its page must be
    # the first places of folding the whole ranking, by score and by date, with ties and earlier minutes.
    rng = np.random.default_rng(11)
    for _ in range(500):
        size = int(rng.integers(1, 80))
        order = rng.permutation(size)
        codes = rng.integers(0, int(rng.integers(1, size + 1)), size)
        earlier = rng.random(size) < 0.3
        folding = FoldingColumns(codes, np.bincount(codes)[codes] > 1, earlier)
        mask = rng.random(size) < rng.random()
        scores = np.round(rng.random(size) * 3, 1)  # ties are common
        scores[rng.random(size) < rng.choice([0, 0.05, 0.5])] = np.nan  # never made on purpose; ranked last
        days = rng.integers(700_000, 700_006, size)
        days[rng.random(size) < 0.2] = UNDATED
        docnums = np.flatnonzero(mask)
        first = int(rng.integers(0, size + 2))
        for newest_first in (True, False):
            whole = fold_copies(rank_by_date(mask, days, order, newest_first), codes, earlier)
            keys = date_keys(days[docnums], newest_first)
            shown, page = fold_and_rank(docnums, keys, order, folding, first)
            assert sorted(shown.tolist()) == sorted(whole.tolist())
            assert page.tolist() == whole[:first].tolist()
        whole = fold_copies(rank_by_score(mask, scores, order), codes, earlier)
        shown, page = fold_and_rank(docnums, -scores[docnums], order, folding, first)
        assert sorted(shown.tolist()) == sorted(whole.tolist())
        assert page.tolist() == whole[:first].tolist()


def test_every_window_is_read_for_the_best_word_matches_and_the_opening_for_the_rest() -> None:
    # Two long items whose 40th passage is the query itself, stored in the file in the other order than
    # their document numbers: the one among the best word matches ("deep", document 1) is found by it; the
    # other is read only as far as its opening (the whole item and 32 windows).
    dims = 4
    query = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    filler = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float16)
    passages = np.tile(filler, (80, 1))
    passages[39] = passages[79] = query
    vectors = semantic.DocVectors(
        rows=np.array([1, 0]),
        held=np.array([True, True]),
        docnums=np.array([1, 0]),
        matrix=np.tile(filler.astype(np.float32), (2, 1)),
        passages=passages.reshape(80, dims),
        starts=np.array([0, 40]),
        counts=np.array([40, 40]),
    )
    pooled = semantic.read_pool(vectors, np.array([0, 1]), deep=np.array([1]))
    assert pooled.passages.shape[0] == 40 + semantic.OPENING
    assert pooled.best_passages(query).tolist() == [0.0, 1.0]
    assert semantic.read_pool(vectors, np.array([0, 1]), deep=np.array([0])).best_passages(query).tolist() == [1.0, 0.0]
    assert semantic.read_pool(vectors, np.array([0, 1])).best_passages(query).tolist() == [1.0, 1.0]
