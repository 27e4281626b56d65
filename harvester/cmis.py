"""CMIS sites: the meetings module's month calendar (no JavaScript needed) and each meeting's documents page."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import date
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup

from harvester.fetch import FetchError, PoliteClient, rehost
from harvester.models import Committee, DocumentLink, MeetingPaper, MeetingStub, Portal
from harvester.selection import committee_matches
from indexer.metadata import find_date
from indexer.patterns import MONTHS

# The calendar module's buttons carry its DNN module id: name="dnn$ctr397$MeetingCalendarPublic$btn...".
MODULE_ID = re.compile(r"dnn\$ctr(\d+)\$MeetingCalendarPublic\w*\$")
# A meeting link in DNN's path form: .../tabid/70/ctl/ViewMeetingPublic/mid/397/Meeting/15028/Committee/6/...
MEETING_LINK = re.compile(r"/Meeting/(\d+)/Committee/(\d+)/", re.IGNORECASE)
MODULE_PREFIX = re.compile(r"^(.*?/tabid/\d+)/ctl/\w+/(mid/\d+)/", re.IGNORECASE)
# A day heading in the month calendar: "Monday, 8 June" (the year is the month asked for).
CALENDAR_DAY = re.compile(r"^[a-z]+day,?\s+(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)(?:\s+(\d{4}))?$", re.IGNORECASE)
# "10:00 Licensing Sub-Committee A" in the calendar; "9 Jul 2026 11:00 - Planning Committee" in the list.
LEADING_TIME = re.compile(r"^\d{1,2}[:.]\d\d\s+")
LIST_LINK_TEXT = re.compile(r"^(.+?\d{4})\s+\d{1,2}[:.]\d\d\s+-\s+(.+)$")
OWN_PATHS = re.compile(r"/Meeting/\d+/|Document\.ashx|/tabid/\d+/", re.IGNORECASE)


class CmisReader:
    """Lists a CMIS site's meetings month by month and fetches each meeting's documents page."""

    def __init__(self, portal: Portal, client: PoliteClient) -> None:
        self.meetings_url = meetings_page(portal.base_url)
        self.client = client
        self.notes: list[str] = []
        self.moved_to = ""
        """CMIS meeting pages redirect within the site as a matter of course: no move is reported."""

    def find_meetings(self, wanted: list[str], start: date, end: date) -> Iterator[MeetingStub]:
        """Yields the meetings of the wanted committees between start and end, oldest first."""
        stubs = self.list_meetings(start, end)
        seen: set[str] = set()
        for stub in sorted(stubs, key=lambda s: (s.date, s.id)):
            if stub.id in seen or not start <= stub.date <= end:
                continue
            if wanted and not any(committee_matches(w, stub.committee) for w in wanted):
                continue
            seen.add(stub.id)
            yield stub

    def list_meetings(self, start: date, end: date) -> list[MeetingStub]:
        answer = self.client.get(self.meetings_url)
        match = MODULE_ID.search(answer.body.decode("utf-8", errors="replace"))
        if not match:
            raise FetchError(self.meetings_url, "no CMIS meetings calendar module on this page; check the base URL")
        separator = "&" if "?" in answer.url else "?"
        list_url = f"{answer.url}{separator}ctl=MeetingCalendarListView&mid={match.group(1)}"
        list_answer = self.client.get(list_url)
        links = self.meeting_links(list_answer.body, list_answer.url)
        template = month_template(links)
        if template is None:
            # The list view shows only the current month; with no meeting link to learn the calendar's
            # address from, that month is all that can be read.
            self.notes.append("no meeting link to find the month calendar from; read the current month only")
            return read_list_view(links)
        stubs = []
        for month in months_between(start, end):
            url = template.format(month=month.isoformat())
            page = self.client.get(url)
            stubs.extend(read_calendar_month(self.meeting_links(page.body, page.url), month))
        return stubs

    def meeting_links(self, body: bytes, page_url: str) -> list[tuple[str, str, str]]:
        """Returns (url, link text, text of the row or day it sits in) for each meeting link on a page."""
        soup = BeautifulSoup(body, "lxml")
        links = []
        for link in soup.find_all("a", href=True):
            url = rehost(urljoin(page_url, str(link["href"])), self.meetings_url, OWN_PATHS)
            if MEETING_LINK.search(url):
                row = link.find_parent("tr")
                first_cell = row.find("td") if row else None
                day = first_cell.get_text(" ", strip=True) if first_cell else ""
                links.append((url, link.get_text(" ", strip=True), day))
        return links

    def fetch_meeting(self, stub: MeetingStub) -> MeetingPaper:
        """Returns the meeting's documents page and the documents it links to."""
        answer = self.client.get(stub.url)
        soup = BeautifulSoup(answer.body, "lxml")
        documents: dict[str, DocumentLink] = {}
        for link in soup.find_all("a", href=True):
            url = rehost(urljoin(answer.url, str(link["href"])), self.meetings_url, OWN_PATHS)
            if "document.ashx" not in url.lower():
                continue
            # CMIS document links are opaque tokens: the link's path and query are the document's identity.
            parts = urlsplit(url)
            key = "d" + hashlib.sha256(f"{parts.path.lower()}?{parts.query}".encode()).hexdigest()[:12]
            documents.setdefault(key, DocumentLink(key, link.get_text(" ", strip=True) or "Document", url))
        return MeetingPaper(answer.body, ".html", answer.url, list(documents.values()))


