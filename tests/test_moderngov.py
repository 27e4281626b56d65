"""ModernGov web-service responses: GetMeeting indexed as a paper, the others read as metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import SkipFile
from indexer.moderngov import extract_web_service, parse_uk_date, read_committee_names

GLOUCESTER = Path(__file__).resolve().parent.parent / "corpus" / "gloucester"


def test_get_meeting_is_a_paper_with_items() -> None:
    extracted = extract_web_service(
        (GLOUCESTER / "mgWebService_GetMeeting_7837_cabinet_2025-11-21.xml").read_bytes(), "g.xml"
    )
    assert extracted.metadata == {"committee": "Cabinet", "date": "2025-11-21"}
    assert extracted.items is not None
    assert [i.number for i in extracted.items] == ["51", "52", "53", "54", "55"]
    assert extracted.items[3].title == "Leader and Cabinet Members' Question Time (15 minutes)"
    assert extracted.items[0].text.endswith("Minutes:\nThere were no declarations of interest.")
    assert "<p" not in extracted.text


@pytest.mark.parametrize(
    "name",
    ["mgWebService_GetCommittees.xml", "mgWebService_GetMeetings_cabinet.xml", "mgWebService_GetAttachment_65461.xml"],
)
def test_metadata_responses_are_skipped(name: str) -> None:
    with pytest.raises(SkipFile, match="metadata, not a paper"):
        extract_web_service((GLOUCESTER / name).read_bytes(), name)


def test_committee_names_read_from_get_committees() -> None:
    names = read_committee_names((GLOUCESTER / "mgWebService_GetCommittees.xml").read_bytes())
    assert len(names) == 131
    assert names["487"] == "Audit and Governance Committee"


def test_uk_dates() -> None:
    assert str(parse_uk_date("21/11/2025")) == "2025-11-21"
    assert parse_uk_date("31/02/2025") is None
