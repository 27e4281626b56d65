"""A replay server on 127.0.0.1: real ModernGov and CMIS responses from tests/data/harvest, plus failure cases.

Each site is its own server (its own port, so its own host for politeness and robots.txt). The real
responses are served byte for byte; every PDF and every failure (403 firewall page, 503, slow answer,
wrong content type, truncated PDF, moved base URL) is constructed here and says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pdfmaker import make_pdf

HARVEST = Path(__file__).resolve().parent / "data" / "harvest"
GLOUCESTER = HARVEST / "Gloucester-City-Council__GCC-MCP-Pilot" / "xmlSamples"
LGSF = HARVEST / "DemocracyClub__LGSF" / "lgsf" / "minutes" / "tests" / "fixtures"
CONSTRUCTED = HARVEST / "constructed"
CONSTRUCTED_MEETING_PAGE = HARVEST.parent / "constructed_moderngov_agenda_and_minutes.html"
XML = "text/xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


@dataclass
class Reply:
    """What the server answers: status, body, content type, extra headers and a pause before answering."""

    status: int = 200
    body: bytes = b""
    content_type: str = XML
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Route = Callable[[str, dict[str, str], int], Reply]


@dataclass
class Site:
    """One replayed host: a route function and the log of what was asked."""

    route: Route
    url: str = ""
    log: list[tuple[float, str, str]] = field(default_factory=list)
    """(time, path with query, User-Agent) of every request, in order."""
    hits: dict[str, int] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.log]


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            site.log.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
            site.hits[self.path] = site.hits.get(self.path, 0) + 1
            parts = urlsplit(self.path)
            query = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
            reply = site.route(parts.path, query, site.hits[self.path])
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value.replace("{site}", site.url))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a time-out test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_sites(**sites: Site) -> Iterator[dict[str, Site]]:
    """Starts one loopback server per site; yields the sites with their URLs filled in."""
    servers = []
    for site in sites.values():
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(site))
        server.daemon_threads = True
        site.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield sites
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def stand_in_pdf(title: str, lines: list[str] | None = None) -> bytes:
    """Returns a small PDF that says it is a constructed stand-in for a real council document."""
    body = [title, "Constructed stand-in for the replay tests, not the council's document."] + (lines or [])
    return make_pdf(["\n".join(line.replace("(", "[").replace(")", "]") for line in body)])


def robots() -> Reply:
    return Reply(body=(CONSTRUCTED / "robots.txt").read_bytes(), content_type="text/plain")


def not_found() -> Reply:
    return Reply(404, (CONSTRUCTED / "service_disabled_404.html").read_bytes(), HTML)


GLOUCESTER_PDFS = {
    "65461": ["Cabinet - Public Questions", "Questions from the public on local government reorganisation."],
    "65412": [
        "Final proposals for Local Government Reorganisation in Gloucestershire",
        "Report of the Head of Paid Service to Cabinet.",
    ],
    "65413": ["Appendix 1 Option 1 - Single Countywide Unitary"],
    "65416": ["Appendix 3B Inner Circle Report: A Case for Cities"],
    "65417": ["Appendix 3E Cratus Public Engagement Report"],
}


def gloucester(path: str, query: dict[str, str], hit: int) -> Reply:
    """Gloucester's web service: the real GetCommittees, GetMeetings (Cabinet) and GetMeeting 7837."""
    if path == "/robots.txt":
        return robots()
    if path.endswith("/GetCommittees"):
        return Reply(body=(GLOUCESTER / "GetCommittees.xml").read_bytes())
    if path.endswith("/GetMeetings"):
        if query.get("lcommitteeid") == "129":
            return Reply(body=(GLOUCESTER / "GetMeetings.xml").read_bytes())
        return Reply(
            body=b'<?xml version="1.0" encoding="utf-8"?>\n<getmeetings><meetingscount>0</meetingscount></getmeetings>'
        )
    if path.endswith("/GetMeeting") and query.get("lmeetingid") == "7837":
        return Reply(body=(GLOUCESTER / "GetMeeting_7837.xml").read_bytes())
    if path.lower() == "/mgconvert2pdf.aspx":
        attachment = query.get("id", "")
        if attachment == "65414":
            # Constructed: a PDF cut short (no %%EOF), served whole with its true length.
            return Reply(
                body=stand_in_pdf("Appendix 2 Option 2 - East/West 2 Unitary")[:400], content_type="application/pdf"
            )
        if attachment == "65415":
            # Constructed: an HTML page where a PDF should be.
            return Reply(body=b"<html><body><h1>Document unavailable</h1></body></html>", content_type=HTML)
        if attachment in GLOUCESTER_PDFS:
            title, *rest = GLOUCESTER_PDFS[attachment]
            return Reply(body=stand_in_pdf(title, rest), content_type="application/pdf")
    return not_found()


