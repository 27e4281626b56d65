"""What a search is asked and what it answers: requests, hits, pages of results, comparisons.

Plain dataclasses; no index backend, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from indexer.models import MeaningStatus
from search_app.expansion import Expansion

SORTS = ("relevance", "date", "oldest")


class QueryError(ValueError):
    """A query that cannot be searched, with a message for the person who typed it."""


@dataclass
class SearchRequest:
    """What a person or program asked for: text, filters, sort and page."""

    q: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    """Facet name (council, topic, year, committee, doc_type) -> accepted values, OR-ed within a facet."""
    date_from: date | None = None
    date_to: date | None = None
    decisions_only: bool = False
    sort: str = "relevance"
    page: int = 1
    per_page: int = 20
    expand: bool = True
    """Also search the glossary's equivalents of acronyms and phrases (ranked below the words typed)."""
    semantic: bool = True
    """Also rank in the items nearest the query in meaning (sentence embeddings), fused with the word ranking."""
    respell: bool = True
    """When the words typed find (almost) nothing and a corrected spelling finds more, show its results."""
    councils_typed: tuple[str, ...] = ()
    """Councils (slugs) whose place name `q` types, found by the service from the index's councils: their
    items are lifted by how well they match the other words (ranking.council_gains)."""
    council_spans: tuple[tuple[int, int], ...] = ()
    """Where in `q` (character spans) the words naming those councils stand: they are not scored as words."""


@dataclass
class SearchHit:
    """One agenda item in a result list, with everything a result shows."""

    id: str
    doc_id: str
    council: str
    council_name: str
    committee: str
    committee_name: str
    date: str | None
    doc_type: str
    title: str
    item_number: str
    item_title: str
    topics: list[str]
    decisions: list[str]
    figures: list[str]
    snippet: str
    source: str
    page: int
    source_url: str
    format: str
    earlier_minutes: bool
    """Minutes of an earlier meeting printed in a later pack; date is the earlier meeting's."""
    score: float
    other_sources: list[dict[str, Any]] = field(default_factory=list)
    """The same item in other papers (minutes, item page, a later pack): id, source, page, doc_type, format."""
    passage_page: int = 1
    """The page of the source where the snippet's passage stands (page is where the item starts)."""


@dataclass
class SearchResults:
    """A page of hits with the total, facet counts and a suggestion when the words look misspelt."""

    request: SearchRequest
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None = None
    expansions: list[Expansion] = field(default_factory=list)
    meaning_used: bool = False
    """Items close in meaning were ranked in with the word matches."""
    showing_for: str | None = None
    """The corrected query whose results are shown instead of the typed one's, or None."""
    meaning_status: MeaningStatus | None = None
    """How many items have meaning vectors; until all do, matching is by words only."""
    estimated: bool = False
    """The total and facet counts are estimates (the Xapian backend past COUNT_EXACTLY matches)."""
    missing_words: list[str] = field(default_factory=list)
    """Words typed (plain words) that no item holds, nor a glossary equivalent: the results hold the others, or
    are near in meaning."""
    words_held: bool = True
    """Whether any word typed is held by an item (else every result was found by meaning)."""
    councils_named: list[str] = field(default_factory=list)
    """Councils (slugs) whose place name the query types, not already filtered to: the page offers the filter."""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))


@dataclass
class CouncilRow:
    """One council's line of a comparison: items per year, first and latest mention, latest decision."""

    council: str
    council_name: str
    counts: dict[str, int]
    total: int
    first: str | None
    latest: str | None
    latest_decision: dict[str, Any] | None


@dataclass
class Comparison:
    """Matching items counted by council and year, for researchers comparing councils."""

    request: SearchRequest
    years: list[str]
    rows: list[CouncilRow]
    total: int
