"""Picks the extractor for a file type: bytes in, ExtractedText out."""

from __future__ import annotations

from pathlib import Path

from indexer.errors import ExtractionError, SkipFile
from indexer.extract_html import extract_html
from indexer.extract_pdf import extract_pdf
from indexer.extract_text import extract_text_file
from indexer.models import ExtractedText
from indexer.moderngov import extract_web_service

EXTRACTORS = {
    ".pdf": extract_pdf,
    ".html": extract_html,
    ".htm": extract_html,
    ".txt": extract_text_file,
    ".md": extract_text_file,
    ".xml": extract_web_service,
}


def extract_file(path: Path, relpath: str) -> ExtractedText:
    """Returns the text of a paper; raises ExtractionError or SkipFile with the reason it cannot."""
    extractor = EXTRACTORS.get(path.suffix.lower())
    if extractor is None:
        raise SkipFile(relpath, f"file type {path.suffix or '(none)'} is not a paper format")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractionError(relpath, f"file could not be read ({exc.strerror or exc})") from exc
    if not data.strip():
        raise ExtractionError(relpath, "file is empty (0 bytes)" if not data else "file holds only white space")
    return extractor(data, relpath)
