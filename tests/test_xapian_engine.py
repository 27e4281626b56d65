"""Query plans on Xapian: every kind of query a person types matches the same agenda items on the Xapian
backend as in the Whoosh pipeline, with the same item totals and facet counts, topics included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

xapian = pytest.importorskip("xapian")

from indexer.store import open_index  # noqa: E402
from indexer.xapian_backend import Held, Shard, XapianSearch, XapianWriter, filtered, mark_canonical  # noqa: E402
from search_app.evaluate import evaluate  # noqa: E402
from search_app.query import Phrase, plan_query  # noqa: E402
from search_app.results import QueryError, SearchRequest  # noqa: E402
from search_app.service import SearchIndex  # noqa: E402
from search_app.xapian_engine import phrase_query, xapian_plan  # noqa: E402

QUERIES = [
    "staying put",
    '"care leavers"',
    '"council tax" exemption',
    "care AND leavers AND council",
    "fostering NOT adoption",
    "(eet OR neet) AND care",
    "council:croydon fostering",
    "item_title:budget",
    'item_title:"corporate parenting"',
    "foster*",
    "date:[2021 TO 2022-06] care leavers",
    "date:{2020 TO 2023} fostering",
    "year:[2019 TO 2021]",
    "topic:eet",
    "fostering^2 adoption",
    "NOT council:kent",
]


@pytest.fixture(scope="module")
def xapian_db(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> XapianSearch:
    reader = open_index(index_dir)
    try:
        records = [dict(record) for record in reader.stored_records()]
    finally:
        reader.close()
    mark_canonical(records)
    path = tmp_path_factory.mktemp("xapian-engine") / "db"
    writer = XapianWriter(path)
    for record in records:
        writer.add_record(record)
    writer.commit()
    writer.close()
    return XapianSearch([Shard("local", path=path)])


def whoosh_items(index: SearchIndex, text: str) -> set[str]:
    """Returns the copy keys of every item the Whoosh pipeline's words stage matches."""
    terms = index.terms()
    plan = plan_query(text)
    mask = evaluate(plan.root, terms).mask
    for variant in plan.variants:
        mask |= evaluate(variant.root, terms).mask
    return {str(terms.reader.stored(int(d))["dup_key"]) for d in np.flatnonzero(mask)}


@pytest.mark.parametrize("text", QUERIES)
def test_a_query_matches_the_same_items_with_the_same_counts_on_both_backends(
    index_dir: Path, xapian_db: XapianSearch, text: str
) -> None:
    index = SearchIndex(index_dir)
    expected = whoosh_items(index, text)
    assert expected, f"{text!r} matches nothing in the test corpus: a weak check"
    found = xapian_db.search_query(xapian_plan(plan_query(text)), limit=10_000)
    items = {item_id: record for item_id, record in stored_by_id(index).items()}
    assert {items[item_id]["dup_key"] for item_id, _ in found.hits} == expected
    assert found.total == len(expected)
    whoosh = index.search(SearchRequest(q=text, semantic=False, respell=False, per_page=1)).facets
    for facet in ("council", "year", "committee"):
        assert found.facets[facet] == {k: v for k, v in whoosh[facet].items() if v}, (text, facet)
    # An item's copies (its item page, the agenda pack, the minutes) can differ in document type and in the
    # topics tagged from their text: the Whoosh pipeline counts the copy it ranks best, Xapian's spies one
    # fixed copy. Where no matched item's copies differ, the counts must be the same.
    for facet, field in (("doc_type", "doc_type"), ("topic", "topics")):
        if not any(len({str(r.get(field)) for r in items.values() if r["dup_key"] == key}) > 1 for key in expected):
            assert found.facets[facet] == {k: v for k, v in whoosh[facet].items() if v}, (text, facet)
    assert sum(found.facets["doc_type"].values()) == sum(whoosh["doc_type"].values()) == len(expected)


def stored_by_id(index: SearchIndex) -> dict[str, Any]:
    reader = index.reader()
    return {str(record["id"]): record for record in reader.stored_records()}


def test_filters_and_dates_narrow_the_same_way(xapian_db: XapianSearch) -> None:
    query = xapian_plan(plan_query("care leavers"))
    everything = xapian_db.search_query(query, limit=10_000)
    croydon = xapian_db.search_query(filtered(query, {"council": ["croydon"]}), limit=10_000)
    assert 0 < croydon.total < everything.total
    assert croydon.total == everything.facets["council"]["croydon"] == croydon.facets["council"]["croydon"]


