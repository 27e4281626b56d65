"""Hostile input and output: markup in papers shown as text, over-limit queries answered with 400s, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_paper
from flask.testing import FlaskClient

from indexer.build import build_index
from search_app import create_app

HOSTILE_PAPER = """Agenda item

Fostering <script>alert('xss')</script> Update

Minutes:

The Panel discussed foster carers <img src=x onerror=alert(1)> and "quoted" text & more.

RESOLVED: That the <b>fostering</b> report be noted <script>steal()</script>.
"""


@pytest.fixture(scope="module")
def hostile_client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    copy_paper("croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt", corpus)
    (corpus / "croydon" / "hostile.txt").write_text(HOSTILE_PAPER, encoding="utf-8")
    index_dir = tmp_path_factory.mktemp("hostile-index")
    build_index(corpus, index_dir)
    return create_app({"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus)}).test_client()


def test_markup_in_papers_is_text_in_results_and_item_pages(hostile_client: FlaskClient) -> None:
    page = hostile_client.get("/?q=fostering").get_data(as_text=True)
    api = hostile_client.get("/api/search?q=fostering").get_json()
    item_id = next(r["id"] for r in api["results"] if r["source"] == "croydon/hostile.txt")
    item_page = hostile_client.get(f"/items/{item_id}?q=fostering").get_data(as_text=True)
    for html in (page, item_page):
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>fostering</b>" not in html
        assert "&lt;script&gt;" in html or "&lt;img" in html
    snippet = next(r["snippet"] for r in api["results"] if r["id"] == item_id)
    assert "<img" not in snippet and "<script" not in snippet and "<mark>" in snippet


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("f*", "at least 2 letters"),
        ("ab* cd* ef* gh*", "at most 3 wildcard"),
        ("x" * 600, "at most 500"),
    ],
)
def test_over_limit_queries_are_400s(client: FlaskClient, query: str, message: str) -> None:
    api = client.get("/api/search", query_string={"q": query})
    assert api.status_code == 400 and message in api.get_json()["detail"]
    page = client.get("/", query_string={"q": query})
    assert page.status_code == 400 and message in page.get_data(as_text=True)


def test_an_unexpected_error_is_a_500_without_its_traceback(
    index_dir: Path, corpus_subset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The app as `cpsearch serve` creates it (not TESTING), with one test-only route of each kind that fails.
    app = create_app({"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset)})
    assert app.debug is False

    def fail() -> str:
        raise RuntimeError("secret-traceback-marker")

    app.add_url_rule("/api/test-failure", "api_test_failure", fail)
    app.add_url_rule("/test-failure", "page_test_failure", fail)
    client = app.test_client()

    api = client.get("/api/test-failure")
    assert api.status_code == 500 and api.is_json
    assert set(api.get_json()) == {"error", "detail"} and api.get_json()["error"] == "internal error"
    page = client.get("/test-failure")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "Internal error" in page.get_data(as_text=True)
    for response in (api, page):
        body = response.get_data(as_text=True)
        assert "secret-traceback-marker" not in body and "Traceback" not in body and "RuntimeError" not in body
    # The traceback goes to the log instead.
    assert any("secret-traceback-marker" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_source_links_cannot_escape_the_corpus(client: FlaskClient, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    for path in (
        f"/source/{outside}",
        "/source/..%2f..%2fetc%2fpasswd",
        "/source/croydon/%2e%2e/%2e%2e/pyproject.toml",
        "/source/%00",
        "/source/croydon/%00/../../pyproject.toml",
        "/papers/%00",
    ):
        with client.get(path, follow_redirects=True) as response:
            assert response.status_code == 404 and b"secret" not in response.data
