"""The Whoosh schema: one record per agenda item, fields as in DESIGN.md's index record table."""

from __future__ import annotations

from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import BOOLEAN, DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

# Plain words match their stems (plan, plans, planning); the stop list is Whoosh's short default.
STEMMED = StemmingAnalyzer()

FACET_FIELDS = ("council", "topic", "year", "committee", "doc_type")
"""Facets as the API names them; "topic" is stored in the field "topics"."""
FACET_FIELD_NAMES = {
    "council": "council",
    "topic": "topics",
    "year": "year",
    "committee": "committee",
    "doc_type": "doc_type",
}
SEARCH_FIELDS = {"item_title": 3.0, "decisions": 3.0, "title": 1.5, "body": 1.0, "committee_name": 0.5}


def build_schema() -> Schema:
    """Returns the schema of the item index."""
    return Schema(
        id=ID(stored=True, unique=True),
        dup_key=ID(stored=True, sortable=True),
        doc_id=ID(stored=True),
        content_hash=STORED,
        council=ID(stored=True, sortable=True),
        council_name=STORED,
        committee=ID(stored=True, sortable=True),
        committee_name=TEXT(stored=True, analyzer=STEMMED),
        doc_type=ID(stored=True, sortable=True),
        date=DATETIME(stored=True, sortable=True),
        earlier_minutes=BOOLEAN(stored=True),
        year=ID(stored=True, sortable=True),
        topics=KEYWORD(stored=True, commas=True, scorable=True, sortable=True),
        title=TEXT(stored=True, analyzer=STEMMED),
        item_number=STORED,
        item_title=TEXT(stored=True, analyzer=STEMMED),
        position=NUMERIC(stored=True, sortable=True),
        body=TEXT(stored=True, analyzer=STEMMED, spelling=True),
        decisions=TEXT(stored=True, analyzer=STEMMED),
        has_decisions=BOOLEAN(stored=True),
        figures=TEXT(stored=True, analyzer=STEMMED),
        page=STORED,
        source=ID(stored=True),
        source_url=STORED,
        format=STORED,
        provenance=STORED,
    )
