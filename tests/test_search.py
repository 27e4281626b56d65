"""Search on the indexed subset: ranking, filters, facets, snippets, sorting, suggestions."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.store import Vocabulary
from search_app.pipeline import ORDINARY_NAME_SHARE, councils_typed, share_elsewhere, topic_words
from search_app.results import QueryError, SearchRequest
from search_app.service import SearchIndex
from search_app.snippets import window_weight, word_pattern
from search_app.spelling import Speller, offered_only


@pytest.fixture(scope="module")
def index(index_dir: Path) -> SearchIndex:
    return SearchIndex(index_dir)


def test_stemming_finds_plural_and_verb_forms(index: SearchIndex) -> None:
    def total(q: str) -> int:
        return index.search(SearchRequest(q=q, semantic=False)).total

    assert total("fostering") == total("foster") > 0


def test_staying_put_ranks_croydon_recommendation(index: SearchIndex) -> None:
    results = index.search(SearchRequest(q="Staying Put"))
    top = [(h.council, h.item_title) for h in results.hits[:3]]
    assert ("croydon", "Children in Care Performance Scorecard") in top


def test_filters_narrow_results_and_facets_together(index: SearchIndex) -> None:
    everything = index.search(SearchRequest(q="care leavers"))
    assert len(everything.facets["council"]) >= 5
    croydon = index.search(SearchRequest(q="care leavers", filters={"council": ["croydon"]}))
    assert croydon.total == everything.facets["council"]["croydon"]
    assert {h.council for h in croydon.hits} == {"croydon"}
    assert list(croydon.facets["council"]) == ["croydon"]
    year = next(iter(croydon.facets["year"]))
    both = index.search(SearchRequest(q="care leavers", filters={"council": ["croydon"], "year": [year]}))
    assert both.total == croydon.facets["year"][year] <= croydon.total
    assert sum(both.facets["council"].values()) == both.total


def test_or_within_a_facet(index: SearchIndex) -> None:
    either = index.search(SearchRequest(q="care leavers", filters={"council": ["croydon", "dorset"]}))
    assert set(either.facets["council"]) == {"croydon", "dorset"}


def test_date_range_and_date_sort(index: SearchIndex) -> None:
    results = index.search(
        SearchRequest(q="", date_from=date(2021, 1, 1), date_to=date(2021, 12, 31), sort="date", per_page=100)
    )
    dates = [h.date for h in results.hits]
    assert dates and all(d is not None and d.startswith("2021") for d in dates)
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]


def test_decisions_only(index: SearchIndex) -> None:
    results = index.search(SearchRequest(q="", decisions_only=True, per_page=100))
    assert results.total > 0 and all(h.decisions for h in results.hits)


def test_snippets_mark_matches_and_escape_markup(index: SearchIndex) -> None:
    hit = index.search(SearchRequest(q="Staying Put", filters={"council": ["croydon"]})).hits[0]
    assert "<mark>Staying</mark>" in hit.snippet
    assert "<script" not in hit.snippet


def test_snippets_mark_the_words_searched_not_the_stop_words_typed(index: SearchIndex) -> None:
    # "in" is not searched; marked by prefix it would mark "including", "information" and "into".
    hits = index.search(SearchRequest(q="care leavers in education", semantic=False)).hits
    assert hits and any("<mark>" in hit.snippet for hit in hits)
    marked = {m.lower() for hit in hits for m in re.findall(r"<mark>(.*?)</mark>", hit.snippet)}
    assert not {word for word in marked if word.startswith("in")}, marked
    assert marked & {"care", "leavers", "education"}


def test_a_passage_counts_each_query_word_once() -> None:
    weights = {"ehcp": 3.3, "20": 2.1, "weeks": 2.8, "week": 2.8}
    pattern = word_pattern(list(weights))
    assert pattern is not None
    # Years begin like "20" and "EHCPs" like "ehcp": each query word counts once, however many forms it has.
    years = "2019 2020 2021 2022 2023 2024 EHCP EHCPs EHCP's"
    answer = "(EHCPs) issued within 20 weeks"
    assert window_weight(years, 0, pattern, weights) == pytest.approx(3.3 + 2.1)
    assert window_weight(answer, 0, pattern, weights) == pytest.approx(3.3 + 2.1 + 2.8)


def test_field_syntax_and_phrases(index: SearchIndex) -> None:
    results = index.search(SearchRequest(q='"pathway plan" council:croydon'))
    assert results.total > 0 and {h.council for h in results.hits} == {"croydon"}


def test_spelling_suggestion(index: SearchIndex) -> None:
    assert index.search(SearchRequest(q="fostring")).suggestion == "fostering"
    assert index.search(SearchRequest(q="stayng put")).suggestion == "staying put"
    assert index.search(SearchRequest(q="Staying Put")).suggestion is None
    # Words the papers hold, and field searches, are never "corrected".
    assert index.search(SearchRequest(q="xqzvbnm")).suggestion is None
    assert index.search(SearchRequest(q="title:fostring")).suggestion is None


def test_plain_words_rank_every_item_holding_any_of_them(index: SearchIndex) -> None:
    def ids(q: str) -> list[str]:
        request = SearchRequest(q=q, per_page=200, expand=False, semantic=False, respell=False)
        return [h.id for h in index.search(request).hits]

    every = ids("Staying Put policy AND review")  # AND keeps its strict meaning
    relaxed = ids("Staying Put policy review")
    assert every and set(every) < set(relaxed)
    # Items holding three of the four words are found, and near the top, not after every partial match.
    three = set(ids("Staying Put policy")) - set(every)
    assert three & set(relaxed[:10]), "items holding three of the four words were hidden"
    # Every item holding all four words ranks above every item holding only one of them.
    single = set.union(*(set(ids(w)) for w in ("Staying", "Put", "policy", "review")))
    only_one = {i for i in single if sum(i in set(ids(w)) for w in ("Staying", "Put", "policy", "review")) == 1}
    assert max(relaxed.index(i) for i in every) < min(relaxed.index(i) for i in only_one)
    # A word the index does not hold hides nothing.
    assert ids("Staying xqzvbnm") == ids("Staying")


def test_a_misspelt_query_shows_the_corrected_spelling_results(index: SearchIndex) -> None:
    typed = index.search(SearchRequest(q="fostring", respell=False))
    assert typed.total == 0 and typed.showing_for is None and typed.suggestion == "fostering"
    rescued = index.search(SearchRequest(q="fostring"))
    corrected = index.search(SearchRequest(q="fostering"))
    assert rescued.showing_for == "fostering" and rescued.request.q == "fostring"
    assert rescued.total == corrected.total > 0
    assert [h.id for h in rescued.hits] == [h.id for h in corrected.hits]
    assert rescued.facets == corrected.facets
    # Words that find plenty are never replaced.
    assert index.search(SearchRequest(q="Staying Put")).showing_for is None


def test_suggestions_come_from_the_words_indexed(updated_index: Path) -> None:
    # The word came in with an update: the vocabulary grows with the words of changed papers.
    assert SearchIndex(updated_index).search(SearchRequest(q="zanzibarain")).suggestion == "zanzibarian"


def test_paging_past_the_end_is_empty(index: SearchIndex) -> None:
    results = index.search(SearchRequest(q="care", page=400))
    assert results.hits == [] and results.total > 0


def test_item_and_document_lookup(index: SearchIndex) -> None:
    hit = index.search(SearchRequest(q="Challenge Cards Update")).hits[0]
    item = index.get_item(hit.id)
    assert item is not None and "challenge card" in item["body"].lower()
    items = index.document_items(hit.doc_id)
    assert [i["item_title"] for i in items][:2] == ["Front matter", "Apologies and Substitutes"]
    assert index.get_item("no-such-id") is None


def test_a_date_that_cannot_be_read_is_a_query_error(index: SearchIndex) -> None:
    with pytest.raises(QueryError, match="not a date"):
        index.search(SearchRequest(q="date:[2021-13 TO 2022] fostering"))


def test_filtering_keeps_the_ranking_of_what_remains(index: SearchIndex) -> None:
    everything = index.search(SearchRequest(q="care leavers", per_page=100)).hits
    croydon = index.search(SearchRequest(q="care leavers", filters={"council": ["croydon"]}, per_page=100)).hits
    assert [h.id for h in croydon] == [h.id for h in everything if h.council == "croydon"]


def test_copy_in_a_later_pack_folds_into_the_dated_original(tmp_path: Path) -> None:
    from conftest import copy_paper

    corpus = tmp_path / "corpus"
    copy_paper("southwark/cpc_2020-11-04_agenda-pack_seed003.txt", corpus)
    original = corpus / "southwark" / "cpc_2020-07-08_minutes.txt"
    original.write_text(
        "Corporate Parenting Committee\nMINUTES of the Corporate Parenting Committee held on Wednesday 8 July 2020\n\n"
        "5. CORPORATE PARENTING STRATEGY REVIEW\n\nThe director introduced the strategy review.\n\n"
        "6. ANNUAL VIRTUAL HEADTEACHER'S REPORT\n\nThe virtual head teacher presented the report.\n",
        encoding="utf-8",
    )
    build_index(corpus, tmp_path / "index")
    results = SearchIndex(tmp_path / "index").search(
        SearchRequest(q="corporate parenting strategy review", per_page=100)
    )
    hits = [h for h in results.hits if h.item_title == "CORPORATE PARENTING STRATEGY REVIEW"]
    assert len(hits) == 1
    assert hits[0].source == "southwark/cpc_2020-07-08_minutes.txt" and not hits[0].earlier_minutes
    assert [(o["source"], o["earlier_minutes"]) for o in hits[0].other_sources] == [
        ("southwark/cpc_2020-11-04_agenda-pack_seed003.txt", True)
    ]
    assert results.total == results.facets["council"]["southwark"] == len(results.hits)


def test_words_no_item_holds_are_named_and_a_word_in_capitals_is_never_searched_as_another(
    index: SearchIndex,
) -> None:
    """An officer typing an acronym no paper holds is told so, with what the other words and meaning found,
    rather than shown results for a dictionary word ("LCWIP" was searched as "lewis", "SACRE" as "same")."""
    found = index.search(SearchRequest(q="LCWIP care leavers"))
    assert found.missing_words == ["LCWIP"] and found.total > 0 and found.showing_for is None
    assert index.search(SearchRequest(q="care leavers")).missing_words == []
    alone = index.search(SearchRequest(q="LCWIP?"))
    assert alone.missing_words == ["LCWIP"] and alone.showing_for is None
    # A misspelling in lower case is still searched as its correction, beside an acronym kept as typed; a
    # query typed with caps lock on is corrected too.
    rescued = index.search(SearchRequest(q="fostring"))
    assert rescued.showing_for == "fostering" and rescued.missing_words == []
    beside = index.search(SearchRequest(q="LCWIPs fostring"))
    assert beside.showing_for == "LCWIPs fostering" and beside.missing_words == ["LCWIPs"] and beside.total > 0
    assert index.search(SearchRequest(q="FOSTRING")).showing_for == "fostering"
    # A word of English is not a misspelling of a word the papers hold: "taxi" is not "tax", nor "decide" "decade".
    taxi = index.search(SearchRequest(q="taxi licensing"))
    assert taxi.suggestion is None and taxi.showing_for is None and taxi.missing_words == ["taxi", "licensing"]
    assert index.search(SearchRequest(q="what did we decide about Staying Put?")).showing_for is None
    # A glossary form no paper writes is not missing when papers hold what it stands for.
    assert index.search(SearchRequest(q="CLA health assessments")).missing_words == []
    assert index.search(SearchRequest(q="CLA health assessments", expand=False)).missing_words == ["CLA"]
    # Quotes and operators match strictly: their count already says when nothing holds a word.
    assert index.search(SearchRequest(q='"LCWIP" OR fostering')).missing_words == []


def test_a_question_mark_ends_a_question_and_stands_for_a_letter_inside_a_word(index: SearchIndex) -> None:
    def ids(q: str) -> list[str]:
        return [h.id for h in index.search(SearchRequest(q=q, per_page=50, semantic=False, respell=False)).hits]

    # "put?" was a wildcard: on the whole corpus the question found one item, holding "puts", not Staying Put.
    asked = ids("what did we decide about Staying Put?")
    assert asked and asked == ids("what did we decide about Staying Put")
    assert ids("how many care leavers are in EET ?") == ids("how many care leavers are in EET")
    assert ids("leav?rs") and ids("leav?rs") != ids("leav")


def test_a_word_of_english_gives_way_only_to_a_form_of_itself() -> None:
    """The speller corrects from the papers' words: a misspelling to its nearest, a word of English the papers
    lack only to a form of itself they use ("bullying" was searched as "building", "remanded detention" as
    "reminded deletion")."""
    papers = Vocabulary(Counter({"advocate": 4, "building": 9, "tax": 12, "fostering": 7, "reminded": 2}))
    papers.counts.update({"centres": 3, "favour": 2, "our": 40, "moved": 6, "five": 8})
    speller = Speller(papers)

    def held(word: str) -> bool:
        return word in papers.counts

    assert speller.correct("fostring", held) == "fostering"
    assert speller.correct("advocacy", held) == "advocate"
    assert speller.correct("bullying", held) is None
    assert speller.correct("taxi", held) is None
    assert speller.correct("remanded", held) is None
    # The word list is American: an American spelling gives way to the papers' British one, and a British word
    # the papers lack is English too ("odour" was searched as "our", "mould" as "moved", "fiber" as "five").
    assert speller.correct("center", held) == "centres" and speller.correct("favor", held) == "favour"
    assert speller.correct("odour", held) is None and speller.correct("mould", held) is None
    assert speller.correct("fiber", held) is None


def test_a_query_in_capitals_is_corrected_but_a_short_word_in_it_only_offered() -> None:
    assert offered_only("LCWIP", "lewis") and offered_only("SCHOL TRANSPORT", "school TRANSPORT")
    assert not offered_only("FOSTRING", "fostering")  # caps lock on: searched as corrected
    assert not offered_only("LCWIP fostring", "LCWIP fostering")  # the acronym was kept as typed


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("North Lincolnshire fostering", ("north-lincolnshire",)),
        ("Lincolnshire and North Lincolnshire care leavers", ("north-lincolnshire", "lincolnshire")),
        ("what did Barking & Dagenham decide about staying put?", ("barking-and-dagenham",)),
        ("Kent's fostering and Croydon’s", ("croydon", "kent")),
        ("Stockton-on-Tees fostering", ("stockton-on-tees",)),
        ("Croydonian staying put", ()),
        ("staying put NOT Croydon", ()),
        ('"Croydon" staying put', ()),
    ],
)
def test_the_councils_a_query_names_are_its_place_names_longest_first(typed: str, named: tuple[str, ...]) -> None:
    councils = [
        "lincolnshire",
        "north-lincolnshire",
        "barking-and-dagenham",
        "croydon",
        "kent",
        "stockton-on-tees",
        "unattributed",
    ]
    assert councils_typed(SearchRequest(q=typed), councils).councils_typed == named


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("early reading strategy", ()),
        ("Reading early help", ()),
        ("reading", ()),
        ("early help in Reading", ("reading",)),
        ("Croydon's early reading", ("croydon",)),
        # Every word capitalised, or in capitals: the capital says nothing.
        ("Early Reading Strategy", ()),
        ("EARLY HELP IN READING", ()),
        ("early help in READING", ()),
    ],
)
def test_a_council_whose_name_is_an_ordinary_word_is_named_only_with_a_capital(
    typed: str, named: tuple[str, ...]
) -> None:
    """Reading Borough Council's name is a word its papers and everyone else's use: "early reading strategy" is
    about reading, "early help in Reading" about Reading. A name that is no ordinary word is read as typed."""
    request = councils_typed(SearchRequest(q=typed), ["reading", "croydon"], lambda slug: slug == "reading")
    assert request.councils_typed == named


def test_an_ordinary_word_is_scored_where_it_does_not_name_the_council() -> None:
    request = councils_typed(SearchRequest(q="early reading in Reading"), ["reading"], lambda slug: True)
    assert request.councils_typed == ("reading",) and topic_words(request) == "early reading in"


def test_a_place_name_is_rare_in_other_councils_papers_and_an_ordinary_word_is_not(index: SearchIndex) -> None:
    """What says a council's name is an ordinary word: the share of the other councils' items holding it."""
    assert (
        share_elsewhere(index.terms(), "croydon") < ORDINARY_NAME_SHARE <= share_elsewhere(index.terms(), "fostering")
    )
    assert not index.ordinary_name("croydon") and index.ordinary_name("fostering")


@pytest.mark.parametrize(
    ("typed", "named", "scored"),
    [
        ("Merton corporate parenting strategy", ("merton",), "corporate parenting strategy"),
        ("Kent's care-experienced adults", ("kent",), "care-experienced adults"),
        ("Stockton-on-Tees fostering", ("stockton-on-tees",), "fostering"),
        ("staying put in North Lincolnshire?", ("north-lincolnshire",), "staying put in"),
        ("Kent fostering, Kent adoption", ("kent",), "fostering, adoption"),
        ("care leavers Croydon housing", ("croydon",), "care leavers housing"),
        # Nothing scored is left: the name is kept.
        ("Croydon", ("croydon",), "Croydon"),
        ("the Croydon", ("croydon",), "the Croydon"),
        ("What about Croydon?", ("croydon",), "What about Croydon?"),
    ],
)
def test_a_query_naming_a_council_is_scored_by_its_other_words(typed: str, named: tuple[str, ...], scored: str) -> None:
    """The council's items are lifted instead; a query of nothing but its name keeps it."""
    assert topic_words(SearchRequest(q=typed, councils_typed=named)) == scored


def test_an_alert_orders_its_new_items_as_a_search_does(index: SearchIndex) -> None:
    """A councillor following "Croydon staying put" is sent Croydon's new paper on it first, as the search shows."""
    ids = [hit.id for hit in index.search(SearchRequest(q="staying put", per_page=100)).hits]
    among = index.search_among(SearchRequest(q="Croydon staying put", per_page=100), ids)
    searched = index.search(SearchRequest(q="Croydon staying put", semantic=False)).hits
    assert among.hits[0].id == searched[0].id and among.hits[0].council == "croydon" and ids[0] != among.hits[0].id
