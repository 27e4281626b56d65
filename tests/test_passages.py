"""The passage that matched: a rare word deep in a long PDF is the snippet, and the source opens at its page."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from indexer.extract import extract_file
from indexer.items import PAGE_BREAK, split_items

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
# Kent's 2025-28 budget templates: one 100,000-character item over 24 pages; "Archives" first on page 6.
APPENDIX = "kent/cabinet_2025-01-30_Appendix_F_List_of_Budget_Templates.pdf"


def test_an_item_marks_where_each_page_of_its_source_begins() -> None:
    extracted = extract_file(CORPUS / APPENDIX, APPENDIX)
    [item] = split_items(extracted, "Appendix F", single=True)
    assert item.body.count(PAGE_BREAK) == len(extracted.pages) - item.page
    for number, piece in enumerate(item.body.split(PAGE_BREAK), start=item.page):
        words = re.findall(r"[A-Za-z]{5,}", piece)[:3]
        page_text = extracted.pages[number - 1].text
        assert all(word in page_text for word in words), number


def test_the_snippet_is_the_passage_holding_the_rare_word_and_links_to_its_page(full_client: FlaskClient) -> None:
    results = full_client.get("/api/search?q=archives&council=kent&per_page=50").get_json()["results"]
    [hit] = [r for r in results if r["source"] == APPENDIX]
    assert "<mark>Archives</mark>" in hit["snippet"]
    assert hit["page"] == 1 and hit["passage_page"] > 1
    assert hit["source_link"].endswith(f"#page={hit['passage_page']}")
    pages = extract_file(CORPUS / APPENDIX, APPENDIX).pages
    first = next(p.number for p in pages if "Archives" in p.text)
    assert hit["passage_page"] == first
    item_page = full_client.get(f"{hit['url']}?q=archives").get_data(as_text=True)
    assert f"{APPENDIX}#page={first}" in item_page
    assert "[page 2]" in item_page


def test_a_short_word_s_passage_is_found_and_shown_with_what_follows(full_client: FlaskClient) -> None:
    # "EHCP" is shorter than the five letters words are keyed by, and the appendix writes "EHCPs": the passage
    # holding it with "within 20 weeks" must be the snippet, those words included, on its page.
    results = full_client.get("/api/search?q=EHCP+assessments+within+20+weeks&council=kent").get_json()["results"]
    [hit] = [r for r in results if r["source"].endswith("QPR_Q3_Cabinet_appendix_1.pdf")]
    assert "<mark>EHCPs</mark>) issued <mark>within</mark> <mark>20</mark> <mark>weeks</mark>" in hit["snippet"]
    assert hit["passage_page"] > hit["page"]


def test_no_window_outweighs_the_most_a_window_can_hold() -> None:
    # find_passage stops looking once the opening holds this much: a key that begins with a shorter key
    # ("weeks" after "week") is never counted, so it is no part of the most.
    from search_app.snippets import most_weight, window_weight, word_pattern

    weights = {"weeks": 2.8, "week": 2.8, "ehcp": 5.0}
    text = "EHCPs issued within 20 weeks; the week before, weeks later."
    pattern = word_pattern(["weeks", "week", "ehcp"])
    assert pattern is not None
    assert most_weight(weights) == 7.8
    assert window_weight(text, 0, pattern, weights) == most_weight(weights)
