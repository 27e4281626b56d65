"""Pages render, link to items and sources, agree with the API, and keep paper text as text."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def facet_counts_on_page(html: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for facet, block in re.findall(r'<ul class="govuk-list govuk-body-s" data-facet="(\w+)">(.*?)</ul>', html, re.S):
        counts[facet] = {v: int(n) for v, n in re.findall(r'data-value="([^"]+)" data-count="(\d+)"', block)}
    return counts


def test_home_page_says_what_is_covered(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "agenda items from" in html and "Search council committee papers" in html


def test_search_page_facets_match_the_api(client: FlaskClient) -> None:
    page = client.get("/?q=care+leavers").get_data(as_text=True)
    api = client.get("/api/search?q=care+leavers").get_json()
    assert facet_counts_on_page(page) == {k: v for k, v in api["facets"].items() if v}
    assert f'data-total="{api["total"]}"' in page


def test_result_links_to_item_and_source_page(client: FlaskClient) -> None:
    html = client.get("/?q=Challenge+Cards").get_data(as_text=True)
    # The item starts on page 2; the passage shown (the panel noting the challenge card progress) is on page 3.
    assert re.search(r'href="/source/kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf#page=3"', html)
    assert "notes the <mark>challenge</mark> <mark>card</mark> progress" in html
    item_url = re.search(r'href="(/items/[^"?]+)', html).group(1)  # type: ignore[union-attr]
    item = client.get(item_url + "?q=challenge")
    assert item.status_code == 200
    text = item.get_data(as_text=True)
    assert "<mark>challenge</mark>" in text.lower() and "Cite as" in text and "page 2" in text


def test_source_served_only_when_indexed(client: FlaskClient) -> None:
    with client.get("/source/kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf") as ok:
        assert ok.status_code == 200 and ok.data.startswith(b"%PDF")
    for path in (
        "/source/../pyproject.toml",
        "/source/kent/council.json",
        "/source/%2e%2e/%2e%2e/etc/passwd",
        "/source//etc/passwd",
    ):
        with client.get(path, follow_redirects=True) as response:
            assert response.status_code == 404, path


def test_bad_parameter_is_a_friendly_400_page(client: FlaskClient) -> None:
    response = client.get("/?q=care&from=yesterday")
    assert response.status_code == 400
    assert "from must be a real date" in response.get_data(as_text=True)


def test_no_results_page_says_what_was_searched(client: FlaskClient) -> None:
    html = client.get("/?q=zzzqqqxxx").get_data(as_text=True)
    assert "No agenda items found" in html and "zzzqqqxxx" in html and "councils" in html


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for path in ("/", "/api/search?q=care", "/items/missing"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_filter_links_toggle(client: FlaskClient) -> None:
    html = client.get("/?q=care+leavers&council=croydon").get_data(as_text=True)
    assert "Remove council London Borough of Croydon" in html
    assert 'href="/?q=care+leavers"' in html


def test_every_page_describes_itself_and_has_the_icon(client: FlaskClient) -> None:
    hit = client.get("/api/search?q=Staying+Put&council=croydon").get_json()["results"][0]
    descriptions = {}
    for path in ["/", "/?q=Staying+Put", f"/items/{hit['id']}", f"/papers/{hit['doc_id']}", "/compare?q=EET", "/api"]:
        html = client.get(path).get_data(as_text=True)
        found = re.search(r'<meta name="description" content="([^"]+)">', html)
        assert found and 50 <= len(found.group(1)) <= 300, path
        assert '<link rel="icon" href="/favicon.ico"' in html
        descriptions[path] = found.group(1)
    assert "Staying Put" in descriptions["/?q=Staying+Put"]
    assert (
        hit["item_title"] in descriptions[f"/items/{hit['id']}"] and "2021-03-03" in descriptions[f"/items/{hit['id']}"]
    )
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
        assert icon.headers["Cache-Control"] == "public, max-age=31536000"


def test_robots_txt_keeps_crawlers_out_of_exports_api_and_alert_links(client: FlaskClient) -> None:
    robots = client.get("/robots.txt")
    assert robots.status_code == 200 and robots.mimetype == "text/plain"
    disallowed = re.findall(r"^Disallow: (\S+)$", robots.get_data(as_text=True), flags=re.M)
    assert set(disallowed) == {"/search.csv", "/search.atom", "/compare.csv", "/api/", "/alerts/"}


def test_item_descriptions_are_one_clean_line_of_bounded_length(client: FlaskClient) -> None:
    items = client.get("/api/search?per_page=100").get_json()["results"]
    assert len(items) >= 20
    for hit in items:
        html = client.get(f"/items/{hit['id']}").get_data(as_text=True)
        description = re.search(r'<meta name="description" content="([^"]*)">', html).group(1)  # type: ignore[union-attr]
        assert 30 <= len(description) <= 300 and not re.search(r"[\x00-\x1f<>]", description), hit["id"]


def test_the_page_names_the_words_no_item_holds(client: FlaskClient) -> None:
    html = client.get("/?q=LCWIP+care+leavers").get_data(as_text=True)
    notice = re.search(r'id="missing-words">(.*?)</p>', html, re.S)
    assert notice and "No item contains <strong>LCWIP</strong>." in notice.group(1)
    assert "hold your other words" in notice.group(1)
    assert 'id="missing-words"' not in client.get("/?q=care+leavers").get_data(as_text=True)
    # Every word missing: the results were all found by meaning, and the page does not speak of other words.
    alone = re.search(r'id="missing-words">(.*?)</p>', client.get("/?q=LCWIP").get_data(as_text=True), re.S)
    assert alone and "other words" not in alone.group(1)


def test_a_council_named_in_the_words_is_offered_as_a_filter(client: FlaskClient) -> None:
    """Papers seldom name their own council, so "Croydon staying put" offers Croydon's items, not a word search."""
    html = client.get("/?q=Croydon+staying+put").get_data(as_text=True)
    offer = re.search(r'id="council-named">(.*?)</p>', html, re.S)
    assert (
        offer
        and "council=croydon" in offer.group(1)
        and "raised by how well they match your other words" in offer.group(1)
    )
    answer = client.get("/api/search?q=Croydon staying put").get_json()
    assert answer["councils_named"] == ["croydon"] and "Croydon" not in answer["missing_words"]
    assert 'id="council-named"' not in client.get("/?q=Croydon+staying+put&council=croydon").get_data(as_text=True)
    assert client.get("/api/search?q=staying put").get_json()["councils_named"] == []


