"""Document -> IndexRecords -> stored fields, and stored fields back to plain values: the record written and
read in one place (stable ids, facet values, the source path and page of each item)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from indexer.metadata import slugify
from indexer.models import Document, IndexRecord

DECISION_SEPARATOR = "\n"
TOPIC_SEPARATOR = ","


def item_id(relpath: str, position: int) -> str:
    """Returns an item id that stays the same while the file keeps its path and the item its place."""
    return f"{hashlib.sha1(relpath.encode('utf-8')).hexdigest()[:12]}-{position}"


def make_records(document: Document) -> Iterator[IndexRecord]:
    """Yields one IndexRecord per agenda item of a document."""
    source = document.source
    for item in document.items:
        yield IndexRecord(
            id=item_id(source.relpath, item.position),
            doc_id=source.relpath,
            content_hash=source.content_hash,
            council=source.council.slug,
            council_name=document.council_name or source.council.name,
            committee=slugify(document.committee) if document.committee else "unknown",
            committee_name=document.committee or "Committee not stated",
            doc_type=document.doc_type or "document",
            date=item.earlier_meeting or document.meeting_date,
            earlier_minutes=item.earlier_meeting is not None,
            title=document.title,
            item_number=item.number,
            item_title=item.title or document.title,
            body=item.body,
            decisions=item.decisions,
            figures=item.figures,
            topics=item.topics,
            page=item.page,
            source=source.relpath,
            source_url=document.source_url,
            format=document.format,
            provenance=item_provenance(document.provenance, item.earlier_meeting is not None),
        )


def duplicate_key(council: str, when: date | None, title: str, fallback: str) -> str:
    """Returns the key shared by copies of one agenda item: same council, meeting date and title.

    The same item appears as a ModernGov item page, in the printed minutes and again inside the
    next pack; all carry the meeting's date and the item's title. Undated items are never folded.
    """
    words = re.sub(r"[^a-z0-9]+", " ", title.lower()).split()
    while words and re.fullmatch(r"\d+[a-z]?|\d+ \d+", words[0]):
        words = words[1:]
    if when is None or not words or " ".join(words) == "front matter":
        return fallback
    return f"{council}|{when.isoformat()}|{' '.join(words)}"


def item_provenance(provenance: dict[str, str], earlier: bool) -> dict[str, str]:
    """Returns where an item's metadata came from; earlier minutes take their date from their own heading."""
    return {**provenance, "date": "text (minutes of the earlier meeting)"} if earlier else dict(provenance)


def record_fields(record: IndexRecord, position: int) -> dict[str, object]:
    """Returns the record as the keyword arguments of a Whoosh add_document call."""
    when = datetime(record.date.year, record.date.month, record.date.day) if record.date else None
    fields: dict[str, object] = {
        "id": record.id,
        "dup_key": duplicate_key(record.council, record.date, record.item_title, record.id),
        "doc_id": record.doc_id,
        "content_hash": record.content_hash,
        "council": record.council,
        "council_name": record.council_name,
        "committee": record.committee,
        "committee_name": record.committee_name,
        "doc_type": record.doc_type,
        "year": str(record.date.year) if record.date else "undated",
        "topics": TOPIC_SEPARATOR.join(record.topics),
        "title": record.title,
        "item_number": record.item_number,
        "item_title": record.item_title,
        "position": position,
        "body": record.body,
        "decisions": DECISION_SEPARATOR.join(record.decisions),
        "has_decisions": bool(record.decisions),
        "figures": DECISION_SEPARATOR.join(record.figures),
        "page": record.page,
        "source": record.source,
        "source_url": record.source_url,
        "format": record.format,
        "earlier_minutes": record.earlier_minutes,
        "provenance": json.dumps(record.provenance, sort_keys=True),
    }
    if when:
        fields["date"] = when
    return fields


def split_topics(value: str) -> list[str]:
    """Returns the topic slugs of a stored or column topics value."""
    return [topic for topic in value.split(TOPIC_SEPARATOR) if topic]


def read_item(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Returns an item's stored fields as plain values: ISO date, lists for topics, decisions and figures."""
    when = stored.get("date")
    return {
        "id": stored["id"],
        "doc_id": stored["doc_id"],
        "council": stored["council"],
        "council_name": stored.get("council_name", ""),
        "committee": stored.get("committee", ""),
        "committee_name": stored.get("committee_name", ""),
        "date": when.date().isoformat() if isinstance(when, datetime) else None,
        "doc_type": stored.get("doc_type", ""),
        "title": stored.get("title", ""),
        "item_number": stored.get("item_number", ""),
        "item_title": stored.get("item_title", ""),
        "topics": split_topics(stored.get("topics", "")),
        "decisions": [d for d in stored.get("decisions", "").split(DECISION_SEPARATOR) if d],
        "figures": [f for f in stored.get("figures", "").split(DECISION_SEPARATOR) if f],
        "body": stored.get("body", ""),
        "source": stored.get("source", ""),
        "page": int(stored.get("page") or 1),
        "source_url": stored.get("source_url", ""),
        "format": stored.get("format", ""),
        "earlier_minutes": bool(stored.get("earlier_minutes", False)),
        "provenance": json.loads(stored.get("provenance") or "{}"),
    }


def read_other_source(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Returns what a result shows of another paper holding the same item."""
    return {
        "id": stored["id"],
        "source": stored.get("source", ""),
        "page": int(stored.get("page") or 1),
        "doc_type": stored.get("doc_type", ""),
        "format": stored.get("format", ""),
        "title": stored.get("title", ""),
        "earlier_minutes": bool(stored.get("earlier_minutes", False)),
    }
