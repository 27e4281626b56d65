"""A paper's council, committee, date, doc_type and title: sidecar, then text, then file name, then folder."""

from __future__ import annotations

import re
from datetime import date
from pathlib import PurePosixPath

from indexer.errors import ParseError
from indexer.models import ExtractedText, SourceFile
from indexer.patterns import (
    COMMITTEE_NAME,
    DAY_MONTH_YEAR,
    DOC_TYPE_WORDS,
    ISO_DATE,
    MARKDOWN_MARKUP,
    MEETING_HEADING,
    MONTH_DAY_YEAR,
    MONTHS,
    PACK_MINUTES_HEADING,
    UK_NUMERIC_DATE,
)

DOC_TYPE_LABELS = {
    "agenda": "Agenda",
    "agenda-pack": "Agenda pack",
    "minutes": "Minutes",
    "meeting-page": "Meeting page (agenda and minutes)",
    "item-page": "Agenda item page",
    "issue-page": "Issue history page",
    "decision": "Decision record",
    "report": "Report",
    "appendix": "Report appendix",
    "motion": "Motion or amendment",
    "committee-page": "Committee page",
    "meetings-list": "List of meetings",
    "document": "Document",
}
# File-name prefixes the corpus uses for bodies: "cpp_mgAi_7412_...", "hwb_ieListDocuments_...".
COMMITTEE_PREFIXES = {
    "cpp": "Corporate Parenting Panel",
    "cpb": "Corporate Parenting Board",
    "cpc": "Corporate Parenting Committee",
    "cpac": "Corporate Parenting Advisory Committee",
    "hwb": "Health and Wellbeing Board",
    "cabinet": "Cabinet",
    "executive": "Executive",
    "full_council": "County Council",
    "council": "Council",
}
# First lines of ModernGov page texts, and the page they show.
PAGE_OPENINGS = [
    (re.compile(r"^agenda and (?:draft )?minutes$", re.I), "meeting-page"),
    (re.compile(r"^agenda$", re.I), "agenda"),
    (re.compile(r"^minutes$|^(?:draft )?(?:notes|minutes) of\b", re.I), "minutes"),
    (re.compile(r"^agenda item$", re.I), "item-page"),
    (re.compile(r"^decision details$", re.I), "decision"),
    (re.compile(r"^issue\b", re.I), "issue-page"),
]
HEAD_CHARS = 1500
UNDATED_PAGE_TYPES = {"item-page", "issue-page", "decision", "committee-page", "meetings-list"}


def slugify(text: str) -> str:
    """Returns a lower-case, hyphenated slug for a display name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def make_date(year: int, month: int, day: int) -> date | None:
    """Returns a date, or None when the parts do not make one."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_date(text: str) -> date | None:
    """Returns the first meeting-like date written in text, or None."""
    candidates = []
    for match in DAY_MONTH_YEAR.finditer(text):
        found = make_date(int(match.group(3)), MONTHS[match.group(2).lower()], int(match.group(1)))
        candidates.append((match.start(), found))
    for match in MONTH_DAY_YEAR.finditer(text):
        found = make_date(int(match.group(3)), MONTHS[match.group(1).lower()], int(match.group(2)))
        candidates.append((match.start(), found))
    for match in ISO_DATE.finditer(text):
        candidates.append((match.start(), make_date(*(int(g) for g in match.groups()))))
    for match in UK_NUMERIC_DATE.finditer(text):
        day, month, year = (int(g) for g in match.groups())
        candidates.append((match.start(), make_date(year, month, day)))
    valid = sorted((pos, d) for pos, d in candidates if d is not None)
    return valid[0][1] if valid else None


def date_from_text(head: str, doc_type: str) -> date | None:
    """Returns the meeting date a paper's opening states.

    An item, issue or decision page names other dates in its text ("approved by Cabinet on 27th July
    2021"), so only its "Meeting: 25/03/2021" line or a meeting heading counts there.
    """
    if doc_type not in UNDATED_PAGE_TYPES:
        return find_date(head)
    for line in head.split("\n"):
        if re.match(r"^Meeting:\s", line) or MEETING_HEADING.match(line):
            return find_date(line)
    return None


def parse_sidecar_date(value: str, relpath: str) -> date:
    """Returns the ISO date of a sidecar; raises ParseError for an impossible or malformed one."""
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ParseError(relpath, f"sidecar date {value!r} is not a real ISO 8601 date") from exc


def head_lines(extracted: ExtractedText, limit: int = 40) -> list[str]:
    """Returns the first non-empty lines of a paper, Markdown markup removed."""
    lines = []
    for line in extracted.pages[0].text.split("\n") if extracted.pages else []:
        clean = MARKDOWN_MARKUP.sub("", line).strip().strip("*").strip()
        if clean:
            lines.append(clean)
        if len(lines) >= limit:
            break
    return lines


def committee_from_text(lines: list[str], council_name: str) -> str:
    """Returns the committee a paper's opening lines name, or ''.

    A council's own name ("Merton Council", "KENT COUNTY COUNCIL") often heads the paper above the
    committee's, so names ending in "Council" are taken only when nothing else is named.
    """
    candidates = []
    for line in lines:
        heading = MEETING_HEADING.match(line)
        if heading:
            return heading.group(1).strip()
        probe = re.split(r"\s*[-–—]\s+|\s*[–—]\s*", line)[0].strip()
        probe = probe.title() if probe.isupper() else probe
        match = COMMITTEE_NAME.match(probe)
        if match and len(match.group(1)) <= 70 and not match.group(1).startswith("The "):
            name = match.group(1).strip()
            if name.lower() not in council_name.lower():
                candidates.append(name)
    preferred = [c for c in candidates if not c.endswith("Council")]
    return (preferred or candidates or [""])[0]


