"""Runs a harvest: for each council, list meetings, fetch each meeting's paper and documents, keep them with sidecars.

List -> fetch meeting -> fetch documents -> write with sidecars -> record in the ledger.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from harvester.cmis import CmisReader
from harvester.fetch import Answer, FetchError, HostBlocked, PoliteClient
from harvester.ledger import Ledger, content_hash, now_iso, remove_leftovers, write_paper
from harvester.models import DocumentLink, HarvestFailure, HarvestReport, MeetingPaper, MeetingStub, Portal
from harvester.moderngov import ModernGovReader
from harvester.registry import ensure_council_json, save_portal
from harvester.selection import WEEKS_BACK, trailing_window
from indexer.metadata import doc_type_named, slugify

FIRST_RUN_DAYS = 365
HTML_TYPES = {"text/html", "application/xhtml+xml"}


class PortalReader(Protocol):
    """What harvest needs of a portal: its meetings, each meeting's paper, and what it noticed."""

    notes: list[str]
    moved_to: str
    """The new base URL when the site redirected us elsewhere, else ''."""

    def find_meetings(self, wanted: list[str], start: date, end: date) -> Iterator[MeetingStub]: ...

    def fetch_meeting(self, stub: MeetingStub) -> MeetingPaper: ...


class DocumentRejected(Exception):
    """A document that arrived but is not what it claims: not a PDF, or a PDF cut short."""


@dataclass
class HarvestPlan:
    """What to harvest: which councils' committees, over which dates."""

    portals: list[Portal]
    committees: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    today: date = field(default_factory=date.today)


def make_reader(portal: Portal, client: PoliteClient) -> PortalReader:
    """Returns the reader for the portal's system."""
    return CmisReader(portal, client) if portal.system == "cmis" else ModernGovReader(portal, client)


def harvest(corpus: Path, plan: HarvestPlan, client: PoliteClient, progress: bool | None = None) -> HarvestReport:
    """Harvests every council in the plan into corpus/; returns what was fetched, held, failed and blocked."""
    report = HarvestReport()
    started = time.monotonic()
    for portal in plan.portals:
        harvest_council(corpus, portal, plan, client, report, progress)
    report.requests = client.requests_made
    report.seconds = time.monotonic() - started
    return report


def harvest_council(
    corpus: Path, portal: Portal, plan: HarvestPlan, client: PoliteClient, report: HarvestReport, progress: bool | None
) -> None:
    tally = report.tally(portal.slug)
    ensure_council_json(corpus, portal)
    remove_leftovers(corpus / portal.slug)
    ledger = Ledger.load(corpus, portal.slug)
    reader = make_reader(portal, client)
    reach_key = ",".join(sorted(c.lower() for c in plan.committees)) or "*"
    start, end = date_range(plan, ledger.reached.get(reach_key))
    try:
        stubs = list(reader.find_meetings(plan.committees, start, end))
    except HostBlocked as exc:
        tally.blocked = exc.reason
        return
    except FetchError as exc:
        if exc.timed_out:
            # Nothing answers in time: that is the site struggling or refusing, so leave it alone this run.
            tally.blocked = f"listing meetings at {exc.url} {exc.reason}; not asking again this run"
        else:
            report.failures.append(HarvestFailure(portal.slug, f"listing meetings at {exc.url}", exc.reason))
        return
    finally:
        tally.notes.extend(reader.notes)
    note_move(corpus, portal, reader, tally.notes)
    window_start, _ = trailing_window(plan.today)
    bar = tqdm(stubs, desc=portal.slug, unit="meeting", disable=None if progress is None else not progress)
    try:
        for stub in bar:
            tally.meetings_seen += 1
            if ledger.meeting_settled(stub.id, stub.date, window_start):
                tally.meetings_unchanged += 1
                continue
            harvest_meeting(corpus, portal, reader, stub, client, ledger, report)
    except HostBlocked as exc:
        tally.blocked = exc.reason
        return
    finally:
        bar.close()
    ledger.reached[reach_key] = end.isoformat()
    ledger.save()


def date_range(plan: HarvestPlan, reached: str | None) -> tuple[date, date]:
    """Returns the dates to list: as asked, else from a little before where the last run reached."""
    _, window_end = trailing_window(plan.today)
    if plan.since:
        start = plan.since
    elif reached:
        start = min(date.fromisoformat(reached), plan.today) - timedelta(weeks=WEEKS_BACK)
    else:
        start = plan.today - timedelta(days=FIRST_RUN_DAYS)
    return start, plan.until or window_end


def note_move(corpus: Path, portal: Portal, reader: PortalReader, notes: list[str]) -> None:
    """Records a base URL that redirected elsewhere, and saves the new one in council.json."""
    moved_to = reader.moved_to
    if moved_to and moved_to != portal.base_url:
        notes.append(f"base URL {portal.base_url} moved to {moved_to}; harvested there and saved in council.json")
        save_portal(corpus, Portal(portal.slug, portal.name, portal.system, moved_to, portal.code))