def manchester(path: str, query: dict[str, str], hit: int) -> Reply:
    """Manchester's web service: the real (trimmed) GetCommittees, GetMeetings and GetMeeting answers."""
    if path == "/robots.txt":
        return robots()
    if path.endswith("/GetCommittees"):
        return Reply(body=(LGSF / "committees.xml").read_bytes())
    if path.endswith("/GetMeetings") and query.get("lcommitteeid") == "144":
        return Reply(body=(LGSF / "meetings.xml").read_bytes())
    if path.endswith("/GetMeeting"):
        answer = {"4967": "meeting_with_minutes.xml", "4966": "meeting_no_minutes.xml"}.get(query.get("lmeetingid", ""))
        if answer:
            return Reply(body=(LGSF / answer).read_bytes())
    if path.lower() == "/mgconvert2pdf.aspx" and query.get("id") == "60860":
        return Reply(
            body=stand_in_pdf(
                "Minutes Audit Committee 25 Nov 2025",
                ["RESOLVED: To note the internal audit progress report."],
            ),
            content_type="application/pdf",
        )
    if path.lower() == "/mgconvert2pdf.aspx" and query.get("id") == "60909":
        # Constructed: the first answer is a 503, the retry gets the document.
        if hit == 1:
            return Reply(503, b"Service Unavailable", "text/plain", {"Retry-After": "1"})
        return Reply(body=stand_in_pdf("Audit Committee Work Programme February 2026"), content_type="application/pdf")
    return not_found()


BIRMINGHAM_MEETINGS = {
    "15028": "cmis_detail_with_minutes.html",
    "15029": "cmis_detail_no_minutes.html",
    "15030": "cmis_meeting_summary.html",
}


def birmingham(path: str, query: dict[str, str], hit: int) -> Reply:
    """Birmingham's CMIS: the real (trimmed) meetings page, list view, June calendar and meeting pages."""
    lower = path.lower()
    if path == "/robots.txt":
        return robots()
    if lower == "/birmingham/meetings.aspx":
        if query.get("ctl") == "MeetingCalendarListView":
            return Reply(body=(LGSF / "cmis_listview.html").read_bytes(), content_type=HTML)
        return Reply(body=(LGSF / "cmis_base.html").read_bytes(), content_type=HTML)
    if "/ctl/meetingcalendarpublicnojava/" in lower:
        month = "cmis_calendar_month.html" if "/date/2026-06-01/" in lower else None
        body = (LGSF / month).read_bytes() if month else (CONSTRUCTED / "cmis_empty_month.html").read_bytes()
        return Reply(body=body, content_type=HTML)
    if "/ctl/viewmeetingpublic/" in lower:
        for meeting, page in BIRMINGHAM_MEETINGS.items():
            if f"/meeting/{meeting}/" in lower:
                return Reply(body=(LGSF / page).read_bytes(), content_type=HTML)
    if lower == "/birmingham/document.ashx":
        if "id" in query and query["id"] == "def456":
            # Constructed: a document that is never available (503 every time).
            return Reply(503, b"Service Unavailable", "text/plain")
        name = query.get("id") or "opaque link"
        return Reply(
            body=stand_in_pdf(f"Birmingham document {name}", ["Licensing Sub-Committee papers."]),
            content_type="application/pdf",
        )
    return not_found()


def croydon_html(path: str, query: dict[str, str], hit: int) -> Reply:
    """A ModernGov site with its web service off (constructed), read through ieListMeetings and ieListDocuments."""
    lower = path.lower()
    if path == "/robots.txt":
        return robots()
    if "mgwebservice.asmx" in lower:
        return not_found()
    if lower == "/mglistcommittees.aspx":
        return Reply(body=(CONSTRUCTED / "mgListCommittees.html").read_bytes(), content_type=HTML)
    if lower == "/ielistmeetings.aspx" and query.get("cid") == "171" and query.get("year") == "2021":
        return Reply(body=(CONSTRUCTED / "ieListMeetings_171_2021.html").read_bytes(), content_type=HTML)
    if lower == "/ielistmeetings.aspx":
        return Reply(body=b"<html><body><p>No meetings.</p></body></html>", content_type=HTML)
    if lower == "/ielistdocuments.aspx" and query.get("mid") == "2483":
        return Reply(body=CONSTRUCTED_MEETING_PAGE.read_bytes(), content_type=HTML)
    if lower.startswith("/documents/"):
        return Reply(body=stand_in_pdf(path.rsplit("/", 1)[-1]), content_type="application/pdf")
    return not_found()


def firewalled(path: str, query: dict[str, str], hit: int) -> Reply:
    """Constructed: a site behind a firewall that answers everything with a 403 challenge page."""
    return Reply(403, (CONSTRUCTED / "firewall_403.html").read_bytes(), HTML)


def unresponsive(path: str, query: dict[str, str], hit: int) -> Reply:
    """Constructed: a site that answers nothing in time (each answer comes after 2 seconds)."""
    return Reply(200, b"late", "text/plain", delay=2.0)


def moved_to(target: Site) -> Route:
    """Constructed: a base URL that has moved: every path answers 301 to the same path on target."""

    def route(path: str, query: dict[str, str], hit: int) -> Reply:
        suffix = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        return Reply(301, b"", HTML, {"Location": target.url + suffix})

    return route
