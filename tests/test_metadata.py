"""Metadata: sidecar first, then the text, then the file name, then the folder; each value says where it came from."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from indexer.errors import ParseError
from indexer.extract import extract_file
from indexer.metadata import find_date, read_metadata
from indexer.models import Council, SourceFile
from indexer.sources import read_sidecar

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def metadata(relpath: str, sidecar: dict[str, str] | None = None) -> tuple[dict[str, object], dict[str, str]]:
    source = SourceFile(CORPUS / relpath, relpath, Council("kent", "Kent County Council"), "h", 1, sidecar or {})
    return read_metadata(source, extract_file(CORPUS / relpath, relpath))


def test_printed_minutes_without_sidecar_read_from_text_and_filename() -> None:
    meta, came_from = metadata("kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf")
    assert meta["date"] == date(2025, 1, 30) and came_from["date"] == "text"
    assert meta["committee"] == "Cabinet" and came_from["committee"] == "text"
    assert meta["doc_type"] == "minutes"
    assert meta["council_name"] == "Kent County Council" and came_from["council_name"] == "folder"


def test_moderngov_meeting_heading_gives_committee_and_date() -> None:
    meta, came_from = metadata("croydon/cpp_ieListDocuments_CId175_MId2279_2020-09-29.txt")
    assert meta["committee"] == "Corporate Parenting Panel" and came_from["committee"] == "text"
    assert meta["date"] == date(2020, 9, 29)
    assert meta["doc_type"] == "meeting-page"


def test_sidecar_wins_over_text() -> None:
    meta, came_from = metadata(
        "kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf",
        {"committee": "Cabinet (special)", "date": "2025-02-01", "source_url": "https://example.org/m.pdf"},
    )
    assert meta["committee"] == "Cabinet (special)" and came_from["committee"] == "sidecar"
    assert meta["date"] == date(2025, 2, 1) and came_from["date"] == "sidecar"
    assert meta["source_url"] == "https://example.org/m.pdf"


def test_impossible_sidecar_date_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a real ISO 8601 date"):
        metadata("kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf", {"date": "2024-02-30"})


def test_invalid_sidecar_json(tmp_path: Path) -> None:
    paper = tmp_path / "minutes.txt"
    paper.write_text("Minutes")
    Path(str(paper) + ".meta.json").write_text("{not json")
    with pytest.raises(ParseError, match="not valid JSON"):
        read_sidecar(paper, "c/minutes.txt")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Corporate Parenting Panel - Wednesday, 3rd July, 2019 5.00 pm", date(2019, 7, 3)),
        ("MINUTES of the meeting held on Thursday, 30 January 2025.", date(2025, 1, 30)),
        ("Printed minutes 30th-Jan-2025 10.00 Cabinet", date(2025, 1, 30)),
        ("Meeting: 25/03/2021 - Corporate Parenting Board", date(2021, 3, 25)),
        ("held on 31 February 2021", None),
    ],
)
def test_dates_as_councils_write_them(text: str, expected: date | None) -> None:
    assert find_date(text) == expected


def test_earlier_minutes_take_their_date_from_the_text() -> None:
    relpath = "kent/cabinet_2025-01-30_Minutes_of_the_meeting_held_on_9th_January_2025.pdf"
    sidecar = read_sidecar(CORPUS / relpath, relpath)
    assert "date" not in sidecar
    meta, came_from = metadata(relpath, sidecar)
    assert meta["date"] == date(2025, 1, 9) and came_from["date"] == "text"


def test_titles_from_file_names() -> None:
    from indexer.metadata import title_from_filename

    assert title_from_filename(
        "a/policy-resources_ieDecisionDetails_AIId153090_UASC-national-transfer-scheme_2021-12-09.txt"
    ) == ("UASC national transfer scheme")
    assert title_from_filename("kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf") == (
        "Printed minutes 30th-Jan-2025 10.00 Cabinet"
    )