def test_a_council_named_in_the_words_has_its_matches_first(client: FlaskClient) -> None:
    """ "Croydon staying put" asks for Croydon's papers on it, which seldom write "Croydon": its paper on Staying
    Put comes first, above Kirklees' Staying Put policy, but its papers on other things (that name Croydon and
    nothing of Staying Put) do not: a lift by how well they match the other words, not a filter."""
    plain = client.get("/api/search?q=staying put&per_page=50").get_json()["results"]
    assert plain[0]["council"] != "croydon"
    croydons = [hit["id"] for hit in plain if hit["council"] == "croydon"]
    named = client.get("/api/search?q=Croydon staying put&per_page=50").get_json()["results"]
    assert named[0]["id"] == croydons[0] and named[1]["id"] == plain[0]["id"]
    assert {hit["council"] for hit in named} > {"croydon"}
    # A misspelt council name is read as the correction shown.
    corrected = client.get("/api/search?q=Croydn staying put&per_page=5").get_json()
    assert corrected["showing_results_for"] == "croydon staying put" and corrected["councils_named"] == ["croydon"]
    assert corrected["results"][0]["id"] == croydons[0]
    # An operator query names no council to lift.
    excluded = client.get("/api/search?q=staying put NOT Croydon&per_page=50").get_json()
    assert excluded["councils_named"] == [] and excluded["results"][0]["council"] != "croydon"
    # Filtered to another council, the page offers to include the named one, not to show only it.
    html = client.get("/?q=Croydon+staying+put&council=kent").get_data(as_text=True)
    offer = re.search(r'id="council-named">(.*?)</p>', html, re.S)
    assert offer and "include its items" in offer.group(1) and "council=kent&amp;council=croydon" in offer.group(1)
