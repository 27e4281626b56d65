"""CSV exports, Atom feeds, the compare grid and the paper page."""

from __future__ import annotations

import csv
import io
from xml.etree import ElementTree as ET

from flask.testing import FlaskClient

ATOM = "{http://www.w3.org/2005/Atom}"


def test_search_csv_has_every_result(client: FlaskClient) -> None:
    api = client.get("/api/search?q=care+leavers&per_page=100").get_json()
    response = client.get("/search.csv?q=care+leavers")
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == api["total"]
    assert [r["item_title"] for r in rows[:5]] == [r["item_title"] for r in api["results"][:5]]
    assert rows[0]["url"].startswith("http://localhost/items/")


def test_atom_feed_newest_first(client: FlaskClient) -> None:
    response = client.get("/search.atom?q=care+leavers")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    entries = feed.findall(f"{ATOM}entry")
    assert entries and feed.find(f"{ATOM}title").text == "Council papers: care leavers"  # type: ignore[union-attr]
    dated = [e.find(f"{ATOM}updated").text for e in entries]  # type: ignore[union-attr]
    assert dated[: len(dated) // 2] == sorted(dated[: len(dated) // 2], reverse=True)
    assert all(e.find(f"{ATOM}link").get("href", "").startswith("http://localhost/items/") for e in entries)  # type: ignore[union-attr]


def test_compare_grid_counts_items_holding_every_word(client: FlaskClient) -> None:
    # The result list ranks every item holding any word (and near in meaning); the grid counts only the
    # items holding them all, the same items as the strict search.
    strict = client.get("/api/search?q=care+AND+leavers&expand=0").get_json()
    rows = list(csv.reader(io.StringIO(client.get("/compare.csv?q=care+leavers&expand=0").get_data(as_text=True))))
    header, body = rows[0], rows[1:]
    totals = {row[0]: int(row[header.index("total")]) for row in body}
    assert totals == strict["facets"]["council"]
    listed = client.get("/api/search?q=care+leavers&expand=0").get_json()["facets"]["council"]
    assert all(listed[council] >= count for council, count in totals.items())
    croydon = next(row for row in body if row[0] == "croydon")
    assert (
        int(croydon[header.index("2021")])
        == client.get("/api/search?q=care+AND+leavers&expand=0&council=croydon&year=2021").get_json()["total"]
    )
    html = client.get("/compare?q=care+leavers").get_data(as_text=True)
    assert 'id="mentions-chart"' in html and "/?q=care+leavers&amp;council=croydon&amp;year=2021" in html


def test_compare_counts_a_glossary_term_typed_as_the_term(client: FlaskClient) -> None:
    """ "staying put" counts the items on Staying Put, not every paper holding "staying" and "put" apart."""
    rows = list(csv.DictReader(io.StringIO(client.get("/compare.csv?q=staying+put&expand=0").get_data(as_text=True))))
    phrase = client.get('/api/search?q="staying put"&expand=0').get_json()["facets"]["council"]
    apart = client.get("/api/search?q=staying AND put&expand=0").get_json()["facets"]["council"]
    assert {row["council"]: int(row["total"]) for row in rows} == phrase != apart


def test_paper_page_lists_items_in_order(client: FlaskClient) -> None:
    html = client.get("/papers/kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf").get_data(as_text=True)
    assert html.index("Apologies and Substitutes") < html.index("Challenge Cards Update") < html.index("Work programme")
    assert "#page=2" in html
    assert client.get("/papers/kent/nothing.pdf").status_code == 404


def test_item_page_offers_more_like_this_and_other_councils(client: FlaskClient) -> None:
    hit = client.get("/api/search?q=council+tax+exemption&council=exeter").get_json()["results"][0]
    html = client.get(f"/items/{hit['id']}").get_data(as_text=True)
    assert 'id="more-like-this"' in html and 'id="same-topic"' in html
    assert "Compare councils on this topic" in html
