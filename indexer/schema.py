"""The index record: every field's name, kind and flags, as in DESIGN.md's table; no backend's types.

A backend turns this table into its own schema (indexer/whoosh_backend.py for Whoosh).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """One field of the item record.

    kind: "id" (one exact value), "keyword" (comma-separated exact values), "text" (analysed words with
    positions), "datetime", "boolean", "numeric", or "stored" (kept with the record, not searchable).
    """

    name: str
    kind: str
    stored: bool = True
    sortable: bool = False
    """Kept as a column, readable for every item at once (facets, sorting, tie-breaks)."""
    unique: bool = False


FIELDS = (
    Field("id", "id", sortable=True, unique=True),  # sortable: a stable tie-break for ranking
    Field("dup_key", "id", sortable=True),  # copies of one agenda item share it (records.duplicate_key)
    Field("doc_id", "id"),
    Field("content_hash", "stored"),
    Field("council", "id", sortable=True),
    Field("council_name", "stored"),
    Field("committee", "id", sortable=True),
    Field("committee_name", "text"),
    Field("doc_type", "id", sortable=True),
    Field("date", "datetime", sortable=True),
    Field("earlier_minutes", "boolean"),
    Field("year", "id", sortable=True),
    Field("topics", "keyword", sortable=True),
    Field("title", "text"),
    Field("item_number", "stored"),
    Field("item_title", "text"),
    Field("position", "numeric", sortable=True),
    Field("body", "text"),  # spelling suggestions: store.Vocabulary
    Field("decisions", "text"),
    Field("has_decisions", "boolean"),
    Field("figures", "stored"),  # sentences quoted from body, which is searched: indexing them again only cost time
    Field("page", "stored"),
    Field("source", "id"),
    Field("source_url", "stored"),
    Field("format", "stored"),
    Field("provenance", "stored"),
)
FIELD_KINDS = {field.name: field.kind for field in FIELDS}

FACET_FIELDS = ("council", "topic", "year", "committee", "doc_type")
"""Facets as the API names them; "topic" is stored in the field "topics"."""
FACET_FIELD_NAMES = {
    "council": "council",
    "topic": "topics",
    "year": "year",
    "committee": "committee",
    "doc_type": "doc_type",
}
# The text fields a query searches and their weights in BM25F.
SEARCH_FIELDS = {"item_title": 3.0, "decisions": 3.0, "title": 1.5, "body": 1.0, "committee_name": 0.5}
