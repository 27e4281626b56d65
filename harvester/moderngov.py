"""ModernGov sites: the mgWebService.asmx web service, and its HTML pages where the service is switched off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from urllib.parse import parse_qs, urljoin, urlsplit

from bs4 import BeautifulSoup, Tag

from harvester.fetch import FetchError, PoliteClient, rehost
from harvester.models import Committee, DocumentLink, MeetingPaper, MeetingStub, Portal
from harvester.selection import committee_matches
from indexer.metadata import find_date
from indexer.moderngov import parse_uk_date, read_committee_names, text_of

# Links to documents on ModernGov pages: the converter, and files under documents/s123/ or documents/g45/.
DOCUMENT_LINK = re.compile(r"mgConvert2PDF\.aspx\?ID=(\d+)|/documents/([sgb]\d+)/[^\"'?#]+", re.IGNORECASE)


class ModernGovReader:
    """Lists a ModernGov site's committees and meetings and fetches each meeting's answer and documents."""

    def __init__(self, portal: Portal, client: PoliteClient) -> None:
        self.base = root_url(portal.base_url)
        self.client = client
        self.mode = ""
        """"service" or "html", decided by the first request."""
        self.notes: list[str] = []
        self.moved_to = ""
        """The new base URL when the site redirected us elsewhere, else ''."""

    def find_meetings(self, wanted: list[str], start: date, end: date) -> Iterator[MeetingStub]:
        """Yields the meetings of the wanted committees between start and end, oldest first."""
        committees = self.list_committees()
        chosen = [c for c in committees if not wanted or any(committee_matches(w, c) for w in wanted)]
        if not chosen:
            names = "; ".join(sorted(c.name for c in committees)[:12])
            raise FetchError(self.base, f"no committee matches {', '.join(wanted)} (some it has: {names})")
        for committee in chosen:
            yield from self.list_meetings(committee, start, end)

    def list_committees(self) -> list[Committee]:
        try:
            answer = self.client.get(f"{self.base}/mgWebService.asmx/GetCommittees")
            self.follow_move(answer.url.split("/mgWebService.asmx")[0])
            names = read_committee_names(answer.body) if is_xml(answer.body, "committees") else {}
        except FetchError as exc:
            if exc.status not in (404, 410, 500, 501):
                raise
            names = {}
        if names:
            self.mode = "service"
            return [Committee(cid, title) for cid, title in names.items()]
        self.mode = "html"
        self.notes.append("the web service (mgWebService.asmx) did not answer with XML; read the HTML pages instead")
        return self.list_committees_html()

    def follow_move(self, reached: str) -> None:
        """Moves to the base URL the site redirected us to, if it did."""
        new_base = root_url(reached)
        if new_base.lower() != self.base.lower():
            self.moved_to = self.base = new_base

    def list_committees_html(self) -> list[Committee]:
        answer = self.client.get(f"{self.base}/mgListCommittees.aspx")
        self.follow_move(answer.url.rsplit("/", 1)[0])
        soup = BeautifulSoup(answer.body, "lxml")
        committees = {}
        for link in soup.find_all("a", href=True):
            query = parse_qs(urlsplit(str(link["href"])).query)
            if "mgcommitteedetails.aspx" in str(link["href"]).lower() and query.get("ID"):
                committees[query["ID"][0]] = link.get_text(" ", strip=True)
        return [Committee(cid, name) for cid, name in committees.items() if name]

    def list_meetings(self, committee: Committee, start: date, end: date) -> Iterator[MeetingStub]:
        if self.mode == "service":
            url = (
                f"{self.base}/mgWebService.asmx/GetMeetings?lCommitteeId={committee.id}"
                f"&sFromDate={start:%d/%m/%Y}&sToDate={end:%d/%m/%Y}"
            )
            stubs = read_meeting_stubs(self.client.get(url).body, committee)
        else:
            stubs = []
            for year in range(start.year, end.year + 1):
                url = f"{self.base}/ieListMeetings.aspx?CId={committee.id}&Year={year}"
                stubs.extend(read_meetings_page(self.client.get(url).body, committee, url))
        # Some servers ignore the dates they are given: the range is checked here too.
        seen: set[str] = set()
        for stub in sorted(stubs, key=lambda s: (s.date, s.id)):
            if start <= stub.date <= end and stub.id not in seen:
                seen.add(stub.id)
                yield stub

    def fetch_meeting(self, stub: MeetingStub) -> MeetingPaper:
        """Returns the meeting's GetMeeting answer (or its HTML page) and the documents it links to."""
        if self.mode == "service":
            url = f"{self.base}/mgWebService.asmx/GetMeeting?lMeetingId={stub.id}"
            answer = self.client.get(url)
            if not is_xml(answer.body, "meeting"):
                raise FetchError(url, "GetMeeting did not answer with a <meeting> XML document")
            return MeetingPaper(answer.body, ".xml", url, read_linked_documents(answer.body, self.base))
        url = stub.url or f"{self.base}/ieListDocuments.aspx?CId={stub.committee.id}&MId={stub.id}"
        answer = self.client.get(url)
        return MeetingPaper(answer.body, ".html", url, read_page_documents(answer.body, answer.url))