def test_newest_first_sorts_by_meeting_date(xapian_db: XapianSearch, index_dir: Path) -> None:
    found = xapian_db.search_query(xapian_plan(plan_query("fostering")), limit=30, order="date")
    dates = {str(r["id"]): r.get("date") for r in stored_by_id(SearchIndex(index_dir)).values()}
    days = [dates[item_id] for item_id, _ in found.hits if dates[item_id]]
    assert len(days) >= 5 and days == sorted(days, reverse=True)


@pytest.mark.parametrize(
    ("text", "message"), [("fostr~", "fuzzy words need the build's vocabulary"), ("fo?ter", "trailing \\*")]
)
def test_what_xapian_cannot_run_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        xapian_plan(plan_query(text))


def judged_texts() -> list[str]:
    from tests.test_cluster import DATA, JUDGED

    return [q["q"] for name in JUDGED for q in json.loads((DATA / name).read_text())["queries"]]


def test_phrases_found_by_word_pairs_rank_exactly_as_phrases_found_by_positions(xapian_db: XapianSearch) -> None:
    # Every judged query (the words typed side by side earn the phrase bonus, glossary equivalents are
    # phrases) and typed phrases: the same items with the same weights, so the pairs change only the cost.
    texts = [*judged_texts(), *QUERIES, '"virtual school annual report"', '"pathway plan" OR "staying put"']
    with_phrases = 0
    for text in texts:
        plan = plan_query(text)
        by_positions = xapian_db.search_query(xapian_plan(plan, held=Held.POSITIONS), limit=300)
        by_pairs = xapian_db.search_query(xapian_plan(plan, held=Held.ALL), limit=300)
        assert by_pairs.hits == by_positions.hits, text
        assert by_pairs.total == by_positions.total, text
        with_phrases += str(xapian_plan(plan, held=Held.ALL)) != str(xapian_plan(plan, held=Held.POSITIONS))
    assert with_phrases >= 50, "too few queries had a phrase for the pairs to stand in for"


def test_every_glossary_phrase_finds_by_its_term_exactly_the_items_positions_find(xapian_db: XapianSearch) -> None:
    # Format 7 writes a term for each glossary phrase of three or more words an item holds side by side, so
    # an acronym's long form is found without reading positions: on the real papers, the same items, with
    # the same weights, as the phrase found by positions.
    from indexer.xapian_backend import indexed_phrases

    phrases = [phrase for held in indexed_phrases().values() for phrase in held]
    found = 0
    for stems in phrases:
        by_positions = xapian_db.search_query(phrase_query(Phrase(stems), held=Held.POSITIONS), limit=600, fold=False)
        by_term = xapian_db.search_query(phrase_query(Phrase(stems), held=Held.ALL), limit=600, fold=False)
        assert "XG" in str(phrase_query(Phrase(stems), held=Held.ALL)), stems
        assert by_term.hits == by_positions.hits, stems
        found += bool(by_term.hits)
    assert len(phrases) >= 100
    assert found >= 30, "too few glossary phrases are held by the corpus for the test to say anything"


def test_a_glossary_phrase_term_needs_the_words_side_by_side_in_one_field() -> None:
    from indexer.xapian_backend import item_document

    def phrase_terms(**fields: str) -> list[str]:
        document = item_document({"id": "a1", "doc_id": "p1", "dup_key": "k1", **fields})
        return [t.term.decode() for t in document.termlist() if t.term.startswith(b"XG")]

    together = "Support for unaccompanied asylum-seeking children this year."
    assert phrase_terms(body=together) == ["XGunaccompani asylum seek children"]
    # Stop words between them are not kept, as a quoted phrase does not keep them.
    assert phrase_terms(body="Not in education and employment or training") == ["XGeduc employment train"]
    assert phrase_terms(body="Unaccompanied children seeking asylum") == []
    # The end of the title and the start of the body are not side by side.
    assert phrase_terms(item_title="Unaccompanied asylum", body="seeking children") == []


