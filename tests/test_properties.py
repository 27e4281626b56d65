"""Invariants under random input: parameters never cause a 500, splitting loses no text, ids are stable."""

from __future__ import annotations

import re
import shutil
import string
from pathlib import Path
from urllib.parse import quote

from conftest import SUBSET
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.build import build_index
from indexer.items import split_items
from indexer.models import ExtractedText, Page
from indexer.records import item_id
from search_app import create_app

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


@given(
    first=st.tuples(st.text(min_size=1, max_size=60), st.integers(0, 500)),
    second=st.tuples(st.text(min_size=1, max_size=60), st.integers(0, 500)),
)
def test_item_ids_are_url_safe_and_differ_by_path_and_position(first: tuple[str, int], second: tuple[str, int]) -> None:
    for path, position in (first, second):
        assert re.fullmatch(r"[0-9a-f]{12}-\d+", item_id(path, position))
        assert item_id(path, position).endswith(f"-{position}")
    assert (item_id(*first) == item_id(*second)) == (first == second)


def all_items(client: FlaskClient) -> dict[str, tuple[str, int, str, str]]:
    """Returns id -> (source, page, item number, item title) of every item an index holds, via the JSON API."""
    ids: list[str] = []
    page = 1
    while True:
        response = client.get(f"/api/search?q=&sort=oldest&per_page=100&page={page}")
        assert response.status_code == 200
        results = response.get_json()["results"]
        if not results:
            break
        for result in results:
            ids += [result["id"], *(other["id"] for other in result["other_sources"])]
        page += 1
    assert len(ids) == len(set(ids))
    items = {}
    for found in ids:
        item = client.get(f"/api/items/{found}").get_json()
        assert item["id"] == found
        items[found] = (item["source"], item["page"], item["item_number"], item["item_title"])
    return items


def test_item_ids_survive_a_rebuild_elsewhere(client: FlaskClient, corpus_subset: Path, tmp_path: Path) -> None:
    # The same papers copied to another folder and indexed afresh (a full build, no embeddings).
    moved = tmp_path / "moved-corpus"
    shutil.copytree(corpus_subset, moved)
    report = build_index(moved, tmp_path / "index", full=True, embeddings=False)
    assert not report.failed, report.failed
    rebuilt = create_app({"INDEX_DIR": str(tmp_path / "index"), "CORPUS_DIR": str(moved), "TESTING": True})
    before, after = all_items(client), all_items(rebuilt.test_client())
    # Every paper of the subset is reached (the ModernGov committee list is metadata, not a paper).
    assert {source for source, *_ in before.values()} == set(SUBSET) - {"gloucester/mgWebService_GetCommittees.xml"}
    assert after == before
    for found, (source, *_) in before.items():
        assert re.fullmatch(r"[0-9a-f]{12}-\d+", found) and quote(found, safe="") == found
        # An item's id names its paper: every item of one paper shares the prefix, and no other paper's.
        assert found.split("-")[0] == item_id(source, 0).split("-")[0]
