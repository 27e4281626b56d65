"""What the pages, the exports and the JSON API share: the app's search service and links to sources."""

from __future__ import annotations

from flask import current_app, url_for

from search_app.service import SearchIndex


def search_index() -> SearchIndex:
    """Returns the app's search service: a SearchIndex, or on the Xapian backend a XapianIndex, which
    answers the same calls (search_app/xapian_service.py)."""
    return current_app.extensions["search_index"]  # type: ignore[no-any-return]


def source_link(source: str, page: int, fmt: str) -> str:
    """Returns the link that opens a source file, at its page for a PDF."""
    link = url_for("pages.source_file", relpath=source)
    return f"{link}#page={page}" if fmt == "pdf" else link