def test_a_long_body_is_normalised_no_further_than_the_cap() -> None:
    # The shards rank by pseudo-frequencies written at index time: one mention in a body of 6, 12, 13 and 24
    # times the average length weighs 1 / (0.25 + 0.75 x min(length, 12 x average) / average), in thousandths,
    # as search_app/ranking.py's bm25f weighs it (LENGTH_CAP): 108 at the cap and past it.
    from indexer.xapian_backend import AVERAGE_LENGTHS, WDF_SCALE, item_document

    average = AVERAGE_LENGTHS["body"]

    def weight_of_one_mention(times: float) -> int:
        body = "slippage " + "budget " * (round(times * average) - 1)
        document = item_document({"id": "a1", "doc_id": "p1", "dup_key": "k1", "body": body})
        return next(t.wdf for t in document.termlist() if t.term == b"slippag")

    at_cap = round(WDF_SCALE / (0.25 + 0.75 * 12))
    assert at_cap == 108
    assert weight_of_one_mention(13) == weight_of_one_mention(24) == at_cap
    assert weight_of_one_mention(6) == round(WDF_SCALE / (0.25 + 0.75 * round(6 * average) / average)) > at_cap


def with_an_older_document(
    tmp_path: Path, record: dict[str, Any], newer: dict[str, Any], dropped: str, mark: str | None = None
) -> XapianSearch:
    """Returns a database holding a copy of the record (id "new", changed by `newer`) as this format writes it,
    and the record itself as an older format or glossary did: without the terms starting `dropped` and with
    `mark` (none, for a format before pairs) in place of this format's."""
    from indexer.xapian_backend import TERMS_MARK, item_document

    writer = XapianWriter(tmp_path / "db")
    writer.add_record({**record, "id": "new", "dup_key": "k2", **newer})
    old = item_document(record)
    for term in [t.term.decode() for t in old.termlist()]:
        if term.startswith(dropped) or term == TERMS_MARK:
            old.remove_term(term)
    if mark is not None:
        old.add_boolean_term(mark)
    writer.database.replace_document(7, old)
    writer.commit()
    writer.close()
    return XapianSearch([Shard("local", path=tmp_path / "db")])


def test_a_document_written_without_word_pairs_keeps_phrases_on_positions(tmp_path: Path) -> None:
    # A shard part-way through a sync from format 4 holds documents without pair terms: phrases must still
    # find them, so the pairs are used only once every document carries them.
    from indexer.xapian_backend import PAIR_PREFIX

    record = {"id": "a1", "doc_id": "p1", "dup_key": "k1", "title": "Staying Put policy", "body": "care leavers"}
    engine = with_an_older_document(tmp_path, record, {"body": "leavers in care"}, PAIR_PREFIX)
    assert engine.held() == Held.POSITIONS
    found = engine.search_query(xapian_plan(plan_query('"care leavers"'), held=engine.held()), limit=10)
    assert [item_id for item_id, _ in found.hits] == ["a1"]
    # What the check prevents: asked by pairs, the old document's phrase is not found.
    by_pairs = engine.search_query(xapian_plan(plan_query('"care leavers"'), held=Held.ALL), limit=10)
    assert by_pairs.hits == []
    staying = engine.search_query(xapian_plan(plan_query('"staying put"'), held=Held.ALL), limit=10)
    assert [item_id for item_id, _ in staying.hits] == ["new"]


@pytest.mark.parametrize("mark", ["XFpairs", "XFterms:7:another-glossary"])
def test_a_document_written_without_this_glossarys_phrases_keeps_them_on_positions(tmp_path: Path, mark: str) -> None:
    # A shard part-way through a sync from format 6 ("XFpairs"), or after the glossary changed, holds documents
    # without this glossary's phrase terms: their pairs still serve, and glossary phrases are found by positions.
    from indexer.xapian_backend import PHRASE_PREFIX

    record = {"id": "a1", "doc_id": "p1", "dup_key": "k1", "body": "support for unaccompanied asylum seeking children"}
    engine = with_an_older_document(tmp_path, record, {}, PHRASE_PREFIX, mark)
    assert engine.held() == Held.PAIRS
    found = engine.search_query(xapian_plan(plan_query("UASC"), held=engine.held()), limit=10)
    assert sorted(item_id for item_id, _ in found.hits) == ["a1", "new"]
    by_terms = engine.search_query(xapian_plan(plan_query("UASC"), held=Held.ALL), limit=10)
    assert [item_id for item_id, _ in by_terms.hits] == ["new"]