def root_url(base_url: str) -> str:
    """Returns the folder a ModernGov site's pages live in: "https://host" or "https://host/path"."""
    parts = urlsplit(base_url.strip())
    path = parts.path
    if path.lower().endswith((".aspx", ".asmx", ".htm", ".html")):
        path = path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}"


def is_xml(body: bytes, root: str) -> bool:
    """Returns whether body is an XML document whose root element is root."""
    head = body[:2000].lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    opening = f"<{root}".encode()
    # After an XML declaration the root may follow comments; without one it must come first.
    return opening in head if head.startswith(b"<?xml") else head.startswith(opening)


def read_meeting_stubs(body: bytes, committee: Committee) -> list[MeetingStub]:
    """Returns the meetings in a GetMeetings answer, without cancelled ones."""
    soup = BeautifulSoup(body, "xml")
    stubs = []
    for node in soup.find_all("meeting"):
        meeting_id, status = text_of(node, "meetingid"), text_of(node, "meetingstatus")
        when = parse_uk_date(text_of(node, "meetingdate"))
        if meeting_id and when and "cancelled" not in status.lower():
            stubs.append(MeetingStub(meeting_id, committee, when, status))
    return stubs


def read_linked_documents(body: bytes, base: str) -> list[DocumentLink]:
    """Returns the unrestricted documents a GetMeeting answer links to, each once."""
    soup = BeautifulSoup(body, "xml")
    documents: dict[str, DocumentLink] = {}
    for node in soup.find_all("linkeddoc"):
        if text_of(node, "isrestricted").lower() == "true":
            continue
        key, url = text_of(node, "attachmentid"), text_of(node, "url")
        if key and url and key not in documents:
            documents[key] = DocumentLink(
                key, text_of(node, "title") or f"Document {key}", rehost(url, base, DOCUMENT_LINK)
            )
    return list(documents.values())


def read_meetings_page(body: bytes, committee: Committee, page_url: str) -> list[MeetingStub]:
    """Returns the meetings an ieListMeetings page links to, dated from the link text."""
    soup = BeautifulSoup(body, "lxml")
    stubs = []
    for link in soup.find_all("a", href=True):
        href = str(link["href"])
        query = parse_qs(urlsplit(href).query)
        mid = (query.get("MId") or query.get("MID") or [""])[0]
        when = find_date(link.get_text(" ", strip=True))
        if "ielistdocuments.aspx" in href.lower() and mid and when:
            cancelled = "cancelled" in link.get_text(" ", strip=True).lower()
            if not cancelled:
                stubs.append(MeetingStub(mid, committee, when, "", urljoin(page_url, href)))
    return stubs


def read_page_documents(body: bytes, page_url: str) -> list[DocumentLink]:
    """Returns the documents an ieListDocuments page links to, each once, keyed by ModernGov's id."""
    soup = BeautifulSoup(body, "lxml")
    documents: dict[str, DocumentLink] = {}
    for link in soup.find_all("a", href=True):
        url = urljoin(page_url, str(link["href"]))
        match = DOCUMENT_LINK.search(url)
        if not isinstance(link, Tag) or not match:
            continue
        key = match.group(1) or match.group(2)
        title = re.sub(r"\s+PDF\s+[\d.]+\s*[KM]B$", "", link.get_text(" ", strip=True)).strip()
        if key not in documents:
            documents[key] = DocumentLink(key, title or f"Document {key}", url)
    return list(documents.values())
