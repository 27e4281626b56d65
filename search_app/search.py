"""SearchRequest -> Whoosh query -> SearchResults: hits, snippets, facet counts and a spelling suggestion.

The only module on the read side that imports whoosh; it knows nothing of Flask.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.index import Index
from whoosh.qparser import MultifieldParser, QueryParser
from whoosh.query import (
    And,
    ConstantScoreQuery,
    DateRange,
    Every,
    FuzzyTerm,
    NullQuery,
    Or,
    Phrase,
    Prefix,
    Query,
    Term,
    Wildcard,
)
from whoosh.searching import Results, Searcher
from whoosh.util.times import long_to_datetime

from indexer.schema import FACET_FIELD_NAMES, FACET_FIELDS, SEARCH_FIELDS, STEMMED
from indexer.store import current_generation, open_index
from search_app.expansion import Expansion, find_expansions, variant_queries
from search_app.snippets import make_snippet, query_words, word_pattern

SORTS = ("relevance", "date", "oldest")
SNIPPET_CHARS = 240
MAX_FACET_VALUES = 50
PHRASE_BOOST = 4.0
# Phrase bonuses and expansions are positional queries, Whoosh's dearest: they look only where it counts.
BONUS_FIELDS = SEARCH_FIELDS
# Items that match only an expansion score well below those that match the words typed.
EXPANSION_BOOST = 0.3
TYPED_WORDS_WEIGHT = 1_000_000.0
SEARCH_SECONDS = 5.0
MAX_EXPANDING_TERMS = 3
MIN_WILDCARD_PREFIX = 2
MAX_EXPANSIONS = 2000
MAX_FUZZY_DISTANCE = 2


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


@dataclass
class SearchResults:
    """A page of hits with the total, facet counts and a suggestion when the words look misspelt."""

    request: SearchRequest
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    suggestion: str | None = None
    expansions: list[Expansion] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.request.per_page))


class SearchIndex:
    """The index being served: opens the current generation once per thread and follows new ones.

    What is derived from a whole generation (facet columns, display names, coverage figures) is
    worked out once per generation and shared by every thread: it is read-only.
    """

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._local = threading.local()
        self._lock = threading.Lock()
        self._derived: tuple[Path | None, dict[str, Any]] | None = None

    def searcher(self) -> Searcher:
        """Returns this thread's searcher on the current generation, reopened when a build publishes."""
        generation = current_generation(self.index_dir)
        state = getattr(self._local, "state", None)
        if state is None or state[0] != generation:
            if state is not None:
                state[1].close()
            index: Index = open_index(self.index_dir)
            self._local.state = (generation, index.searcher())
        return self._local.state[1]  # type: ignore[no-any-return]

    def derived(self, name: str, compute: Callable[[Searcher], Any]) -> Any:
        """Returns a value computed once per generation from this thread's searcher and shared."""
        searcher = self.searcher()
        generation = self._local.state[0]
        with self._lock:
            if self._derived is None or self._derived[0] != generation:
                self._derived = (generation, {})
            values = self._derived[1]
            if name not in values:
                values[name] = compute(searcher)
            return values[name]

    def columns(self) -> dict[str, list[Any]]:
        """Returns the facet columns of the current generation."""
        return self.derived("columns", read_columns)  # type: ignore[no-any-return]

    def search(self, request: SearchRequest) -> SearchResults:
        """Returns the results of a request."""
        return run_search(self.searcher(), request, self.columns())

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Returns an item's stored fields with its full body, or None."""
        fields = self.searcher().document(id=item_id)
        return item_fields(fields) if fields else None

    def document_items(self, doc_id: str) -> list[dict[str, Any]]:
        """Returns every item of one source document in order."""
        searcher = self.searcher()
        hits = searcher.search(Term("doc_id", doc_id), limit=None, sortedby="position")
        return [item_fields(hit.fields()) for hit in hits]

    def compare(self, request: SearchRequest) -> Comparison:
        """Returns the items matching a request counted by council and year (copies of one item once)."""
        return run_comparison(self.searcher(), request, self.columns())

    def other_sources(self, item_id: str) -> list[dict[str, Any]]:
        """Returns the other papers holding the same agenda item (same council, date and title)."""
        searcher = self.searcher()
        docnum = searcher.document_number(id=item_id)
        if docnum is None:
            return []
        key = self.columns()["dup_key"][docnum]
        return [other_source(searcher.stored_fields(d)) for d in searcher.document_numbers(dup_key=key) if d != docnum]

    def more_like(self, item_id: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns items whose text is most like this one's, other papers first, copies left out."""
        searcher = self.searcher()
        docnum = searcher.document_number(id=item_id)
        if docnum is None:
            return []
        key = self.columns()["dup_key"][docnum]
        hits = searcher.more_like(docnum, "body", top=top * 3, numterms=15)
        similar = [item_fields(h.fields()) for h in hits if self.columns()["dup_key"][h.docnum] != key]
        return similar[:top]

    def same_topic_elsewhere(self, topic: str, council: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns the newest items on a topic from councils other than this one."""
        request = SearchRequest(filters={"topic": [topic]}, sort="date", per_page=top * 4)
        hits = [h for h in self.search(request).hits if h.council != council]
        return [asdict(h) for h in hits[:top]]

    def has_source(self, relpath: str) -> bool:
        """Returns whether a source file is in the index (only those may be served)."""
        return self.searcher().document(doc_id=relpath) is not None

    def display_names(self) -> dict[str, dict[str, str]]:
        """Returns slug -> display name for councils and committees."""
        return self.derived("names", read_display_names)  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        """Returns the item count, councils and date span of the index, for empty states and the home page."""
        columns = self.columns()
        return self.derived("stats", lambda searcher: coverage(searcher, columns))  # type: ignore[no-any-return]


def read_display_names(searcher: Searcher) -> dict[str, dict[str, str]]:
    """Returns slug -> display name for councils and committees, from the stored fields."""
    names: dict[str, dict[str, str]] = {"council": {}, "committee": {}}
    for stored in searcher.all_stored_fields():
        names["council"].setdefault(stored["council"], stored.get("council_name", ""))
        names["committee"].setdefault(stored["committee"], stored.get("committee_name", ""))
    return names


def coverage(searcher: Searcher, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """Returns what the index covers: items, councils, first and last year, and every facet's counts."""
    _, facets = count_facets([(0.0, docnum) for docnum in searcher.reader().all_doc_ids()], columns)
    years = sorted(y for y in facets["year"] if y != "undated")
    return {
        "items": searcher.doc_count(),
        "councils": len(facets["council"]),
        "first_year": years[0] if years else None,
        "last_year": years[-1] if years else None,
        "facets": facets,
    }


def parse_words(searcher: Searcher, text: str, fields: dict[str, float] = SEARCH_FIELDS) -> Query:
    """Returns the Whoosh query for typed words: stemmed, AND by default, quotes and field:value honoured."""
    parser = MultifieldParser(list(fields), schema=searcher.schema, fieldboosts=fields)
    try:
        return parser.parse(text)
    except Exception as exc:  # the parser raises assorted types on odd input
        raise QueryError(f"the query could not be read: {exc}") from exc


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


def build_query(searcher: Searcher, text: str, expansions: list[Expansion] | None = None) -> Query:
    """Returns the query for the typed words, plus the glossary's equivalents ranked below them."""
    if not text.strip():
        return Every()
    query = parse_words(searcher, text)
    if is_plain_words(text):
        # Or, not AndMaybe: the phrase implies every word, so the matches are the same, and Whoosh's
        # union matcher costs half its AndMaybe at 10k items.
        query = Or([query, phrase_bonus(text)])
    variants = []
    for expansion in expansions or []:
        typed = stems_of(expansion.term)
        # "care leaver" adds nothing to "care leavers": the stemmer already matches it.
        useful = replace(expansion, added=tuple(a for a in expansion.added if stems_of(a) != typed))
        for variant in variant_queries(text, useful):
            alternative = parse_words(searcher, variant, BONUS_FIELDS)
            alternative.boost = EXPANSION_BOOST
            variants.append(alternative)
    if not variants:
        return query
    # Every item with the words typed ranks above every item found only through an expansion: the
    # typed query's weight dwarfs the expansions' (a ConstantScoreQuery tier cost a second evaluation).
    # Whoosh ignores a compound query's own boost, so every word and phrase of it is weighted.
    for leaf in query.leaves():
        leaf.boost = leaf.boost * TYPED_WORDS_WEIGHT
    return Or([query, *variants])


def stems_of(text: str) -> list[str]:
    """Returns the index's stems of the words in text."""
    return [token.text for token in STEMMED(text)]


def is_plain_words(text: str) -> bool:
    """Returns whether text is two or more bare words: no quotes, operators or field:value."""
    words = text.split()
    return len(words) > 1 and not re.search(r'["():*?~^]|\b(?:AND|OR|NOT)\b', text)


def phrase_bonus(text: str) -> Query:
    """Returns an optional query rewarding items where the words stand together as typed."""
    stems = [token.text for token in STEMMED(text)]
    if len(stems) < 2:
        return NullQuery
    return Or([Phrase(name, stems, slop=1, boost=boost * PHRASE_BOOST) for name, boost in BONUS_FIELDS.items()])


def build_filter(request: SearchRequest) -> Query | None:
    """Returns the query that restricts results to the chosen facet values and dates."""
    parts: list[Query] = []
    for facet, values in request.filters.items():
        if values:
            field_name = FACET_FIELD_NAMES[facet]
            parts.append(Or([Term(field_name, v) for v in values]))
    if request.date_from or request.date_to:
        start = datetime.combine(request.date_from, time.min) if request.date_from else None
        end = datetime.combine(request.date_to, time.max) if request.date_to else None
        parts.append(DateRange("date", start, end))
    if request.decisions_only:
        parts.append(Term("has_decisions", True))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(parts)


COLUMN_FIELDS = ("council", "year", "committee", "doc_type", "topics", "dup_key", "date")


def read_columns(searcher: Searcher) -> dict[str, list[str]]:
    """Returns each facet field's value for every document, read from Whoosh's column store."""
    reader = searcher.reader()
    columns: dict[str, list[Any]] = {
        name: list(reader.column_reader(name, translate=True)) for name in COLUMN_FIELDS if name != "date"
    }
    # Undated items hold a sentinel that overflows datetime, so dates are translated one by one.
    columns["date"] = [column_date(raw) for raw in reader.column_reader("date", translate=False)]
    columns["earlier_minutes"] = [bool(f.get("earlier_minutes")) for f in searcher.all_stored_fields()]
    return columns


def column_date(raw: int) -> datetime | None:
    """Returns a date column value as a datetime, or None for an undated item."""
    try:
        return long_to_datetime(raw)
    except (OverflowError, ValueError):
        return None


def count_facets(
    ranked: list[tuple[float, int]], columns: dict[str, list[Any]]
) -> tuple[int, dict[str, dict[str, int]]]:
    """Returns the number of matching items and, per facet, value -> count, copies of one item counted once."""
    dup_keys = columns["dup_key"]
    seen_keys: set[str] = set()
    counts: dict[str, dict[str, int]] = {name: {} for name in FACET_FIELDS}
    facet_columns = [(facet, columns[FACET_FIELD_NAMES[facet]]) for facet in FACET_FIELDS]
    for _, docnum in ranked:
        key = dup_keys[docnum]
        if key in seen_keys:
            continue  # copies of one item share council, date and title: count the item once
        seen_keys.add(key)
        for facet, column in facet_columns:
            value = column[docnum]
            if not value:
                continue
            bucket = counts[facet]
            for one in value.split(",") if facet == "topic" else (value,):
                bucket[one] = bucket.get(one, 0) + 1
    ordered = {
        facet: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_FACET_VALUES])
        for facet, values in counts.items()
    }
    return len(seen_keys), ordered


