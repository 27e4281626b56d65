"""Dataclasses passed between the indexer's stages: files, extracted text, documents, items, records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Council:
    """A council as described by corpus/<slug>/council.json."""

    slug: str
    name: str


@dataclass
class SourceFile:
    """One paper found under corpus/, with what its sidecar said about it."""

    path: Path
    relpath: str
    """Path relative to corpus/, with forward slashes: the document's stable id."""
    council: Council
    content_hash: str
    size: int
    sidecar: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """The text of one page; web pages and text files are a single page numbered 1."""

    number: int
    text: str


@dataclass
class ExtractedItem:
    """An agenda item the source format itself delimits (ModernGov web-service XML)."""

    number: str
    title: str
    text: str


@dataclass
class ExtractedText:
    """Text of a source file, page by page, plus anything the format said directly."""

    pages: list[Page]
    format: str
    """One of html, pdf, text, moderngov-xml."""
    title: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    """Metadata the format carries outright (ModernGov XML: committee, date)."""
    items: list[ExtractedItem] | None = None
    """Items delimited by the format; None when the text must be split by parsing."""

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.pages)


@dataclass
class AgendaItem:
    """One agenda item: its number and title as printed, its text and the page it starts on."""

    position: int
    """0-based order within the document; with the document id it makes the item id."""
    number: str
    title: str
    body: str
    page: int = 1
    decisions: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    """Quoted figures with the words around them: "70.6% of children had an up-to-date immunisation"."""
    topics: list[str] = field(default_factory=list)
    earlier_meeting: date | None = None
    """Set on minutes of an earlier meeting printed inside a later pack: the date of that meeting."""


@dataclass
class Document:
    """A parsed paper: its metadata and its agenda items."""

    source: SourceFile
    title: str
    council_name: str
    committee: str
    meeting_date: date | None
    doc_type: str
    source_url: str
    items: list[AgendaItem]
    provenance: dict[str, str] = field(default_factory=dict)
    """Where each metadata value came from: sidecar, text, filename or folder."""
    page_count: int = 1
    format: str = "text"


@dataclass
class IndexRecord:
    """The flat record written to the index for one agenda item."""

    id: str
    doc_id: str
    content_hash: str
    council: str
    council_name: str
    committee: str
    committee_name: str
    doc_type: str
    date: date | None
    earlier_minutes: bool
    """True for minutes of an earlier meeting printed in a later pack; date is that earlier meeting's."""
    title: str
    item_number: str
    item_title: str
    body: str
    decisions: list[str]
    figures: list[str]
    topics: list[str]
    page: int
    source: str
    source_url: str
    format: str
    provenance: dict[str, str] = field(default_factory=dict)
    """Where each metadata value came from: sidecar, text, filename or folder."""


@dataclass
class BuildFailure:
    """A file the build could not index, and why, in words a person can act on."""

    relpath: str
    reason: str
    action: str = "skipped"


@dataclass
class BuildReport:
    """What one index run did: files indexed, unchanged, removed, skipped and failed."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[BuildFailure] = field(default_factory=list)
    failed: list[BuildFailure] = field(default_factory=list)
    warnings: list[BuildFailure] = field(default_factory=list)
    """Files indexed with a problem noted, such as a sidecar that could not be read."""
    items: int = 0
    seconds: float = 0.0
    words_seconds: float = 0.0
    """Until the words were published and searchable (the meaning phase follows)."""
    index_dir: str = ""
    meaning: MeaningReport | None = None
    """What the meaning phase did, when it ran."""

    def summary(self) -> str:
        """Returns what happened: files, and the meaning phase on a line of its own."""
        words = (
            f"{len(self.indexed)} files indexed ({self.items} items), {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.skipped)} skipped, {len(self.failed)} failed, "
            f"{len(self.warnings)} warnings in {self.words_seconds:.1f} s"
        )
        return f"{words}\n{self.meaning.summary()}" if self.meaning else words


@dataclass
class MeaningReport:
    """What one run of the meaning phase did."""

    items: int = 0
    """Items in the generation."""
    added: int = 0
    """Items given vectors by this run."""
    texts: int = 0
    encoded: int = 0
    cached: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"meaning vectors: {self.added:,} items added ({self.items:,} in the index); {self.texts:,} texts "
            f"({self.encoded + self.cached:,} distinct): {self.encoded:,} encoded and {self.cached:,} from the "
            f"cache, in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class MeaningStatus:
    """How far the served generation's meaning vectors have got, for the pages and the API."""

    items: int
    ready: int
    """Items with vectors, or, while a run is adding them, items whose vectors are encoded."""
    running: bool

    @property
    def complete(self) -> bool:
        return self.ready >= self.items
