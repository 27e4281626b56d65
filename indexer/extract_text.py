"""Plain text and Markdown -> text: UTF-8 first, cp1252 when the bytes are not UTF-8."""

from __future__ import annotations

from indexer.errors import ExtractionError
from indexer.models import ExtractedText, Page


def decode_bytes(data: bytes, relpath: str) -> str:
    """Returns text decoded as UTF-8 (BOM allowed), falling back to cp1252; raises on binary data."""
    if b"\x00" in data[:4096]:
        raise ExtractionError(relpath, "file holds binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Council exports from Word are often Windows-1252 ("smart quotes" as 0x92, 0x93).
        return data.decode("cp1252", errors="replace")


def normalise_text(text: str) -> str:
    """Returns text with Windows line ends, non-breaking spaces and trailing blanks tidied."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ").replace("\u200b", "")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def extract_text_file(data: bytes, relpath: str) -> ExtractedText:
    """Returns the text of a .txt or .md paper as a single page."""
    if data.startswith(b"%PDF"):
        raise ExtractionError(relpath, "file is named as text but is really a PDF")
    text = normalise_text(decode_bytes(data, relpath))
    if not text.strip():
        raise ExtractionError(relpath, "file holds no text")
    return ExtractedText(pages=[Page(1, text)], format="text")
