"""Dataclasses passed between the harvester's steps: portals, committees, meetings, documents, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Portal:
    """Where a council publishes its committee papers, and which system serves them."""

    slug: str
    """The council's folder under corpus/."""
    name: str
    system: str
    """moderngov or cmis."""
    base_url: str
    code: str = ""


@dataclass(frozen=True)
class Committee:
    """A committee as the portal names it."""

    id: str
    name: str


@dataclass
class MeetingStub:
    """A meeting found in a portal's listing, before its papers are fetched."""

    id: str
    committee: Committee
    date: date
    status: str = ""
    url: str = ""
    """The meeting page, where the portal has one (CMIS, ModernGov's HTML pages)."""


@dataclass
class DocumentLink:
    """A document a meeting links to: an agenda pack, a report, the printed minutes."""

    key: str
    """Stable id within the portal: ModernGov's attachment id, or a hash of an opaque CMIS link."""
    title: str
    url: str


@dataclass
class MeetingPaper:
    """A meeting's own page or web-service answer, saved as a paper, and the documents it links to."""

    content: bytes
    suffix: str
    """.xml for a ModernGov GetMeeting answer, .html for a meeting page."""
    url: str
    documents: list[DocumentLink] = field(default_factory=list)


@dataclass
class HarvestFailure:
    """Something the harvest could not fetch or keep, and why, in words a person can act on."""

    council: str
    what: str
    reason: str


@dataclass
class CouncilTally:
    """What one harvest did for one council."""

    meetings_seen: int = 0
    meetings_fetched: int = 0
    meetings_unchanged: int = 0
    documents_fetched: int = 0
    documents_held: int = 0
    documents_failed: int = 0
    blocked: str = ""
    """Why the council was given up on (403, a firewall page, repeated timeouts), or ''."""
    notes: list[str] = field(default_factory=list)


@dataclass
class HarvestReport:
    """What one harvest did: per council tallies, failures with reasons, files written."""

    councils: dict[str, CouncilTally] = field(default_factory=dict)
    failures: list[HarvestFailure] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    """Paths relative to corpus/ of papers written or replaced."""
    requests: int = 0
    seconds: float = 0.0

    def tally(self, slug: str) -> CouncilTally:
        """Returns the tally for a council, starting one if needed."""
        return self.councils.setdefault(slug, CouncilTally())

    def lines(self) -> list[str]:
        """Returns one line per failure, block and note, then one summary line per council."""
        out = [f"failed: {f.council}: {f.what}: {f.reason}" for f in self.failures]
        for slug, t in self.councils.items():
            out.extend(f"note: {slug}: {note}" for note in t.notes)
            if t.blocked:
                out.append(f"blocked: {slug}: {t.blocked}")
        for slug, t in self.councils.items():
            out.append(
                f"{slug}: {t.meetings_seen} meetings seen, {t.meetings_fetched} fetched, "
                f"{t.meetings_unchanged} unchanged; {t.documents_fetched} documents fetched, "
                f"{t.documents_held} already held, {t.documents_failed} failed" + (" (blocked)" if t.blocked else "")
            )
        out.append(f"{self.requests} requests in {self.seconds:.1f} s; {len(self.written)} files written")
        return out
