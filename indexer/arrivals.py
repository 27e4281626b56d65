"""When each agenda item first arrived in the index: a numbered log that email alerts read to find what is
new since they last ran, kept in the index directory beside the generations (arrivals.sqlite).

An item arrives once per content: re-indexing the same paper (a `--full` rebuild, a moved generation)
adds nothing, while a paper whose content changed arrives again under its new content hash. A build
writes its arrivals before it publishes; rows of a generation that was never published (a killed build)
are removed by the next build, which writes them again with new numbers, so an alert confirmed in between
still sees them as new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from indexer.store import current_generation

ARRIVALS = "arrivals.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS arrivals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    generation TEXT NOT NULL,
    UNIQUE (item_id, content_hash)
)
"""


@dataclass(frozen=True)
class Arrival:
    """One item's arrival: its place in the log and its id."""

    seq: int
    item_id: str


def open_log(index_dir: Path) -> sqlite3.Connection:
    """Returns a connection to the index's arrivals log, creating it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(index_dir / ARRIVALS, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    return db


def record_arrivals(index_dir: Path, generation: str, items: Iterable[tuple[str, str]]) -> None:
    """Logs the (item id, content hash) pairs a generation adds; pairs already logged keep their place."""
    db = open_log(index_dir)
    try:
        with db:
            db.executemany(
                "INSERT OR IGNORE INTO arrivals (item_id, content_hash, generation) VALUES (?, ?, ?)",
                ((item_id, content_hash, generation) for item_id, content_hash in items),
            )
    finally:
        db.close()


def forget_unpublished(index_dir: Path, served: str | None) -> None:
    """Removes the rows of generations newer than the one served: builds that never published."""
    if not (index_dir / ARRIVALS).exists():
        return
    db = open_log(index_dir)
    try:
        with db:
            db.execute("DELETE FROM arrivals WHERE generation > ?", (served or "",))
    finally:
        db.close()


def latest_arrival(index_dir: Path) -> int:
    """Returns the number of the last arrival of the generation served (0 before any): a build that has
    logged its arrivals but not yet published them is not counted, or an alert would pass them by."""
    served = current_generation(index_dir)
    if not (index_dir / ARRIVALS).exists() or served is None:
        return 0
    db = open_log(index_dir)
    try:
        row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM arrivals WHERE generation <= ?", (served.name,)).fetchone()
        return int(row[0])
    finally:
        db.close()


def arrivals_between(index_dir: Path, after: int, upto: int) -> list[Arrival]:
    """Returns the items that arrived after one point of the log, up to and including another."""
    if not (index_dir / ARRIVALS).exists():
        return []
    db = open_log(index_dir)
    try:
        rows = db.execute(
            "SELECT seq, item_id FROM arrivals WHERE seq > ? AND seq <= ? ORDER BY seq", (after, upto)
        ).fetchall()
    finally:
        db.close()
    return [Arrival(int(seq), str(item_id)) for seq, item_id in rows]