def timed_search(searcher: Searcher, query: Query, **kwargs: Any) -> Results:
    """Runs a search that gives up after SEARCH_SECONDS, raising QueryError rather than hanging a worker."""
    # The time-limit wrapper feeds documents straight to the inner collector, skipping its filter,
    # so the filter is joined to the query instead, with a constant score that leaves the ranking as
    # it was. (Require trips an assertion in Whoosh's quality skipping under AndMaybe.)
    filter_query = kwargs.pop("filter", None)
    if filter_query is not None:
        query = And([query, ConstantScoreQuery(filter_query, 1.0)])
    # use_alarm=False: SIGALRM only works in the main thread, and the server searches in worker threads.
    collector = TimeLimitCollector(searcher.collector(**kwargs), timelimit=SEARCH_SECONDS, use_alarm=False)
    try:
        searcher.search_with_collector(query, collector)
    except TimeLimit:
        raise QueryError(
            f"the search took longer than {SEARCH_SECONDS:g} seconds; use fewer or more specific words"
        ) from None
    return collector.results()


def check_expansion(searcher: Searcher, query: Query) -> None:
    """Raises QueryError for wildcards, prefixes and fuzzy terms that would expand too far."""
    expanding = [q for q in query.leaves() if isinstance(q, (Wildcard, Prefix, FuzzyTerm))]
    if len({node.text for node in expanding}) > MAX_EXPANDING_TERMS:
        raise QueryError(f"at most {MAX_EXPANDING_TERMS} wildcard or fuzzy words can be used in one search")
    reader = searcher.reader()
    for node in expanding:
        if isinstance(node, FuzzyTerm):
            node.maxdist = min(node.maxdist, MAX_FUZZY_DISTANCE)
            node.prefixlength = max(node.prefixlength, 1)
        elif len(re.split(r"[*?]", node.text)[0]) < MIN_WILDCARD_PREFIX:
            raise QueryError(f"{node.text!r}: a wildcard needs at least {MIN_WILDCARD_PREFIX} letters before * or ?")
        expansions = sum(1 for _ in islice(node._btexts(reader), MAX_EXPANSIONS + 1))  # noqa: SLF001
        if expansions > MAX_EXPANSIONS:
            raise QueryError(f"{node.text!r} matches more than {MAX_EXPANSIONS} different words; add letters")


