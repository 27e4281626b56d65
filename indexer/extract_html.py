"""HTML -> text keeping headings, lists and tables, dropping navigation, scripts and cookie banners."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag

from indexer.errors import ExtractionError
from indexer.extract_text import decode_bytes, normalise_text
from indexer.models import ExtractedText, Page
from indexer.moderngov import read_meeting_page_items

DROP_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "form", "iframe", "svg", "button", "template"]
# Cookie banners, accessibility toolbars and "skip to content" links sit before the content.
DROP_MARKERS = re.compile(r"cookie|consent|skip|breadcrumb|accessib|banner|navigation|menu|sidebar", re.I)
BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "ul", "ol", "br", "dd", "dt", "blockquote", "pre", "caption",
}  # fmt: skip


def extract_html(data: bytes, relpath: str) -> ExtractedText:
    """Returns the readable text of a web page as one page, with ModernGov item rows when present."""
    if data.startswith(b"%PDF"):
        raise ExtractionError(relpath, "file is named as HTML but is really a PDF")
    soup = BeautifulSoup(decode_bytes(data, relpath), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    drop_clutter(soup)
    items = read_meeting_page_items(soup)
    root = soup.find("main") or soup.find(id="mgContent") or soup.body or soup
    text = normalise_text(html_to_text(root))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text and not items:
        raise ExtractionError(relpath, "web page holds no readable text")
    return ExtractedText(pages=[Page(1, text)], format="html", title=title, items=items or None)


def drop_clutter(soup: BeautifulSoup) -> None:
    """Removes scripts, navigation and banners in place."""
    for tag in soup.find_all(DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or not isinstance(tag, Tag) or tag.attrs is None:
            continue
        marker = " ".join(str(tag.get(attr) or "") for attr in ("id", "class", "role"))
        if marker.strip() and DROP_MARKERS.search(marker) and tag.name not in ("body", "html", "main"):
            tag.decompose()


def html_to_text(node: Tag) -> str:
    """Returns the text of a tree with a line break after each block and tab-separated table cells."""
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:
                parts.append(re.sub(r"\s+", " ", str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        inner = html_to_text(child)
        if child.name in ("td", "th"):
            parts.append(inner.strip() + "\t")
        elif child.name == "li":
            parts.append("\n- " + inner.strip() + "\n")
        elif child.name in BLOCK_TAGS:
            parts.append("\n" + inner.strip() + "\n")
        else:
            parts.append(inner)
    return "".join(parts)
