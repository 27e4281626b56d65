"""What a council's harvests already hold, and writing papers with their sidecars so a kill loses nothing."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

LEDGER_NAME = ".harvest-ledger.json"
LEDGER_VERSION = 1
SIDECAR_SUFFIX = ".meta.json"


@dataclass
class Ledger:
    """corpus/<slug>/.harvest-ledger.json: documents and meetings held, with hashes, and how far runs reached.

    A cache, not the truth: an entry whose file is gone counts as never fetched.
    """

    corpus: Path
    slug: str
    documents: dict[str, dict]
    meetings: dict[str, dict]
    reached: dict[str, str]
    """Per committee choice, the end date of the last run that finished."""

    @classmethod
    def load(cls, corpus: Path, slug: str) -> Ledger:
        """Returns the council's ledger, or an empty one when there is none or it cannot be read."""
        try:
            data = json.loads((corpus / slug / LEDGER_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
            data = {}
        return cls(corpus, slug, data.get("documents", {}), data.get("meetings", {}), data.get("reached", {}))

    def save(self) -> None:
        """Writes the ledger atomically: a kill leaves the old one or the new one, never half of one."""
        data = {"version": LEDGER_VERSION, "documents": self.documents, "meetings": self.meetings}
        data["reached"] = self.reached
        write_atomic(self.corpus / self.slug / LEDGER_NAME, json.dumps(data, indent=1, sort_keys=True).encode())

    def holds(self, table: dict[str, dict], key: str) -> dict | None:
        entry = table.get(key)
        if entry and (self.corpus / entry["path"]).exists():
            return entry
        return None

    def holds_document(self, key: str) -> bool:
        """Returns whether the document was fetched before and its file is still there."""
        return self.holds(self.documents, key) is not None

    def document_with_hash(self, digest: str) -> dict | None:
        """Returns the entry of a held document with these exact bytes, if there is one."""
        for entry in self.documents.values():
            if entry.get("sha256") == digest and (self.corpus / entry["path"]).exists():
                return entry
        return None

    def meeting_settled(self, meeting_id: str, meeting_date: date, window_start: date) -> bool:
        """Returns whether a meeting needs no new visit: held whole, and older than the trailing window."""
        entry = self.holds(self.meetings, meeting_id)
        return bool(entry and entry.get("complete") and meeting_date < window_start)

    def meeting_hash(self, meeting_id: str) -> str:
        entry = self.holds(self.meetings, meeting_id)
        return entry["sha256"] if entry else ""


def content_hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write_atomic(path: Path, content: bytes) -> None:
    """Writes a file through a hidden temporary file and a rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A leading dot keeps the indexer from reading a temporary file left by a kill.
    temp = path.with_name(f".{path.name}.part")
    with temp.open("wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def write_paper(corpus: Path, relpath: str, content: bytes, sidecar: dict[str, object]) -> None:
    """Writes a paper and its sidecar: the sidecar first, so the paper never appears without its metadata."""
    path = corpus / relpath
    write_atomic(Path(str(path) + SIDECAR_SUFFIX), (json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n").encode())
    write_atomic(path, content)


def remove_leftovers(folder: Path) -> None:
    """Removes temporary files a killed harvest left in a council's folder."""
    for temp in folder.rglob(".*.part"):
        temp.unlink(missing_ok=True)