def run_search(
    searcher: Searcher, request: SearchRequest, columns: dict[str, list[Any]] | None = None
) -> SearchResults:
    """Returns a page of results with facet counts for a request, copies of one item folded into one.

    One pass: every matching item is scored (or sorted by date) once; the facet counts, the total and
    the page all come from that ranked list.
    """
    columns = columns or read_columns(searcher)
    expansions = find_expansions(request.q) if request.expand else []
    query = build_query(searcher, request.q, expansions)
    check_expansion(searcher, query)
    sort_args: dict[str, Any] = {}
    if request.sort in ("date", "oldest"):
        sort_args = {"sortedby": "date", "reverse": request.sort == "date"}
    results = timed_search(searcher, query, filter=build_filter(request), limit=None, **sort_args)
    ranked = [(float(score or 0.0), docnum) for score, docnum in results.top_n]
    total, facets = count_facets(ranked, columns)
    groups = ranked_groups(ranked, columns)
    start = (request.page - 1) * request.per_page
    pattern = word_pattern(query_words([request.q, *(v for e in expansions for v in e.added)]))
    page = groups[start : start + request.per_page]
    scale = TYPED_WORDS_WEIGHT if expansions else 1.0  # report relevance on the usual BM25 scale
    hits = [make_hit(searcher, score / scale, docnum, columns, pattern) for score, docnum in page]
    suggestion = suggest(searcher, request.q) if request.q.strip() and total < 3 else None
    return SearchResults(
        request=request, total=total, hits=hits, facets=facets, suggestion=suggestion, expansions=expansions
    )


