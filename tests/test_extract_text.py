"""Text and Markdown decoding, and the dispatcher's handling of empty and unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import ExtractionError, SkipFile
from indexer.extract import extract_file
from indexer.extract_text import extract_text_file

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_real_item_page_text() -> None:
    relpath = "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt"
    extracted = extract_file(CORPUS / relpath, relpath)
    assert extracted.format == "text" and len(extracted.pages) == 1
    assert extracted.text.startswith("Agenda item\n\nChildren in Care Performance Scorecard")
    assert "\xa0" not in extracted.text


def test_cp1252_text_decoded() -> None:
    data = "The Panel RESOLVED – “noted” at £50".encode("cp1252")
    assert extract_text_file(data, "x.txt").text == "The Panel RESOLVED – “noted” at £50"


def test_utf8_bom_and_windows_line_ends() -> None:
    data = "\ufeffLine one\r\nLine two\r\n".encode()
    assert extract_text_file(data, "x.txt").text == "Line one\nLine two\n"


def test_empty_and_binary_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ExtractionError, match="empty"):
        extract_file(empty, "c/empty.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\x00\xff\x00 not text")
    with pytest.raises(ExtractionError, match="binary"):
        extract_file(binary, "c/binary.txt")


def test_unknown_type_is_skipped(tmp_path: Path) -> None:
    other = tmp_path / "minutes.docx"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(SkipFile):
        extract_file(other, "c/minutes.docx")
