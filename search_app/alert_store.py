"""Email alerts as stored: subscribers, their saved searches, what each has been sent and recent sign-ups,
in one SQLite file (WAL, so the web workers and `cpsearch alerts send` share it) whose schema is the
numbered migrations in search_app/migrations/."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from indexer.store import file_lock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FREQUENCIES = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
# A run a little early still counts: cron at 07:00 daily must not skip a day because the last run
# finished at 07:00:40.
DUE_SLACK = timedelta(hours=1)
# Refused deliveries in a row after which an address is sent nothing more.
SUSPEND_AFTER = 3


@dataclass(frozen=True)
class Subscriber:
    """An address that has asked for alerts."""

    id: int
    email: str
    nonce: str
    token_version: int
    failures: int
    suspended_at: str | None


@dataclass(frozen=True)
class Alert:
    """One saved search of a subscriber: `search` is the query string of its search page."""

    id: int
    nonce: str
    subscriber_id: int
    search: str
    label: str
    frequency: str
    status: str
    watermark: int
    last_run_at: str | None


def now_text(now: datetime | None = None) -> str:
    """Returns a time as the store writes it (UTC, ISO 8601, to the second)."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Applies the migrations newer than the database's user_version, each in one transaction; one process
    at a time (two workers starting together would both apply the first)."""
    with file_lock(path.with_name(path.name + ".migrate.lock"), RuntimeError(), wait=True):
        apply_migrations(db)


def apply_migrations(db: sqlite3.Connection) -> None:
    applied = int(db.execute("PRAGMA user_version").fetchone()[0])
    for path in sorted(MIGRATIONS.glob("*.sql")):
        number = int(path.name.split("_", 1)[0])
        if number <= applied:
            continue
        # executescript commits first; the BEGIN makes the script and its version one transaction.
        db.executescript(f"BEGIN;\n{path.read_text(encoding='utf-8')}\nPRAGMA user_version = {number};\nCOMMIT;")


class AlertStore:
    """The alerts database: one connection, opened per request or per sending run."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db, path)

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> sqlite3.Connection:
        """Returns the connection as a context manager that commits, or rolls back on an error."""
        self.db.execute("BEGIN IMMEDIATE")
        return _Transaction(self.db)  # type: ignore[return-value]

    def add_alert(self, email: str, search: str, label: str, frequency: str, now: datetime) -> Alert:
        """Returns the address's alert for this search and frequency, adding it (pending) if new."""
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO subscribers (email, nonce, created_at) VALUES (?, ?, ?)",
                (email, secrets.token_hex(8), now_text(now)),
            )
            subscriber = self.db.execute("SELECT id FROM subscribers WHERE email = ?", (email,)).fetchone()
            self.db.execute(
                "INSERT OR IGNORE INTO alerts (nonce, subscriber_id, search, label, frequency, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                (secrets.token_hex(8), subscriber["id"], search, label, frequency, now_text(now)),
            )
            # Asked again before confirming: the new link's week starts now.
            self.db.execute(
                "UPDATE alerts SET created_at = ? WHERE subscriber_id = ? AND search = ? AND frequency = ? "
                "AND status = 'pending'",
                (now_text(now), subscriber["id"], search, frequency),
            )
            row = self.db.execute(
                "SELECT * FROM alerts WHERE subscriber_id = ? AND search = ? AND frequency = ?",
                (subscriber["id"], search, frequency),
            ).fetchone()
        return alert_of(row)

    def alert(self, alert_id: int) -> Alert | None:
        row = self.db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return alert_of(row) if row else None

    def subscriber(self, subscriber_id: int) -> Subscriber | None:
        row = self.db.execute("SELECT * FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
        return subscriber_of(row) if row else None

    def alerts_of(self, subscriber_id: int) -> list[Alert]:
        rows = self.db.execute("SELECT * FROM alerts WHERE subscriber_id = ? ORDER BY id", (subscriber_id,))
        return [alert_of(row) for row in rows]

    def confirm(self, alert_id: int, watermark: int, now: datetime) -> None:
        """Starts a pending alert from this point of the arrivals log; an address suspended after refusals
        (which confirming any of its alerts again also reaches) may be mailed again."""
        with self.transaction():
            self.db.execute(
                "UPDATE alerts SET status = 'active', confirmed_at = ?, watermark = ?, last_run_at = ? "
                "WHERE id = ? AND status = 'pending'",
                (now_text(now), watermark, now_text(now), alert_id),
            )
            self.db.execute(
                "UPDATE subscribers SET failures = 0, suspended_at = NULL "
                "WHERE id = (SELECT subscriber_id FROM alerts WHERE id = ?)",
                (alert_id,),
            )

    def set_status(self, alert_id: int, status: str) -> None:
        """Pauses ('paused') or resumes ('active') a confirmed alert."""
        self.db.execute("UPDATE alerts SET status = ? WHERE id = ? AND status != 'pending'", (status, alert_id))

    def set_frequency(self, alert_id: int, frequency: str) -> None:
        """Changes how often an alert is sent (an alert with the same search at that frequency stays one)."""
        with self.transaction():
            alert = self.alert(alert_id)
            if alert is None or alert.frequency == frequency:
                return
            # The same search at the other frequency gives way: this alert keeps its state and what it sent.
            self.db.execute(
                "DELETE FROM alerts WHERE subscriber_id = ? AND search = ? AND frequency = ?",
                (alert.subscriber_id, alert.search, frequency),
            )
            self.db.execute("UPDATE alerts SET frequency = ? WHERE id = ?", (frequency, alert_id))

    def delete_alert(self, alert_id: int) -> None:
        """Deletes an alert, and its address once it has none left."""
        with self.transaction():
            row = self.db.execute("SELECT subscriber_id FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            self.db.execute("DELETE FROM alerts WHERE id = ?", (alert_id,))
            if row:
                self._forget_if_unused(row["subscriber_id"])

    def delete_subscriber(self, subscriber_id: int) -> None:
        """Deletes an address and every alert, delivery and record of what was sent to it."""
        self.db.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))

    def _forget_if_unused(self, subscriber_id: int) -> None:
        self.db.execute(
            "DELETE FROM subscribers WHERE id = ? AND NOT EXISTS (SELECT 1 FROM alerts WHERE subscriber_id = ?)",
            (subscriber_id, subscriber_id),
        )

    def due_alerts(self, now: datetime) -> list[Alert]:
        """Returns the active alerts of addresses not suspended whose daily or weekly turn has come."""
        due = []
        rows = self.db.execute(
            "SELECT alerts.* FROM alerts JOIN subscribers ON subscribers.id = alerts.subscriber_id "
            "WHERE alerts.status = 'active' AND subscribers.suspended_at IS NULL ORDER BY alerts.id"
        )
        for row in rows:
            alert = alert_of(row)
            last = datetime.fromisoformat(alert.last_run_at) if alert.last_run_at else None
            if last is None or now - last >= FREQUENCIES[alert.frequency] - DUE_SLACK:
                due.append(alert)
        return due

    def sent_items(self, alert_id: int, item_ids: list[str]) -> set[str]:
        """Returns those of the items that this alert has already sent."""
        sent: set[str] = set()
        for start in range(0, len(item_ids), 500):
            part = item_ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                f"SELECT item_id FROM sent_items WHERE alert_id = ? AND item_id IN ({marks})", (alert_id, *part)
            )
            sent.update(row["item_id"] for row in rows)
        return sent

    def begin_delivery(self, subscriber_id: int, now: datetime) -> int:
        """Records that an email to this address is being sent; returns its number."""
        cursor = self.db.execute(
            "INSERT INTO deliveries (subscriber_id, status, created_at) VALUES (?, 'sending', ?)",
            (subscriber_id, now_text(now)),
        )
        return int(cursor.lastrowid or 0)

    def close_interrupted(self, now: datetime) -> int:
        """Marks as failed the emails a killed run left half-sent (their items were not recorded as sent,
        so this run sends them); returns how many."""
        cursor = self.db.execute(
            "UPDATE deliveries SET status = 'failed', finished_at = ?, error = 'run interrupted' "
            "WHERE status = 'sending'",
            (now_text(now),),
        )
        return cursor.rowcount

    def finish_delivery(
        self, delivery_id: int, sent: dict[int, list[str]], watermarks: dict[int, int], now: datetime
    ) -> None:
        """Records in one transaction that the email went: its items per alert, and how far each alert has
        looked; the address's run of refusals ends."""
        with self.transaction():
            row = self.db.execute("SELECT subscriber_id FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            self.db.execute(
                "UPDATE deliveries SET status = 'sent', finished_at = ? WHERE id = ?", (now_text(now), delivery_id)
            )
            for alert_id, item_ids in sent.items():
                self.db.executemany(
                    "INSERT OR IGNORE INTO sent_items (alert_id, item_id, delivery_id) VALUES (?, ?, ?)",
                    ((alert_id, item_id, delivery_id) for item_id in item_ids),
                )
                self.db.execute("UPDATE alerts SET last_sent_at = ? WHERE id = ?", (now_text(now), alert_id))
            for alert_id, watermark in watermarks.items():
                self.note_run(alert_id, watermark, now)
            if row:
                self.db.execute("UPDATE subscribers SET failures = 0 WHERE id = ?", (row["subscriber_id"],))

    def fail_delivery(self, delivery_id: int, error: str, refused: bool, now: datetime) -> bool:
        """Records an email that did not go; a refusal of the address counts towards suspending it.
        Returns True when the address is now suspended."""
        with self.transaction():
            row = self.db.execute("SELECT subscriber_id FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            self.db.execute(
                "UPDATE deliveries SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                (now_text(now), error[:500], delivery_id),
            )
            if not refused or not row:
                return False
            self.db.execute(
                "UPDATE subscribers SET failures = failures + 1, last_failure = ?, "
                "suspended_at = CASE WHEN failures + 1 >= ? THEN ? ELSE suspended_at END WHERE id = ?",
                (error[:500], SUSPEND_AFTER, now_text(now), row["subscriber_id"]),
            )
            suspended = self.db.execute(
                "SELECT suspended_at FROM subscribers WHERE id = ?", (row["subscriber_id"],)
            ).fetchone()
            return bool(suspended["suspended_at"])

    def note_bounce(self, email: str, reason: str, now: datetime) -> Subscriber | None:
        """Counts a bounce reported after sending (a delivery status notification) like a refusal; returns
        the address's record after it, or None for an address that has no alerts."""
        with self.transaction():
            self.db.execute(
                "UPDATE subscribers SET failures = failures + 1, last_failure = ?, "
                "suspended_at = CASE WHEN failures + 1 >= ? THEN COALESCE(suspended_at, ?) ELSE suspended_at END "
                "WHERE email = ?",
                (reason[:500], SUSPEND_AFTER, now_text(now), email),
            )
            row = self.db.execute("SELECT * FROM subscribers WHERE email = ?", (email,)).fetchone()
        return subscriber_of(row) if row else None

    def note_run(self, alert_id: int, watermark: int, now: datetime) -> None:
        """Records that a run looked at an alert's new items up to this point of the arrivals log."""
        self.db.execute(
            "UPDATE alerts SET watermark = MAX(watermark, ?), last_run_at = ? WHERE id = ?",
            (watermark, now_text(now), alert_id),
        )

    def count_signups(self, kind: str, key: str, since: datetime) -> int:
        """Returns how many sign-ups this address or client made since a time."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM signups WHERE kind = ? AND key = ? AND at >= ?", (kind, key, now_text(since))
        ).fetchone()
        return int(row[0])

    def note_signup(self, kind: str, key: str, now: datetime) -> None:
        """Records a sign-up for throttling; those over a day old are forgotten."""
        with self.transaction():
            self.db.execute("DELETE FROM signups WHERE at < ?", (now_text(now - timedelta(days=1)),))
            self.db.execute("INSERT INTO signups (kind, key, at) VALUES (?, ?, ?)", (kind, key, now_text(now)))

    def purge_unconfirmed(self, before: datetime) -> int:
        """Deletes alerts never confirmed since before a time, and addresses left with none; returns how many."""
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM alerts WHERE status = 'pending' AND created_at < ?", (now_text(before),)
            )
            self.db.execute(
                "DELETE FROM subscribers WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE subscriber_id = subscribers.id)"
            )
        return cursor.rowcount


class _Transaction:
    """Commits the transaction begun by AlertStore.transaction, or rolls it back."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, kind: object, value: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def alert_of(row: sqlite3.Row) -> Alert:
    return Alert(
        row["id"], row["nonce"], row["subscriber_id"], row["search"], row["label"], row["frequency"], row["status"],
        row["watermark"], row["last_run_at"],
    )  # fmt: skip


def subscriber_of(row: sqlite3.Row) -> Subscriber:
    return Subscriber(row["id"], row["email"], row["nonce"], row["token_version"], row["failures"], row["suspended_at"])
