"""The query parser: the tree each way of writing a query gives, and that no text makes it fail."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search_app.query import (
    And,
    Every,
    Not,
    Or,
    Pattern,
    Phrase,
    Range,
    Term,
    is_bare_words,
    parse,
    plan_query,
    question_words_removed,
    typed_pairs,
)
from search_app.results import QueryError


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("care NOT fostering", And((Term("care"), Not(Term("foster"))))),
        ("fostering OR adoption panel", Or((Term("foster"), And((Term("adopt"), Term("panel")))))),
        ('"corporate parenting"', Phrase(("corpor", "parent"))),
        ('"staying put"~3^2', Phrase(("stai", "put"), slop=3, boost=2.0)),
        ("title:(budget council)", And((Term("budget", "title"), Term("council", "title")))),
        ("council:Kent fostering", And((Term("kent", "council"), Term("foster")))),
        ("topic:staying-put", Term("staying-put", "topics")),
        ("date:[2020 TO 2021-06]", Range("date", "2020", "2021-06")),
        ("year:{2019 TO *}", Range("year", "2019", "", include_low=False, include_high=False)),
        ("foster*", Pattern("foster*", "wildcard")),
        ("leav?rs", Pattern("leav?r", "wildcard")),
        ("fostring~2", Pattern("fostr", "fuzzy", distance=2)),
        ("(care leavers)^2 housing", And((And((Term("care"), Term("leaver")), boost=2.0), Term("hous")))),
        ("foo:bar", And((Term("foo"), Term("bar")))),
    ],
)
def test_each_way_of_writing_a_query_gives_its_tree(text: str, tree: object) -> None:
    assert parse(text) == tree


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('"unclosed words', {"unclos", "word"}),
        ("(care leavers", {"care", "leaver"}),
        ("care leavers)", {"care", "leaver"}),
        ("care AND", {"care"}),
        ("NOT", set()),
        ("OR OR", set()),
    ],
)
def test_unfinished_syntax_still_searches_what_was_typed(text: str, words: set[str]) -> None:
    found = set()
    for leaf in leaves_of(parse(text)):
        found.update([leaf.text] if isinstance(leaf, Term) else leaf.words if isinstance(leaf, Phrase) else [])
    assert found == words


def leaves_of(node: object) -> list[object]:
    if isinstance(node, And | Or):
        return [leaf for part in node.parts for leaf in leaves_of(part)]
    if isinstance(node, Not):
        return leaves_of(node.part)
    return [node]


def test_plain_words_match_any_word_and_keep_their_order_for_the_phrase_bonus() -> None:
    plan = plan_query("what did we decide about staying put for care leavers", expand=False)
    assert plan.plain and plan.text == "decide staying put for care leavers"
    assert plan.root == Or(tuple(Term(s) for s in ("decid", "stai", "put", "care", "leaver")))
    assert plan.words == ("decid", "stai", "put", "care", "leaver")
    assert plan_query("").root == Every()


def test_the_plain_query_check_is_one_rule() -> None:
    for text in ("care leavers", "EET", "post-16 education"):
        assert is_bare_words(text)
    for text in ('"care leavers"', "care AND leavers", "council:kent", "foster*", "word~", "a^2", "(a b)"):
        assert not is_bare_words(text)
    assert question_words_removed('what about "care leavers"') == 'what about "care leavers"'


def test_glossary_variants_count_for_the_form_they_stand_for() -> None:
    plan = plan_query("NEET care leavers")
    neet = [v for v in plan.variants if "educ" in v.equivalent_words]
    assert neet and all(v.other_words == ("care", "leaver") for v in neet)
    assert all(v.weight == pytest.approx(1 / len(v.equivalent_words)) for v in neet)


@pytest.mark.parametrize(
    ("text", "message"),
    [("f*", "at least 2 letters"), ("ab* cd* ef* gh*", "at most 3 wildcard"), ("*", "at least 2 letters")],
)
def test_wildcards_that_would_expand_too_far_are_refused(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        plan_query(text)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=60), st.text(alphabet='"()*?~^:[]{}-+ ANDORTNx' + string.ascii_lowercase)))
@example(text="ANDNOT ")  # an operator with nothing after it: found by this test on 2026-12-06 (IndexError)
@example(text="care ANDNOT\t")
def test_the_parser_never_fails_on_any_text(text: str) -> None:
    parse(text)
    try:
        plan_query(text)
    except QueryError:
        pass


@pytest.mark.parametrize(
    ("typed", "pairs"),
    [
        ("Ofsted focused visit", (("ofst", "focus"), ("focus", "visit"))),
        # A dropped word between two words does not make them a name.
        ("awards for children in care", ()),
        ("what did we decide about Staying Put", (("stai", "put"),)),
        ("care leavers, care leavers", (("care", "leaver"), ("leaver", "care"))),
        ("LADO", ()),
    ],
)
def test_the_pairs_typed_side_by_side(typed: str, pairs: tuple[tuple[str, str], ...]) -> None:
    assert typed_pairs(typed) == pairs
    assert plan_query(typed).pairs == pairs
    assert plan_query(f'"{typed}"').pairs == (), "quotes already say what stands together"