def run_comparison(searcher: Searcher, request: SearchRequest, columns: dict[str, list[str]]) -> Comparison:
    """Returns a council-by-year grid of a request's matching items with first, latest and latest decision."""
    expansions = find_expansions(request.q) if request.expand else []
    query = build_query(searcher, request.q, expansions)
    check_expansion(searcher, query)
    results = timed_search(searcher, query, filter=build_filter(request), limit=None, scored=False)
    cells: dict[str, dict[str, set[str]]] = {}
    dated: dict[str, list[tuple[str, int]]] = {}
    any_item: dict[str, int] = {}
    for _, docnum in results.top_n:
        council, year, key = columns["council"][docnum], columns["year"][docnum], columns["dup_key"][docnum]
        any_item.setdefault(council, docnum)
        cells.setdefault(council, {}).setdefault(year, set()).add(key)
        when = columns["date"][docnum]
        if isinstance(when, datetime):
            dated.setdefault(council, []).append((when.date().isoformat(), docnum))
    names = {}
    rows = []
    for council, by_year in cells.items():
        mentions = sorted(dated.get(council, []))
        decision = latest_decision(searcher, mentions)
        names[council] = searcher.stored_fields(any_item[council]).get("council_name") or council
        rows.append(
            CouncilRow(
                council=council,
                council_name=names[council],
                counts={year: len(keys) for year, keys in by_year.items()},
                total=len(set().union(*by_year.values())),
                first=mentions[0][0] if mentions else None,
                latest=mentions[-1][0] if mentions else None,
                latest_decision=decision,
            )
        )
    rows.sort(key=lambda r: (-r.total, r.council_name))
    years = sorted({y for row in rows for y in row.counts}, key=lambda y: (y == "undated", y))
    return Comparison(request=request, years=years, rows=rows, total=sum(r.total for r in rows))


