"""PDF extraction on real papers and on broken PDFs made on the fly."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdfmaker import make_pdf

from indexer.errors import ExtractionError
from indexer.extract_pdf import extract_pdf, join_hyphenation, remove_running_lines

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def read(relpath: str) -> bytes:
    return (CORPUS / relpath).read_bytes()


def test_kent_corporate_parenting_minutes_page_by_page() -> None:
    extracted = extract_pdf(read("kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf"), "x.pdf")
    assert [p.number for p in extracted.pages] == [1, 2, 3, 4, 5, 6]
    assert extracted.pages[0].text.startswith("CORPORATE PARENTING PANEL – 10th December 2024")
    # Item 4's title is on page 1, its "(Item 4)" marker and text on page 2: each page keeps its own text.
    assert "Participation Team Update" in extracted.pages[0].text
    assert extracted.pages[1].text.startswith("(Item 4)")
    assert "Challenge Cards Update" in extracted.pages[1].text


def test_reading_order_kept_on_printed_minutes() -> None:
    extracted = extract_pdf(read("kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf"), "x.pdf")
    first = extracted.pages[0].text
    assert "MINUTES of a meeting of the Cabinet held in the Council Chamber, Sessions" in first
    assert first.index("84.  Apologies") < first.index("85.  Declarations of Interest")
    # The bare page number printed at the foot of page 1 is dropped.
    assert "\n1\n" not in first and not first.rstrip().endswith("\n1")


def test_running_headers_removed() -> None:
    bodies = ["Apologies were received.", "The report was noted.", "Fostering update.", "Work programme.", "Close."]
    pages = [f"Corporate Parenting Panel\n{body}\nItem {n} text\nPage {n} of 5" for n, body in enumerate(bodies, 1)]
    cleaned = remove_running_lines(pages)
    assert all("Corporate Parenting Panel" not in page and "of 5" not in page for page in cleaned)
    assert cleaned[2] == "Fostering update.\nItem 3 text"


def test_item_markers_are_never_running_lines() -> None:
    pages = [f"(Item {n})\nText of item {n}" for n in range(1, 6)]
    assert remove_running_lines(pages)[0].startswith("(Item 1)")


def test_hyphenation_at_line_end_joined() -> None:
    assert (
        join_hyphenation("the place-\nment was stable; 18-\n25 year olds")
        == "the placement was stable; 18-\n25 year olds"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (make_pdf(["", ""]), "no text layer (2 pages): it needs OCR"),
        (make_pdf(["Exempt report"], encrypt=True), "encrypted"),
        (make_pdf(["1. Apologies\nNone."])[:180], "truncated or corrupt"),
        (b"<html>not a pdf</html>", "not a PDF"),
    ],
)
def test_broken_pdfs_raise_a_clear_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_pdf(data, "bad.pdf")
    assert reason in caught.value.reason
    assert caught.value.relpath == "bad.pdf"