def committee_from_filename(stem: str) -> str:
    """Returns the committee a corpus file name announces, or ''."""
    low = stem.lower()
    for prefix, name in COMMITTEE_PREFIXES.items():
        if low.startswith(prefix + "_"):
            return name
    match = re.search(r"\d\d[.:]\d\d[_ ](.+)$", stem)  # "Printed_minutes_30th-Jan-2025_10.00_Cabinet"
    return match.group(1).replace("_", " ").strip() if match else ""


def doc_type_from(lines: list[str], name: str, text: str = "") -> str:
    """Returns the doc_type a paper's first lines, its content or its file name announce."""
    if re.search(r"^(?:Order of Business|AGENDA)\b", text, re.M) and PACK_MINUTES_HEADING.search(text):
        return "agenda-pack"  # an agenda followed by the minutes of an earlier meeting
    for line in lines[:3]:
        for pattern, doc_type in PAGE_OPENINGS:
            if pattern.match(line):
                return doc_type
    if re.search(r"ieListDocuments", name):
        return "meeting-page"
    if re.search(r"mgAi_", name):
        return "item-page"
    return doc_type_named(name.replace("_", " ")) or "document"


def doc_type_named(title: str) -> str | None:
    """Returns the doc_type a title or file name announces ("Printed minutes", "Public reports pack"), or None."""
    return next((doc_type for pattern, doc_type in DOC_TYPE_WORDS if pattern.search(title)), None)


def title_from_opening(lines: list[str]) -> str:
    """Returns the heading under a ModernGov page's opening line ("Agenda item", "Issue - decisions")."""
    if len(lines) > 1 and re.match(r"^(?:agenda item|issue\b.*|decision details)$", lines[0], re.I):
        return lines[1][:200]
    if lines and MEETING_HEADING.match(lines[0]):
        return lines[0][:200]
    if len(lines) > 1 and re.match(r"^agenda and (?:draft )?minutes$", lines[0], re.I):
        return f"{lines[1]} {lines[2]}" if len(lines) > 2 and find_date(lines[2]) else lines[1]
    return ""


def title_from_filename(relpath: str) -> str:
    """Returns a readable title made from a file name."""
    original = PurePosixPath(relpath).name.rsplit(".", 1)[0]
    dated = re.match(r"^[a-z][a-z_-]*?_\d{4}-\d\d-\d\d_(.+)$", original)  # "full_council_2025-03-13_Appendix_6"
    stem = dated.group(1) if dated else re.sub(r"^(?:[a-z-]+_)?", "", original)
    # ModernGov page names carry ids before the words: "ieDecisionDetails_AIId153090_UASC-national-transfer-scheme".
    stem = re.sub(r"^(?:mg|ie)[A-Za-z]+_(?:[A-Za-z]*\d+_)*", "", stem)
    stem = re.sub(r"_(?:seed\d+|\d{4}-\d\d-\d\d)$", "", stem)
    words = re.sub(r"[_\s]+", " ", stem).strip()
    if "-" in words and " " not in words:
        words = words.replace("-", " ")
    if not re.search(r"[A-Za-z]{3}", words):
        words = re.sub(r"[_\s]+", " ", original)
    return words[:1].upper() + words[1:]


def read_metadata(source: SourceFile, extracted: ExtractedText) -> tuple[dict[str, object], dict[str, str]]:
    """Returns the paper's metadata and, for each value, where it came from."""
    sidecar = source.sidecar
    lines = head_lines(extracted)
    head = "\n".join(lines)[:HEAD_CHARS]
    name = PurePosixPath(source.relpath).name
    meta: dict[str, object] = {}
    came_from: dict[str, str] = {}

    def choose(key: str, *options: tuple[str, object]) -> None:
        for origin, value in options:
            if value:
                meta[key], came_from[key] = value, origin
                return
        meta[key], came_from[key] = "", "none"

    inferred_type = (
        "meeting-page" if extracted.format == "moderngov-xml" else doc_type_from(lines, name, extracted.text)
    )
    choose("doc_type", ("sidecar", sidecar.get("doc_type")), ("text", inferred_type))
    sidecar_date = parse_sidecar_date(sidecar["date"], source.relpath) if sidecar.get("date") else None
    format_date = date.fromisoformat(extracted.metadata["date"]) if extracted.metadata.get("date") else None
    choose("council_name", ("sidecar", sidecar.get("council")), ("folder", source.council.name))
    choose(
        "committee",
        ("sidecar", sidecar.get("committee")),
        ("text", extracted.metadata.get("committee")),
        ("text", committee_from_text(lines, source.council.name)),
        ("filename", committee_from_filename(PurePosixPath(name).stem)),
    )
    choose(
        "date",
        ("sidecar", sidecar_date),
        ("text", format_date),
        ("text", date_from_text(head, str(meta["doc_type"]))),
        ("filename", find_date(name.replace("_", " "))),
    )
    choose(
        "title",
        ("sidecar", sidecar.get("title")),
        ("text", extracted.title),
        ("text", title_from_opening(lines)),
        ("filename", title_from_filename(source.relpath)),
    )
    choose("source_url", ("sidecar", sidecar.get("source_url")))
    return meta, came_from
