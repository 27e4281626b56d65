"""The first version's acceptance checks, on the index of the whole corpus/ that `make serve` builds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

pytestmark = pytest.mark.slow


def search(client: FlaskClient, query: str) -> dict[str, Any]:
    response = client.get(f"/api/search?{query}")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def test_staying_put_finds_the_croydon_recommendation_in_the_top_three(full_client: FlaskClient) -> None:
    results = search(full_client, "q=Staying+Put")["results"][:3]
    croydon = [r for r in results if r["council"] == "croydon" and r["date"] == "2021-03-03"]
    assert croydon, [(r["council"], r["item_title"]) for r in results]
    hit = croydon[0]
    assert hit["council_name"] == "London Borough of Croydon"
    assert hit["committee_name"] == "Corporate Parenting Panel"
    assert any(d.startswith("RECOMMENDATION: To review the Staying Put policy") for d in hit["decisions"])


def test_care_leavers_across_councils_and_filters_narrow_consistently(full_client: FlaskClient) -> None:
    everything = search(full_client, "q=care+leavers&per_page=100")
    councils = {r["council"] for r in everything["results"]}
    assert len(councils) >= 5 and len(everything["facets"]["council"]) >= 5
    kent = search(full_client, "q=care+leavers&council=kent")
    assert kent["total"] == everything["facets"]["council"]["kent"] < everything["total"]
    year, count = next(iter(kent["facets"]["year"].items()))
    narrowed = search(full_client, f"q=care+leavers&council=kent&year={year}&per_page=100")
    assert narrowed["total"] == count <= kent["total"]
    assert narrowed["facets"]["council"] == {"kent": count}
    assert {r["date"][:4] for r in narrowed["results"]} == {year}


@pytest.mark.parametrize("query", ["care leavers", "budget", "fostering", "Ofsted"])
def test_every_pdf_result_links_to_its_page(full_client: FlaskClient, query: str) -> None:
    results = search(full_client, f"q={query}&per_page=100")["results"]
    pdfs = [r for r in results if r["source"].endswith(".pdf")]
    assert pdfs
    for result in pdfs:
        assert result["source_link"] == f"/source/{result['source']}#page={result['passage_page']}"
        assert result["passage_page"] >= result["page"]
        with full_client.get(result["source_link"].split("#")[0]) as response:
            assert response.status_code == 200 and response.data[:4] == b"%PDF"


def test_pages_render_on_the_whole_corpus(full_client: FlaskClient) -> None:
    html = full_client.get("/?q=care+leavers").get_data(as_text=True)
    urls = re.findall(r'href="(/items/[^"]+)"', html)
    assert len(urls) >= 10, urls
    for url in urls[:10]:
        assert full_client.get(url.replace("&amp;", "&")).status_code == 200


def test_staying_put_shows_the_croydon_item_once_with_both_sources(full_client: FlaskClient) -> None:
    results = search(full_client, "q=Staying+Put&per_page=50")["results"]
    croydon = [r for r in results if r["council"] == "croydon" and r["date"] == "2021-03-03"]
    assert len(croydon) == 1
    hit = croydon[0]
    sources = {hit["source"]} | {o["source"] for o in hit["other_sources"]}
    assert sources == {
        "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt",
        "croydon/cpp_2021-03-03_minutes_seed000.txt",
    }
    assert hit["decisions"][0].startswith("RECOMMENDATION: To review the Staying Put policy")
    html = full_client.get("/?q=Staying+Put").get_data(as_text=True)
    assert html.count("Children in Care Performance Scorecard") == 1
    assert "Also in:" in html


def test_the_dated_original_wins_over_its_copy_in_a_later_pack(full_client: FlaskClient) -> None:
    # Every item of the corpus, page by page (an empty query lists them all).
    first = search(full_client, "q=&per_page=100")
    results = first["results"]
    for page in range(2, -(-first["total"] // 100) + 1):
        results += search(full_client, f"q=&per_page=100&page={page}")["results"]
    assert len(results) == first["total"] > 100
    # Southwark's 2020-11-04 pack reprints the minutes of 2020-07-08: those items are shown, dated with
    # the earlier meeting, and flagged as earlier minutes.
    earlier = [r for r in results if r["earlier_minutes"]]
    assert ("southwark/cpc_2020-11-04_agenda-pack_seed003.txt", "2020-07-08") in {
        (r["source"], r["date"]) for r in earlier
    }
    assert "CORPORATE PARENTING STRATEGY REVIEW" in {r["item_title"] for r in earlier}
    # A copy in a later pack is shown only when no original of the item is indexed; where there is one,
    # the original is shown and the copy listed among its other sources.
    for result in earlier:
        assert all(o["earlier_minutes"] for o in result["other_sources"]), result["item_title"]
    for result in results:
        if any(o["earlier_minutes"] for o in result["other_sources"]):
            assert not result["earlier_minutes"], result["item_title"]
