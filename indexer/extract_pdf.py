"""PDF -> text page by page with pdfminer.six, running headers, footers and hyphenation removed."""

from __future__ import annotations

import io
import re
from collections import Counter

from pdfminer.high_level import extract_pages
from pdfminer.layout import LAParams, LTTextContainer
from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
from pdfminer.pdfparser import PDFSyntaxError
from pdfminer.psparser import PSException

from indexer.errors import ExtractionError
from indexer.extract_text import normalise_text
from indexer.models import ExtractedText, Page
from indexer.patterns import FOLDED_PAGE_FOOTER, ITEM_MARKER, PAGE_NUMBER_LINE

# pdfminer's default char_margin scrambles word order on justified two-column pages;
# 6 kept sentences intact in our measurements (DESIGN.md, dependency decisions).
LAYOUT = LAParams(char_margin=6)
EDGE_LINES = 3
MIN_CHARS_PER_PAGE = 20


def extract_pdf(data: bytes, relpath: str) -> ExtractedText:
    """Returns the text of each page of a PDF; raises ExtractionError with the reason it cannot."""
    if not data.startswith(b"%PDF"):
        raise ExtractionError(relpath, "file is named .pdf but is not a PDF (no %PDF header)")
    try:
        raw_pages = [layout_text(page) for page in extract_pages(io.BytesIO(data), laparams=LAYOUT)]
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise ExtractionError(relpath, f"PDF is encrypted and cannot be read ({type(exc).__name__})") from exc
    except (PDFSyntaxError, PSException) as exc:
        raise ExtractionError(relpath, f"PDF is truncated or corrupt ({exc or type(exc).__name__})") from exc
    except Exception as exc:  # pdfminer raises many internal types on damaged files
        raise ExtractionError(relpath, f"PDF could not be parsed ({type(exc).__name__}: {exc})") from exc
    if not raw_pages:
        raise ExtractionError(relpath, "PDF has no pages")
    if sum(len(t.strip()) for t in raw_pages) < MIN_CHARS_PER_PAGE * len(raw_pages) / 4:
        raise ExtractionError(relpath, f"PDF has no text layer ({len(raw_pages)} pages): it needs OCR")
    pages = remove_running_lines([normalise_text(t) for t in raw_pages])
    return ExtractedText(pages=[Page(i + 1, join_hyphenation(t)) for i, t in enumerate(pages)], format="pdf")


def layout_text(page: object) -> str:
    """Returns the text boxes of one pdfminer page in reading order."""
    return "".join(el.get_text() for el in page if isinstance(el, LTTextContainer))  # type: ignore[attr-defined]


def edge_key(line: str) -> str:
    """Returns a line with spaces folded, so the same header compares equal on every page."""
    return re.sub(r"\s+", " ", line.strip().lower())


def folded_key(key: str) -> str:
    """Returns a key with digits folded, so 'page 3' and 'page 4' compare equal."""
    return re.sub(r"\d+", "#", key)


def remove_running_lines(pages: list[str]) -> list[str]:
    """Returns pages without lines repeated at the top or bottom of most pages, nor bare page numbers.

    A line is running when the same text opens or closes most pages ("Corporate Parenting Panel"),
    or when it is a page footer whose number changes ("Page 3 of 12").
    """
    edges: list[set[str]] = []
    for text in pages:
        lines = [ln for ln in text.split("\n") if ln.strip()]
        edges.append({edge_key(ln) for ln in lines[:EDGE_LINES] + lines[-EDGE_LINES:]})
    exact = Counter(key for keys in edges for key in keys)
    folded = Counter(folded_key(key) for keys in edges for key in {folded_key(k) for k in keys})
    threshold = max(3, len(pages) // 2)

    def is_running(line: str, page_edges: set[str]) -> bool:
        key = edge_key(line)
        if not key or key not in page_edges or ITEM_MARKER.match(line.strip()):
            return False
        if exact[key] >= threshold:
            return True
        return folded[folded_key(key)] >= threshold and bool(FOLDED_PAGE_FOOTER.search(folded_key(key)))

    cleaned = []
    for text, page_edges in zip(pages, edges, strict=True):
        kept = [ln for ln in text.split("\n") if not PAGE_NUMBER_LINE.match(ln) and not is_running(ln, page_edges)]
        cleaned.append(re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n"))
    return cleaned


def join_hyphenation(text: str) -> str:
    """Returns text with words split by a hyphen at a line end joined again."""
    return re.sub(r"([a-z])-\n([a-z])", r"\1\2", text)