def harvest_meeting(
    corpus: Path,
    portal: Portal,
    reader: PortalReader,
    stub: MeetingStub,
    client: PoliteClient,
    ledger: Ledger,
    report: HarvestReport,
) -> None:
    """Fetches one meeting's paper and its documents not yet held; HostBlocked stops the council."""
    tally = report.tally(portal.slug)
    try:
        paper = reader.fetch_meeting(stub)
    except HostBlocked:
        raise
    except FetchError as exc:
        report.failures.append(HarvestFailure(portal.slug, f"meeting {stub.id} of {stub.date}", exc.reason))
        return
    folder = meeting_folder(portal, stub)
    relpath = f"{folder}/meeting{paper.suffix}"
    digest = content_hash(paper.content)
    if digest == ledger.meeting_hash(stub.id):
        tally.meetings_unchanged += 1
    else:
        title = f"{stub.committee.name} - {stub.date.day} {stub.date:%B %Y}"
        write_paper(corpus, relpath, paper.content, sidecar(portal, stub, "meeting-page", title, paper.url))
        report.written.append(relpath)
        tally.meetings_fetched += 1
    complete = True
    for document in paper.documents:
        if ledger.holds_document(document.key):
            tally.documents_held += 1
            continue
        complete &= harvest_document(corpus, portal, stub, folder, document, client, ledger, report)
    ledger.meetings[stub.id] = {
        "path": relpath,
        "sha256": digest,
        "date": stub.date.isoformat(),
        "committee": stub.committee.name,
        "complete": complete,
        "checked_at": now_iso(),
    }
    ledger.save()


def harvest_document(
    corpus: Path,
    portal: Portal,
    stub: MeetingStub,
    folder: str,
    document: DocumentLink,
    client: PoliteClient,
    ledger: Ledger,
    report: HarvestReport,
) -> bool:
    """Fetches, checks and keeps one document; returns False when it failed (it is tried again next run)."""
    tally = report.tally(portal.slug)
    try:
        answer = client.get(document.url)
        suffix = check_document(answer)
    except HostBlocked:
        raise
    except (FetchError, DocumentRejected) as exc:
        reason = exc.reason if isinstance(exc, FetchError) else str(exc)
        report.failures.append(HarvestFailure(portal.slug, f"{document.title} ({document.url})", reason))
        tally.documents_failed += 1
        return False
    digest = content_hash(answer.body)
    same = ledger.document_with_hash(digest)
    if same is not None:
        # The same file under another id (minutes attached to two meetings): kept once, indexed once.
        ledger.documents[document.key] = {**same, "url": document.url}
        ledger.save()
        tally.documents_held += 1
        return True
    relpath = f"{folder}/{document.key}_{slugify(document.title)[:60] or 'document'}{suffix}"
    meta = sidecar(portal, stub, doc_type_named(document.title) or "report", document.title, answer.url)
    write_paper(corpus, relpath, answer.body, meta)
    ledger.documents[document.key] = {"path": relpath, "sha256": digest, "url": document.url}
    ledger.documents[document.key]["fetched_at"] = meta["fetched_at"]
    ledger.save()
    report.written.append(relpath)
    tally.documents_fetched += 1
    return True


def meeting_folder(portal: Portal, stub: MeetingStub) -> str:
    """Returns corpus-relative folder for a meeting: <council>/harvested/<committee>/<date>_<meeting id>."""
    committee = slugify(stub.committee.name)[:60] or f"committee-{stub.committee.id}"
    return f"{portal.slug}/harvested/{committee}/{stub.date.isoformat()}_{re.sub(r'[^0-9A-Za-z]+', '', stub.id)}"


def sidecar(portal: Portal, stub: MeetingStub, doc_type: str, title: str, url: str) -> dict[str, object]:
    """Returns the sidecar of a harvested paper: metadata from the portal itself, not guessed from the text."""
    return {
        "council": portal.name,
        "committee": stub.committee.name,
        "date": stub.date.isoformat(),
        "doc_type": doc_type,
        "title": title,
        "source_url": url,
        "fetched_at": now_iso(),
        "harvest": {"system": portal.system, "meeting_id": stub.id, "committee_id": stub.committee.id},
    }


def check_document(answer: Answer) -> str:
    """Returns the file suffix for a fetched document; raises DocumentRejected for a non-PDF or a cut-short PDF."""
    body = answer.body
    if b"%PDF-" in body[:1024]:
        if b"%%EOF" not in body[-2048:]:
            raise DocumentRejected(f"truncated PDF: no %%EOF end marker in its {len(body):,} bytes; not kept")
        return ".pdf"
    if answer.content_type in HTML_TYPES:
        raise DocumentRejected(
            f"expected a PDF but the server sent a {answer.content_type} page ({len(body):,} bytes), "
            "probably an error or sign-in page; not kept"
        )
    kind = answer.content_type or "no content type"
    raise DocumentRejected(f"not a PDF ({kind}, {len(body):,} bytes); only PDF documents are kept")
