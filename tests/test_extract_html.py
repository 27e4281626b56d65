"""HTML extraction on a constructed ModernGov page (no whole real page exists in the corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import ExtractionError
from indexer.extract_html import extract_html

PAGE = Path(__file__).resolve().parent / "data" / "constructed_moderngov_agenda_and_minutes.html"


def test_meeting_page_rows_become_items() -> None:
    extracted = extract_html(PAGE.read_bytes(), "croydon/page.html")
    assert extracted.items is not None
    assert [(i.number, i.title) for i in extracted.items] == [
        ("12/21", "Minutes of the previous meeting"),
        ("16/21", "Children in Care Performance Scorecard"),
        ("18/21", "Review of Missing Children"),
    ]
    scorecard = extracted.items[1].text
    assert "RECOMMENDATION: To review the Staying Put policy" in scorecard
    assert "View the decision" not in scorecard


def test_navigation_scripts_and_cookie_banners_dropped() -> None:
    extracted = extract_html(PAGE.read_bytes(), "croydon/page.html")
    text = extracted.text
    assert "Corporate Parenting Panel - Wednesday, 3rd March, 2021 5.00 pm" in text
    for clutter in ("We use cookies", "do not index me", "Skip to main content", "Councillors", "Copyright"):
        assert clutter not in text
    assert extracted.title.startswith("Agenda for Corporate Parenting Panel")


def test_markup_in_paper_text_stays_text() -> None:
    extracted = extract_html(PAGE.read_bytes(), "croydon/page.html")
    assert "<script>alert(1)</script>" in extracted.items[2].text  # type: ignore[index]


def test_cp1252_page_with_wrong_charset_declaration() -> None:
    html = "<html><head><meta charset='utf-8'></head><body><p>Children’s services – “Staying Put”</p></body></html>"
    extracted = extract_html(html.encode("cp1252"), "x.html")
    assert "Children’s services – “Staying Put”" in extracted.text


@pytest.mark.parametrize(("data", "reason"), [(b"%PDF-1.4 binary", "really a PDF"), (b"\x00\x01\x02binary", "binary")])
def test_html_that_is_not_html(data: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError, match=reason):
        extract_html(data, "x.html")
