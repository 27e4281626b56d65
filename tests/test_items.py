"""Agenda-item splitting on real papers, with exact expectations."""

from __future__ import annotations

from pathlib import Path

from pdfmaker import make_pdf

from indexer.extract import extract_file
from indexer.extract_pdf import extract_pdf
from indexer.items import FRONT_MATTER, split_items
from indexer.models import AgendaItem

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def items_of(relpath: str) -> list[AgendaItem]:
    return split_items(extract_file(CORPUS / relpath, relpath), "Document title")


def numbered(items: list[AgendaItem]) -> list[tuple[str, str]]:
    return [(i.number, i.title) for i in items if i.title != FRONT_MATTER]


def test_croydon_minute_numbers() -> None:
    items = items_of("croydon/cpp_2021-03-03_minutes_seed000.txt")
    assert numbered(items)[:5] == [
        ("12/21", "Minutes of the previous meeting"),
        ("13/21", "Disclosures of interest"),
        ("14/21", "Urgent Business (if any)"),
        ("15/21", "Update on actions agreed at previous meeting(s)"),
        ("16/21", "Children in Care Performance Scorecard"),
    ]
    assert [n for n, _ in numbered(items)] == [f"{n}/21" for n in range(12, 22)]
    scorecard = items[5]
    assert scorecard.body.startswith("Officers present presented the scorecard")
    assert "ACTION – The Chair recommended" in scorecard.body


def test_moderngov_meeting_page_text_without_numbers() -> None:
    titles = [t for _, t in numbered(items_of("croydon/cpp_2019-07-03_ieListDocuments_seed002.txt"))]
    assert titles == [
        "Minutes of the previous meeting",
        "Disclosures of interest",
        "Urgent Business (if any)",
        "Update on actions agreed at previous meeting(s)",
        "Children in Care Performance Scorecard",
        "Independent Reviewing Service Annual Report",
        "Update on South London Commissioning Programme",
        "Corporate Parenting Panel Annual Report 2018/19",
        "How has the Panel helped Children in Care today?",
        "Exclusion of the Press and Public",
    ]


def test_southwark_pack_agenda_then_earlier_minutes() -> None:
    items = numbered(items_of("southwark/cpc_2020-11-04_agenda-pack_seed003.txt"))
    assert items[0] == ("1", "APOLOGIES")
    assert ("6", "MINUTES") in items
    assert ("7", "FEEDBACK FROM INSPECTIONS OF CHILDREN'S SOCIAL CARE AND YOUTH OFFENDING SERVICES") in items
    # The minutes of 8 July 2020 inside the pack restart their numbering.
    assert ("5", "CORPORATE PARENTING STRATEGY REVIEW") in items
    assert ("6", "ANNUAL VIRTUAL HEADTEACHER'S REPORT") in items


def test_kent_minutes_with_item_markers_know_their_pages() -> None:
    items = items_of("kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf")
    assert [(i.number, i.title, i.page) for i in items if i.number] == [
        ("1", "Apologies and Substitutes", 1),
        ("2", "Chairman’s Announcements", 1),
        ("3", "Minutes of the meeting held on 29 October 2024", 1),
        ("4", "Participation Team Update", 1),
        ("5", "Challenge Cards Update", 2),
        ("6", "Verbal Update by the Cabinet Member", 3),
        ("7", "Virtual School Kent Head Teacher 6 monthly update", 3),
        ("8", "Corporate Parenting Annual Report 2024", 4),
        ("9", "Looked after Children’s Integrated Care Board (IBC) Annual Report", 5),
        ("10", "Work programme", 5),
    ]


def test_kent_printed_minutes_use_minute_numbers_and_wrapped_titles() -> None:
    items = [i for i in items_of("kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf") if i.number]
    assert [i.number for i in items] == [str(n) for n in range(84, 93)]
    assert items[5].title.startswith("Draft Revenue Budget 2025-26, MTFP 2025-28, Draft Capital Programme 2025-35 and")
    assert items[5].page == 11


def test_kent_agenda_front_sheet() -> None:
    items = numbered(items_of("kent/cabinet_2025-01-30_Agenda_frontsheet_30th-Jan-2025_10.00_Cabinet.pdf"))
    assert [n for n, _ in items] == [str(n) for n in range(1, 10)]
    assert items[4] == ("5", "24/00108 - Revenue and Capital Budget Monitoring Report – November 2024-25")


def test_paper_without_items_is_one_item() -> None:
    items = items_of("kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt")
    assert len(items) == 1
    assert items[0].title == "Staying Put Fostering Policy"


def test_numbered_paragraphs_inside_items_are_not_items() -> None:
    extracted = extract_pdf(
        make_pdf(
            ["1. Apologies\nNone received.\n2. Fostering Update\n1. The report was noted", "3. Work Programme\nNoted."]
        ),
        "x.pdf",
    )
    items = split_items(extracted, "t")
    assert [(i.number, i.title, i.page) for i in items] == [
        ("1", "Apologies", 1),
        ("2", "Fostering Update", 1),
        ("3", "Work Programme", 2),
    ]


def test_earlier_minutes_in_a_pack_are_dated_with_their_meeting() -> None:
    items = items_of("southwark/cpc_2020-11-04_agenda-pack_seed003.txt")
    strategy = next(i for i in items if i.title == "CORPORATE PARENTING STRATEGY REVIEW")
    assert str(strategy.earlier_meeting) == "2020-07-08"
    agenda = next(i for i in items if i.title == "APOLOGIES")
    assert agenda.earlier_meeting is None


def test_moderngov_number_on_its_own_line() -> None:
    items = numbered(items_of("dorset/hwb_ieListDocuments_CId431_MId4625_2020-09-23.txt"))
    assert items == [
        ("1", "Election of Chairman"),
        ("2", "Appointment of Vice-chairman"),
        ("3", "Apologies"),
        ("4", "Terms of Reference"),
    ]


def test_single_item_pages_are_not_split() -> None:
    relpath = (
        "argyll-and-bute/policy-resources_ieDecisionDetails_AIId153090_UASC-national-transfer-scheme_2021-12-09.txt"
    )
    extracted = extract_file(CORPUS / relpath, relpath)
    assert len(split_items(extracted, "t")) > 1
    assert len(split_items(extracted, "t", single=True)) == 1


def test_page_text_items_get_no_invented_numbers() -> None:
    items = items_of("croydon/cpp_2019-07-03_ieListDocuments_seed002.txt")
    assert {i.number for i in items} == {""}