def latest_decision(searcher: Searcher, mentions: list[tuple[str, int]]) -> dict[str, Any] | None:
    """Returns the newest item among mentions that records a decision, with its first decision."""
    for day, docnum in reversed(mentions):
        stored = searcher.stored_fields(docnum)
        if stored.get("decisions"):
            return {
                "id": stored["id"],
                "date": day,
                "item_title": stored["item_title"],
                "decision": stored["decisions"].split("\n")[0],
            }
    return None


def ranked_groups(ranked: list[tuple[float, int]], columns: dict[str, list[Any]]) -> list[tuple[float, int]]:
    """Returns one (score, docnum) per item in rank order.

    Of an item's copies the best-ranked dated original is kept, not its copy in a later pack.
    """
    chosen: dict[str, tuple[float, int]] = {}
    earlier = columns["earlier_minutes"]
    for score, docnum in ranked:
        key = columns["dup_key"][docnum]
        if key not in chosen or (earlier[chosen[key][1]] and not earlier[docnum]):
            chosen[key] = (score, docnum)
    return list(chosen.values())


def make_hit(
    searcher: Searcher, score: float, docnum: int, columns: dict[str, list[Any]], pattern: re.Pattern[str] | None
) -> SearchHit:
    """Returns a SearchHit with a snippet where the query's words cluster and the item's other sources."""
    fields = item_fields(searcher.stored_fields(docnum))
    others = [
        other_source(searcher.stored_fields(other))
        for other in searcher.document_numbers(dup_key=columns["dup_key"][docnum])
        if other != docnum
    ]
    snippet = make_snippet(fields["body"] or "\n".join(fields["decisions"]), pattern)
    fields.pop("body")
    fields.pop("provenance")
    return SearchHit(snippet=snippet, score=round(score, 3), other_sources=others, **fields)


def other_source(stored: dict[str, Any]) -> dict[str, Any]:
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


def item_fields(stored: dict[str, Any]) -> dict[str, Any]:
    """Returns stored fields as plain values: ISO date, lists for topics and decisions."""
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
        "topics": [t for t in stored.get("topics", "").split(",") if t],
        "decisions": [d for d in stored.get("decisions", "").split("\n") if d],
        "figures": [f for f in stored.get("figures", "").split("\n") if f],
        "body": stored.get("body", ""),
        "source": stored.get("source", ""),
        "page": int(stored.get("page") or 1),
        "source_url": stored.get("source_url", ""),
        "format": stored.get("format", ""),
        "earlier_minutes": bool(stored.get("earlier_minutes", False)),
        "provenance": json.loads(stored.get("provenance") or "{}"),
    }


def suggest(searcher: Searcher, text: str) -> str | None:
    """Returns the query with misspelt words corrected from the index's vocabulary, or None."""
    parser = QueryParser("body", schema=searcher.schema)
    try:
        corrected = searcher.correct_query(parser.parse(text), text, prefix=1)
    except Exception:  # a suggestion is optional; never fail a search for it
        return None
    return corrected.string if corrected.string and corrected.string != text else None
