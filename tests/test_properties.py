"""Invariants under random input: parameters never cause a 500, splitting loses no text, ids are stable."""

from __future__ import annotations

import re
import string

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.items import split_items
from indexer.models import ExtractedText, Page
from indexer.records import item_id

HOSTILE = st.one_of(
    st.text(max_size=80),
    st.text(alphabet='"()*?~^:-+/\\ ANDORNT[]{}<>' + string.ascii_letters, max_size=40),
    st.sampled_from(
        ['"unclosed', "council:", "*", "a*", "NOT", "(((", "title:[a TO", "body:~x", "<script>alert(1)</script>"]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=HOSTILE, extra=st.sampled_from(["", "&sort=date", "&council=croydon", "&page=2", "&year=2021&decisions=1"]))
def test_search_parameters_never_cause_a_server_error(client: FlaskClient, q: str, extra: str) -> None:
    from urllib.parse import quote

    for base in ("/api/search", "/"):
        response = client.get(f"{base}?q={quote(q)}{extra}")
        assert response.status_code in (200, 400), (q, response.status_code)
        if base == "/api/search" and response.status_code == 400:
            assert set(response.get_json()) == {"error", "detail"}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.sampled_from(["page", "per_page", "from", "to", "sort", "council", "topic", "year", "decisions"]),
    value=st.text(max_size=30),
)
def test_every_parameter_answers_200_or_400(client: FlaskClient, key: str, value: str) -> None:
    response = client.get("/api/search", query_string={key: value})
    assert response.status_code in (200, 400)


LINE = st.one_of(
    st.text(alphabet=string.ascii_letters + " .,", min_size=1, max_size=60),
    st.builds(
        lambda n, t: f"{n}. {t}",
        st.integers(1, 12),
        st.text(alphabet=string.ascii_uppercase + " ", min_size=1, max_size=30),
    ),
    st.builds(
        lambda n, t: f"{n}/21 {t}",
        st.integers(1, 40),
        st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=30),
    ),
    st.just(""),
)


@settings(max_examples=200, deadline=None)
@given(pages=st.lists(st.lists(LINE, max_size=15), min_size=1, max_size=4))
def test_splitting_loses_no_text(pages: list[list[str]]) -> None:
    extracted = ExtractedText(pages=[Page(i + 1, "\n".join(lines)) for i, lines in enumerate(pages)], format="pdf")
    items = split_items(extracted, "Title")
    kept = " ".join(f"{i.number} {i.title} {i.body}" for i in items)
    for word in re.findall(r"[A-Za-z]{2,}", extracted.text):
        assert word in kept


@given(path=st.text(min_size=1, max_size=60), position=st.integers(0, 500))
def test_item_ids_are_stable_and_url_safe(path: str, position: int) -> None:
    assert item_id(path, position) == item_id(path, position)
    assert re.fullmatch(r"[0-9a-f]{12}-\d+", item_id(path, position))
