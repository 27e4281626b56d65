"""The JSON API contract: fields of every result, facets, item bodies, and errors as JSON 4xx."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

RESULT_FIELDS = {
    "id", "doc_id", "council", "council_name", "committee", "committee_name", "date", "doc_type", "title",
    "item_number", "item_title", "topics", "decisions", "snippet", "source", "page", "source_url", "url", "score",
}  # fmt: skip


def test_search_contract(client: FlaskClient) -> None:
    data = client.get("/api/search?q=Staying+Put&per_page=5").get_json()
    assert {"query", "total", "page", "per_page", "results", "facets", "suggestion"} <= set(data)
    assert data["query"] == "Staying Put" and data["page"] == 1 and data["per_page"] == 5
    assert set(data["facets"]) == {"council", "topic", "year", "committee", "doc_type"}
    assert 0 < len(data["results"]) <= 5
    for result in data["results"]:
        assert RESULT_FIELDS <= set(result)
        assert isinstance(result["topics"], list) and isinstance(result["decisions"], list)
        assert result["url"] == f"/items/{result['id']}"


def test_misspelt_query_answers_for_the_corrected_spelling(client: FlaskClient) -> None:
    data = client.get("/api/search?q=fostring").get_json()
    assert data["query"] == "fostring" and data["showing_results_for"] == "fostering" and data["total"] > 0
    exact = client.get("/api/search?q=fostring&respell=0").get_json()
    assert exact["total"] == 0 and exact["showing_results_for"] is None and exact["suggestion"] == "fostering"
    page = client.get("/?q=fostring").get_data(as_text=True)
    assert "Showing results for <strong>fostering</strong>" in page and "respell=0" in page


def test_item_endpoint_returns_full_body(client: FlaskClient) -> None:
    hit = client.get("/api/search?q=Staying+Put&council=croydon").get_json()["results"][0]
    item = client.get(f"/api/items/{hit['id']}").get_json()
    assert item["id"] == hit["id"]
    assert "RECOMMENDATION: To review the Staying Put policy" in item["body"]
    assert len(item["body"]) > len(hit["snippet"])


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("per_page=1000", "per_page"),
        ("sort=random", "sort"),
        ("from=2021-13-01", "from"),
        ("from=2021-03-04&to=2021-03-01", "from"),
        ("council=%3Cscript%3E", "council"),
        ("q=" + "x" * 501, "q"),
    ],
)
def test_bad_parameters_are_json_400s(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"error", "detail"}
    assert parameter in body["error"]


def test_unknown_item_and_route_are_json_404s(client: FlaskClient) -> None:
    for path in ("/api/items/does-not-exist", "/api/nothing-here"):
        response = client.get(path)
        assert response.status_code == 404
        assert set(response.get_json()) == {"error", "detail"}


def test_unknown_filter_value_gives_no_results_not_an_error(client: FlaskClient) -> None:
    data = client.get("/api/search?q=care&council=atlantis").get_json()
    assert data["total"] == 0 and data["results"] == []


def test_item_records_where_its_metadata_came_from(client: FlaskClient) -> None:
    hit = client.get("/api/search?q=CORPORATE+PARENTING+STRATEGY+REVIEW&council=southwark").get_json()["results"][0]
    assert hit["earlier_minutes"] is True and hit["date"] == "2020-07-08"
    item = client.get(f"/api/items/{hit['id']}").get_json()
    assert item["provenance"]["committee"] == "sidecar"
    assert item["provenance"]["date"] == "text (minutes of the earlier meeting)"


def test_repeated_fetches_are_answered_304_without_a_body(client: FlaskClient) -> None:
    for path in ["/api/search?q=Staying+Put", "/search.csv?q=Staying+Put", "/api/openapi.json"]:
        first = client.get(path)
        assert first.status_code == 200 and first.headers["ETag"] and first.headers["Cache-Control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"", path
        other = client.get(path.replace("Staying+Put", "fostering"), headers={"If-None-Match": first.headers["ETag"]})
        assert other.status_code == 200 or path.endswith("openapi.json")
    source = client.get("/api/search?q=Staying+Put&council=croydon").get_json()["results"][0]["source_link"]
    with client.get(source) as first:
        assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
        for header in ({"If-None-Match": first.headers["ETag"]}, {"If-Modified-Since": first.headers["Last-Modified"]}):
            with client.get(source, headers=header) as again:
                assert again.status_code == 304 and again.data == b""


def test_a_method_not_allowed_says_which_are(client: FlaskClient) -> None:
    response = client.delete("/api/search?q=care")
    assert response.status_code == 405 and set(response.get_json()) == {"error", "detail"}
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_exports_answer_errors_as_json(client: FlaskClient) -> None:
    for path in ["/search.csv?page=0", "/search.atom?sort=random", "/compare.csv?from=2021-02-30"]:
        response = client.get(path)
        assert response.status_code == 400 and response.mimetype == "application/json"
        assert set(response.get_json()) == {"error", "detail"}


def test_unknown_on_off_values_are_refused_not_guessed(client: FlaskClient) -> None:
    assert client.get("/api/search?q=care&expand=maybe").status_code == 400
    assert client.get("/api/search?q=care&semantic=off").get_json()["semantic"] is False
    assert client.get("/api/search?q=care&council=Croydon").get_json()["filters"] == {"council": ["croydon"]}
    assert client.get("/api/search?q=care&topic=&from=&to=").status_code == 200  # blank form fields
    assert client.get("/api/search?q=care&page=%D9%A1").status_code == 400  # not an ASCII digit
    assert client.get("/api/search?q=care&council=croydon%0A").status_code == 400


def test_pages_and_saved_alerts_read_urls_as_forgivingly_as_before(client: FlaskClient) -> None:
    """People's links and alerts saved before the contract keep working; the API holds to the contract."""
    for query in ("decisions=True&semantic=FALSE", "from=2021-01-01%20", "sort=&page=", "expand=maybe"):
        assert client.get(f"/?q=care&{query}").status_code == 200, query
    assert client.get("/api/search?q=care&decisions=True").status_code == 400
    feed = client.get("/search.atom?q=care&council=croydon&council=kent&endpoint=x").get_data(as_text=True)
    assert "council=croydon&amp;council=kent" in feed