def meetings_page(base_url: str) -> str:
    """Returns a CMIS site's meetings page from the registry's base URL (often its councillors page)."""
    parts = urlsplit(base_url.strip())
    if "meeting" in parts.path.lower():
        return base_url.strip()
    segments = [s for s in parts.path.split("/") if s]
    site = "" if not segments or "." in segments[0] or "councillor" in segments[0].lower() else f"/{segments[0]}"
    return f"{parts.scheme}://{parts.netloc}{site}/Meetings.aspx"


def month_template(links: list[tuple[str, str, str]]) -> str | None:
    """Returns the month calendar's address with {month} to fill, learnt from a meeting link's path."""
    for url, _text, _day in links:
        match = MODULE_PREFIX.match(url)
        if match:
            return f"{match.group(1)}/ctl/MeetingCalendarPublicNoJava/{match.group(2)}/Date/{{month}}/Default.aspx"
    return None


def months_between(start: date, end: date) -> Iterator[date]:
    """Yields the first day of every month from start's to end's."""
    month = start.replace(day=1)
    while month <= end:
        yield month
        month = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


def read_calendar_month(links: list[tuple[str, str, str]], month: date) -> list[MeetingStub]:
    """Returns the meetings in a month calendar, dated from their day heading and the month asked for."""
    stubs = []
    for url, text, day_text in links:
        day = CALENDAR_DAY.match(day_text)
        month_number = MONTHS.get(day.group(2).lower()) if day else None
        if not day or not month_number:
            continue
        try:
            when = date(int(day.group(3) or month.year), month_number, int(day.group(1)))
        except ValueError:
            continue
        stubs.append(stub_from_link(url, LEADING_TIME.sub("", text), when))
    return stubs


def read_list_view(links: list[tuple[str, str, str]]) -> list[MeetingStub]:
    """Returns the meetings of the list view, dated from the link text."""
    stubs = []
    for url, text, _day in links:
        match = LIST_LINK_TEXT.match(text)
        when = find_date(match.group(1)) if match else None
        if match and when:
            stubs.append(stub_from_link(url, match.group(2), when))
    return stubs


def stub_from_link(url: str, committee_name: str, when: date) -> MeetingStub:
    ids = MEETING_LINK.search(url)
    assert ids is not None
    return MeetingStub(ids.group(1), Committee(ids.group(2), committee_name.strip()), when, "", url)
