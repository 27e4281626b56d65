"""Xapian for the index past one machine (issue 21): items written to a Xapian database, or to one
database per shard, and searched on one database or on many remote shards as one, ranked by Xapian's own
BM25 with the same k1 and b as the Whoosh pipeline. The web server's part (the query plan, the second stage
that fuses meaning and the pair rule, the pages) is in search_app/xapian_engine.py, xapian_fusion.py and
xapian_service.py.

Why these choices (the issue's notes on Xapian, all checked here):
- Field weights and each field's length are written into the within-document frequency of one unprefixed
  term per word, as BM25F's pseudo-frequency (K1 and WDF_SCALE below): on remote shards ranking must be
  Xapian's own, and it has no BM25F.
- Each field's words are also kept as prefixed terms of weight 0, so field:value queries can be added
  without another format.
- Facet values live in value slots. Totals and facet counts are counted by match spies over one copy of
  each item (Xapian's collapsed counts are not exact), exactly up to COUNT_EXACTLY matches and
  estimated past it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import xapian

from indexer.analysis import analysed_words, stems_of
from indexer.schema import SEARCH_FIELDS
from indexer.topics import load_glossary

# BM25F as the Whoosh pipeline scores it (search_app/ranking.py: k1 1.2, b 0.75 within each field). Xapian
# has no BM25F, and on remote shards ranking must be its own; so each word's within-document frequency is
# written as BM25F's pseudo-frequency, sum over fields of weight x tf / ((1 - b) + b x length / average
# length), times WDF_SCALE and rounded, and Xapian's BM25 is run with b 0 (the lengths are already in
# it) and k1 times WDF_SCALE (the same saturation). Xapian's defaults are k1 1 and b 0.5, so all are
# pinned; k2 0 and k3 1 are Robertson's, min_normlen Xapian's default.
WDF_SCALE = 1000
K1, K2, K3, B, MIN_NORMLEN = 1.2 * WDF_SCALE, 0.0, 1.0, 0.0, 0.5
FIELD_B = 0.75
# The length normalisation stops growing at this many times a field's average length, as in search_app/ranking.py
# (LENGTH_CAP; a test checks the two agree).
FIELD_LENGTH_CAP = 12.0
# The average length of each field, in words, that BM25F's length normalisation divides by: fixed (measured
# on the real papers of corpus/, 508 items), so an item's weights do not depend on when it was written or
# on which shard, and a shard never needs rewriting as the collection grows.
AVERAGE_LENGTHS = {"item_title": 4.9, "decisions": 5.1, "title": 6.0, "body": 570.9, "committee_name": 2.2}
FIELD_PREFIXES = {"item_title": "XI", "decisions": "XD", "title": "XT", "body": "XB", "committee_name": "XC"}
ID_PREFIX, PAPER_PREFIX, COPY_PREFIX, DECISIONS_TERM = "Q", "XP", "XK", "XHD"
# Each pair of words side by side in a field is also a boolean term (PAIR_PREFIX, the two stems, a space
# between), so a two-word phrase is found without reading positions (search_app/xapian_engine.phrase_query):
# at 1M items most of a query's cost on the shards was the positions its phrases read. Every document
# written so carries a mark (FORMAT_6_MARK, TERMS_PREFIX); phrases use the pairs only when every document on
# the shards does.
PAIR_PREFIX = "XW"
# Each glossary phrase of three or more words is also a boolean term (PHRASE_PREFIX and its stems) on the
# documents holding it side by side in one field, so a glossary variant (an acronym typed, searched as its
# long form too) is found without reading positions: at 1M items, interleaved, acronym searches 13 to 14 %
# faster at the median, "UASC" 101 ms against 158 (docs/performance.md, 2026-12-08). The phrases are the
# glossary's, so its digest is part of the format.
PHRASE_PREFIX = "XG"
# Each shard records the papers it holds as metadata "paper:<doc_id>" -> the paper's hash, written in the
# same commit as the paper's items, so a sync that is killed knows exactly what landed.
PAPER_KEY = "paper:"
# Xapian refuses a term (or metadata key) over 245 bytes: longer words are not indexed, and a longer paper
# path or copy key is stood for by its SHA-1.
MAX_TERM_BYTES = 240
FILTER_PREFIXES = {"council": "XCO", "committee": "XCM", "doc_type": "XTY", "year": "XY", "topic": "XTO"}
SLOTS = {"dup_key": 0, "date": 1, "council": 2, "committee": 3, "doc_type": 4, "year": 5, "id": 6}
# Sorting by date reads the day and the item id in one slot, so items of one day keep one order on any
# split into shards; oldest first reads an undated item as "99999999", so it comes last either way.
OLDEST_SLOT, NEWEST_SLOT = 15, 16
# Facet counts come from match spies on the shards, which see every matching document before copies are
# folded; so the counted slots are set on one copy of each item only (the canonical one, mark_canonical).
# Topics are many to an item: their slot holds the item's topics joined, and the web server adds up each
# combination's count per topic, which is exact with one spy.
COUNT_SLOTS = {"council": 10, "committee": 11, "doc_type": 12, "year": 13, "topic": 14}
FACET_SLOTS = ("council", "committee", "doc_type", "year")
# For the council comparison, also on the counted copy only: the council and the meeting day (YYYYMMDD,
# empty if undated), so one spy gives each council's items by year and its first and latest meetings.
COUNCIL_DAY_SLOT = 17
# The format documents are written in: part of each paper's hash (cluster.paper_hash), so a sync after a
# change of format writes every paper again instead of leaving shards in two formats.
# 3: BM25F pseudo-frequencies (in thousandths: in tenths, any mention in a body of 7,000 words or more
# weighed the same), the council-and-day slot. 4: document numbers hashed from the item ids (DOCID_SPACE).
# 5: the terms of word pairs side by side (PAIR_PREFIX). 6: length normalisation capped (FIELD_LENGTH_CAP).
# 7: the terms of the glossary's phrases (PHRASE_PREFIX), for the glossary whose digest follows.


@functools.lru_cache(maxsize=1)
def indexed_phrases() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Returns the glossary's phrases of three or more words, as the stems a quoted phrase gives (a glossary
    variant is searched as one), by their first stem: the phrases whose documents carry a phrase term. A
    phrase that repeats a stem is left to positions, as is one too long for a term."""
    phrases: set[tuple[str, ...]] = set()
    for entry in load_glossary():
        for form in entry:
            stems = tuple(stems_of(form))
            if len(stems) >= 3 and len(set(stems)) == len(stems) and len(phrase_term(stems).encode()) <= MAX_TERM_BYTES:
                phrases.add(stems)
    starts: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for phrase in sorted(phrases):
        starts[phrase[0]].append(phrase)
    return {first: tuple(held) for first, held in starts.items()}


def phrase_term(stems: Sequence[str]) -> str:
    """Returns the boolean term of a glossary phrase's stems side by side."""
    return PHRASE_PREFIX + " ".join(stems)


def is_glossary_phrase(stems: Sequence[str]) -> bool:
    """Returns whether documents carry a phrase term for these stems (indexed_phrases)."""
    return tuple(stems) in indexed_phrases().get(stems[0] if stems else "", ())


def phrases_held(posted: Mapping[int, str]) -> set[tuple[str, ...]]:
    """Returns the glossary phrases whose stems stand at consecutive positions among one field's words
    (position to stem): exactly the documents a phrase query with no slop matches."""
    starts = indexed_phrases()
    held = set()
    for position, stem in posted.items():
        for phrase in starts.get(stem, ()):
            if all(posted.get(position + k) == word for k, word in enumerate(phrase[1:], 1)):
                held.add(phrase)
    return held


GLOSSARY_DIGEST = hashlib.sha1(
    "\n".join(" ".join(p) for held in sorted(indexed_phrases().values()) for p in held).encode()
).hexdigest()[:8]
DOCUMENT_FORMAT = f"7:{GLOSSARY_DIGEST}"
# Every document carries one mark of the format it was written in: TERMS_MARK now, "XFpairs" in formats 5
# and 6. Phrases are found by pairs' terms when every document carries a mark of format 5 on, and by the
# glossary phrases' terms when every one carries this format's (this glossary's): never part-way through a
# sync from an older format or another glossary, when they are found by positions (XapianSearch.held).
FORMAT_6_MARK, TERMS_PREFIX = "XFpairs", "XFterms:"
TERMS_MARK = TERMS_PREFIX + DOCUMENT_FORMAT


class Held(enum.IntFlag):
    """The terms every document on the shards carries, which phrases may then be found by."""

    POSITIONS = 0
    """None: phrases read positions."""
    PAIRS = 1
    """Each pair of words side by side (format 5 on)."""
    GLOSSARY = 2
    """Each of this glossary's phrases of three or more words (format 7 on, written with this glossary)."""
    ALL = 3


def terms_held(database: xapian.Database) -> Held:
    """Returns which terms every document of a database (or shards combined) carries, by their marks."""
    documents = database.get_doccount()
    marked = database.get_termfreq(FORMAT_6_MARK) + sum(t.termfreq for t in database.allterms(TERMS_PREFIX))
    held = Held.PAIRS if marked >= documents else Held.POSITIONS
    return held | Held.GLOSSARY if database.get_termfreq(TERMS_MARK) >= documents else held


# A thread's connection to the shards is kept this long, then opened afresh, and brought up to the shards'
# latest revision at most every REOPEN_SECONDS (a search makes several requests).
KEEP_OPEN_SECONDS = 60.0
REOPEN_SECONDS = 0.5
# Positions of one field's words start FIELD_GAP after the last field's, so no phrase spans two fields.
FIELD_GAP = 100
T = TypeVar("T")
# A search counts its matches and their facet values exactly up to this many matching documents, and
# estimates past it (the API and the page say so).
COUNT_EXACTLY = 20_000
# Past it, the matches counted are the first in document number order, so each item's document number is
# drawn from a hash of its id, spread over DOCID_SPACE, rather than handed out in the order items are
# written: the first matches are then a sample of every council, date and sync alike, where numbers in
# writing order would leave out the councils synced last. 2**26 leaves room to combine 64 shards within
# Xapian's 32-bit document numbers (shard k's number d becomes (d - 1) * shards + k + 1), and to hold tens of
# millions of items in one shard.
DOCID_SPACE = 1 << 26
# A page is cut from the best MATCH_DEPTH matches past its offset, never asked for alone. Asked for 10,
# Xapian 1.4.26's matcher can leave out a match that belongs on the page, whatever the weighting: with
# hashed document numbers, "care leavers aged 19 to 21 in touch with the local authority" lost its third
# item (weight 5,366, above the tenth's 3,447) on the test corpus, which a match set of 20 or more kept;
# which queries it hits depends on the order of the document numbers (docs/design.md). At 30 or more no
# judged query differed from the whole ranking; 50 leaves a margin, and costs the shards 40 more weights.
MATCH_DEPTH = 50
# Threads a web worker counts on (each with its own connection to every shard), shared by its searches.
COUNTING_THREADS = 4


class ShardDown(Exception):
    """One or more shards could not answer: named, never silently left out of the results."""

    def __init__(self, shards: list[str]) -> None:
        super().__init__(f"shard(s) not answering: {', '.join(shards)}")
        self.shards = shards


def shard_of(council: str, shards: int, assigned: Mapping[str, int] | None = None) -> int:
    """Returns the shard a council's items live on: the cluster file's choice, else a stable hash of the
    slug (CRC-32 modulo the number of shards), so a new council is placed without asking anyone."""
    if assigned and council in assigned:
        return assigned[council]
    return zlib.crc32(council.encode()) % shards


def item_document(fields: Mapping[str, Any]) -> xapian.Document:
    """Returns one item record as a Xapian document: weighted words, filter terms, value slots, data."""
    document = xapian.Document()
    start = 1
    pseudo: defaultdict[str, float] = defaultdict(float)
    for name, prefix in FIELD_PREFIXES.items():
        position = start
        words = list(analysed_words(str(fields.get(name) or ""), start_pos=start))
        average = AVERAGE_LENGTHS[name]
        norm = (1 - FIELD_B) + FIELD_B * min(len(words), FIELD_LENGTH_CAP * average) / average
        before: tuple[int, str] | None = None
        posted: dict[int, str] = {}
        for position, stem in words:
            if len(stem.encode()) > MAX_TERM_BYTES - len(prefix):
                continue  # a run of letters or underscores longer than any word: "______" fill-in lines
            posted[position] = stem
            document.add_posting(stem, position, 0)
            document.add_posting(prefix + stem, position, 0)
            pseudo[stem] += SEARCH_FIELDS[name] / norm
            if before is not None and before[0] == position - 1:
                pair = pair_term(before[1], stem)
                if pair is not None:
                    document.add_boolean_term(pair)
            before = (position, stem)
        for phrase in phrases_held(posted):
            document.add_boolean_term(phrase_term(phrase))
        start = position + FIELD_GAP
    document.add_boolean_term(TERMS_MARK)
    for stem, frequency in pseudo.items():
        document.add_term(stem, max(1, round(WDF_SCALE * frequency)))
    document.add_boolean_term(ID_PREFIX + fields["id"])
    document.add_boolean_term(paper_term(str(fields["doc_id"])))
    document.add_boolean_term(copy_term(str(fields["dup_key"])))
    if fields.get("has_decisions"):
        document.add_boolean_term(DECISIONS_TERM)
    for facet, prefix in FILTER_PREFIXES.items():
        for value in topics_of(fields) if facet == "topic" else [str(fields.get(facet) or "")]:
            if value:
                document.add_boolean_term(prefix + value)
    when = fields.get("date")
    day = when.date() if isinstance(when, datetime) else when if isinstance(when, date) else None
    document.add_value(SLOTS["date"], day.strftime("%Y%m%d") if day else "")
    document.add_value(OLDEST_SLOT, f"{day.strftime('%Y%m%d') if day else '99999999'}\t{fields['id']}")
    document.add_value(NEWEST_SLOT, f"{day.strftime('%Y%m%d') if day else ''}\t{fields['id']}")
    for name in ("dup_key", "council", "committee", "doc_type", "year", "id"):
        document.add_value(SLOTS[name], str(fields.get(name) or ""))
    if fields.get("canonical", True):
        for facet in FACET_SLOTS:
            document.add_value(COUNT_SLOTS[facet], str(fields.get(facet) or ""))
        document.add_value(COUNT_SLOTS["topic"], ",".join(sorted(topics_of(fields))))
        document.add_value(COUNCIL_DAY_SLOT, f"{fields.get('council') or ''}\t{day.strftime('%Y%m%d') if day else ''}")
    document.set_data(json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}))
    return document


def topics_of(fields: Mapping[str, Any]) -> list[str]:
    """Returns an item's topic slugs, stored as a list or as one comma-separated string."""
    topics = fields.get("topics") or []
    return [t.strip() for t in (topics.split(",") if isinstance(topics, str) else topics) if t.strip()]


def mark_canonical(records: Sequence[dict[str, Any]]) -> None:
    """Sets "canonical" on each record: true for one copy of each agenda item (the lowest id of its copy
    key), whose facet values the counts read, false for the others."""
    first: dict[str, str] = {}
    for record in records:
        key, item_id = str(record["dup_key"]), str(record["id"])
        first[key] = min(first.get(key, item_id), item_id)
    for record in records:
        record["canonical"] = first[str(record["dup_key"])] == str(record["id"])


class XapianWriter:
    """Writes items to a local Xapian database (the build's ItemWriter); commit makes them durable."""

    def __init__(self, path: Path) -> None:
        self.database = xapian.WritableDatabase(str(path), xapian.DB_CREATE_OR_OPEN)
        # Inside a transaction, so closing without commit throws the writes away instead of keeping them.
        self.database.begin_transaction(True)

    def add_record(self, fields: Mapping[str, Any]) -> None:
        """Adds one item, replacing any item with the same id."""
        # Deleted first, so an item written before document numbers were hashed moves to its own number.
        self.database.delete_document(ID_PREFIX + fields["id"])
        self.database.replace_document(self.free_docid(str(fields["id"])), item_document(fields))

    def free_docid(self, item_id: str) -> int:
        """Returns the document number an item's id hashes to, or the next one free after it."""
        docid = scattered_docid(item_id)
        while self.holds(docid):
            docid = docid % DOCID_SPACE + 1
        return docid

    def holds(self, docid: int) -> bool:
        try:
            self.database.get_document(docid)
        except xapian.DocNotFoundError:
            return False
        return True

    def delete_paper(self, doc_id: str) -> None:
        """Deletes every item of one source paper."""
        self.database.delete_document(paper_term(doc_id))

    def replace_paper(self, doc_id: str, paper_hash: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Replaces one paper's items with `records` and records its hash (committed with them)."""
        self.delete_paper(doc_id)
        for record in records:
            self.add_record(record)
        self.database.set_metadata(bounded(PAPER_KEY, doc_id), f"{paper_hash}\t{doc_id}")

    def remove_paper(self, doc_id: str) -> None:
        """Deletes one paper's items and its hash."""
        self.delete_paper(doc_id)
        self.database.set_metadata(bounded(PAPER_KEY, doc_id), "")

    def papers(self) -> dict[str, str]:
        """Returns doc_id -> hash of every paper this database holds, as of its last commit."""
        return paper_hashes(self.database)

    def commit(self) -> None:
        self.database.commit_transaction()
        self.database.begin_transaction(True)

    def cancel(self) -> None:
        self.database.cancel_transaction()
        self.database.close()

    def close(self) -> None:
        self.database.close()


def scattered_docid(item_id: str) -> int:
    """Returns the document number an item's id hashes to, 1..DOCID_SPACE."""
    digest = hashlib.blake2b(item_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % DOCID_SPACE + 1


def paper_hashes(database: xapian.Database) -> dict[str, str]:
    """Returns doc_id -> hash of the papers a local database holds (get_metadata on shards combined reads
    only the first shard, so each shard is read on its own)."""
    papers = {}
    for key in database.metadata_keys(PAPER_KEY):
        digest, doc_id = database.get_metadata(key).decode().split("\t", 1)
        papers[doc_id] = digest
    return papers


def bounded(prefix: str, value: str) -> str:
    """Returns prefix + value, or prefix + "#" + the value's SHA-1 where that would be too long a term."""
    if len((prefix + value).encode()) <= MAX_TERM_BYTES:
        return prefix + value
    return prefix + "#" + hashlib.sha1(value.encode()).hexdigest()


def pair_term(first: str, second: str) -> str | None:
    """Returns the boolean term of two stems side by side, or None where it would be too long a term (a
    phrase holding such a pair is then found by positions alone)."""
    term = f"{PAIR_PREFIX}{first} {second}"
    return term if len(term.encode()) <= MAX_TERM_BYTES else None


def paper_term(doc_id: str) -> str:
    """Returns the boolean term of every item of one paper."""
    return bounded(PAPER_PREFIX, doc_id)


def copy_term(dup_key: str) -> str:
    """Returns the boolean term of every copy of one agenda item."""
    return bounded(COPY_PREFIX, dup_key)


def write_shards(records: Sequence[Mapping[str, Any]], paths: Sequence[Path], assigned: Mapping[str, int]) -> None:
    """Writes each record to the shard that owns its council."""
    writers = [XapianWriter(path) for path in paths]
    for record in records:
        writers[shard_of(str(record["council"]), len(writers), assigned)].add_record(record)
    for writer in writers:
        writer.commit()
        writer.close()


@dataclass(frozen=True)
class Shard:
    """Where one shard is served: a local path, or host and port of a xapian-tcpsrv."""

    name: str
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    replicas: tuple[tuple[str, int], ...] = ()
    """(host, port) of the xapian-tcpsrv serving each replica, tried in order when the master does not answer."""

    def open(self) -> xapian.Database:
        """Returns the shard's database: the master, else the first replica that answers."""
        if self.path is not None:
            return xapian.Database(str(self.path))
        for host, port in ((self.host, self.port), *self.replicas):
            try:
                return xapian.remote_open(host, port, 10_000, 5_000)
            except xapian.NetworkError:
                continue
        raise xapian.NetworkError(f"{self.name}: neither the master nor a replica answers")


@dataclass
class XapianHits:
    """The best matches of a search: (item id, weight) in order, their copy keys, the item total and facet
    counts; documents are read from the shards only when asked for (each is a round trip to its shard:
    200 took 70 ms from four shards on loopback)."""

    hits: list[tuple[str, float]]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    """The hits' copy keys, in the same order."""
    exact: bool = True
    """Whether the total and the counts are exact (every match checked) or estimated (past COUNT_EXACTLY)."""
    mset: Any = field(default=None, compare=False, repr=False)
    """Xapian's match set, which the documents are read from."""

    def document(self, n: int) -> xapian.Document:
        """Returns the document of the nth hit."""
        return self.mset.get_hit(n).document

    @functools.cached_property
    def records(self) -> list[dict[str, Any]]:
        """The hits' records as the build wrote them (dates as datetime), in the same order."""
        return [record_of(self.document(n)) for n in range(len(self.hits))]


def filtered(
    query: xapian.Query,
    filters: Mapping[str, Sequence[str]],
    date_from: date | None = None,
    date_to: date | None = None,
) -> xapian.Query:
    """Returns the query kept to items with one of the accepted values of each facet, and in the dates."""
    for facet, values in filters.items():
        accepted = [xapian.Query(FILTER_PREFIXES[facet] + value) for value in values]
        query = xapian.Query(xapian.Query.OP_FILTER, query, xapian.Query(xapian.Query.OP_OR, accepted))
    if date_from or date_to:
        low = date_from.strftime("%Y%m%d") if date_from else "00000000"
        high = date_to.strftime("%Y%m%d") if date_to else "99999999"
        days = xapian.Query(xapian.Query.OP_VALUE_RANGE, SLOTS["date"], low, high)
        query = xapian.Query(xapian.Query.OP_FILTER, query, days)
    return query


def items_query(item_ids: Iterable[str]) -> xapian.Query:
    """Returns the query matching these items, by their id terms."""
    return xapian.Query(xapian.Query.OP_OR, [xapian.Query(ID_PREFIX + item_id) for item_id in item_ids])


def record_of(document: xapian.Document) -> dict[str, Any]:
    """Returns the record a document was written from, its meeting date a datetime again."""
    record: dict[str, Any] = json.loads(document.get_data())
    if isinstance(record.get("date"), str):
        record["date"] = datetime.fromisoformat(record["date"])
    return record


def read_matches(mset: xapian.MSet, limit: int) -> tuple[list[tuple[str, float]], list[str]]:
    """Returns the (item id, weight) and the copy key of the first `limit` matches without reading their
    documents: the id is the end of the sort key (the id slot, or day and id), the copy key the collapse key."""
    hits, keys = [], []
    for n in range(min(limit, mset.size())):
        hit = mset._get_hit_internal(n)
        hits.append((hit.get_sort_key().decode().rsplit("\t", 1)[-1], round(hit.get_weight(), 6)))
        keys.append(hit.get_collapse_key().decode())
    return hits, keys


def spy_counts(spy: xapian.ValueCountMatchSpy) -> dict[str, int]:
    """Returns a spy's counts, most first (ties by value), leaving out items with no value."""
    counts = {item.term.decode(): item.termfreq for item in spy.values() if item.term}
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def topic_counts(combinations: Mapping[str, int]) -> dict[str, int]:
    """Returns items per topic from items per combination of topics (the topic slot holds them joined)."""
    counts: Counter[str] = Counter()
    for joined, count in combinations.items():
        for topic in joined.split(","):
            counts[topic] += count
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


@dataclass
class PartCounts:
    """One request's counts: each facet value's count in the documents seen (topics as their combinations),
    the documents Xapian estimates the query matches there, and how many were checked."""

    spied: dict[str, dict[str, int]]
    estimated: int
    seen: int
    check: int
    doccount: int

    def whole(self) -> bool:
        """Whether every match was seen: all were checked, or fewer were found than counting stops at."""
        return self.check >= self.doccount or self.seen < self.check


# facet counts, the items counted, the documents Xapian estimates the query matches, whether exact
Counts = tuple[dict[str, dict[str, int]], int, int, bool]


def part_counts(database: xapian.Database, query: xapian.Query, check: int) -> PartCounts:
    """Returns a query's facet values counted by match spies over its first `check` matches in one database
    (a shard, or the shards combined), unweighted and with no collapse key: a remote shard asked for a
    collapsed page with many matches checked sends back every match it checked (at 1M items on four
    loopback shards: 383 ms a query together, 59 + 159 ms apart; docs/performance.md)."""
    counting = xapian.Enquire(database)
    counting.set_query(query)
    counting.set_weighting_scheme(xapian.BoolWeight())
    spies = {facet: xapian.ValueCountMatchSpy(slot) for facet, slot in COUNT_SLOTS.items()}
    for spy in spies.values():
        counting.add_matchspy(spy)
    doccount = database.get_doccount()
    check = max(min(doccount, check), 1)
    estimated = counting.get_mset(0, 0, check).get_matches_estimated()
    spied = {facet: spy_counts(spy) for facet, spy in spies.items()}
    return PartCounts(spied, estimated, spies["council"].get_total(), check, doccount)


def summed_counts(parts: Sequence[PartCounts]) -> Counts:
    """Returns the facet counts (copies once), the items counted, the documents Xapian estimates the query
    matches, and whether the counts are exact: every match checked, or each part's first matches scaled to
    its own estimate. Each shard counts its own share of COUNT_EXACTLY: asked together, every shard checked
    COUNT_EXACTLY (four times the work on four shards), and one scale for all overstated the councils of a
    shard with few matches beside one with many."""
    summed: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for part in parts:
        # Past it, the documents seen stand for the shard's matches: its first in document number order,
        # a sample (document numbers hash the item ids), scaled by its matches over the documents seen.
        scale = 1.0 if part.whole() else part.estimated / max(part.seen, 1)
        for facet in FACET_SLOTS:
            for value, n in part.spied[facet].items():
                summed[facet][value] += n * scale
        for value, n in topic_counts(part.spied["topic"]).items():
            summed["topic"][value] += n * scale
    # The counts read one fixed copy of each item (mark_canonical). A query matching only another copy's
    # own text (its paper title, "doc_type:minutes") finds the item but counts it under no facet; the
    # total is then at least what the pages show, never fewer. Xapian's collapsed match count is an
    # estimate even when every match is checked ("what did we decide about council tax for care leavers"
    # gave 60 on one database and 39 on three shards, for 60 items), so it is not used.
    facets = {
        facet: dict(sorted(((v, round(n)) for v, n in summed[facet].items()), key=lambda p: (-p[1], p[0])))
        for facet in (*FACET_SLOTS, "topic")
    }
    every_match = all(part.whole() for part in parts)
    return facets, sum(facets["council"].values()), sum(part.estimated for part in parts), every_match


class XapianSearch:
    """Searches one database or many shards as one (Xapian combines their statistics, so weights and order
    do not depend on how items are split)."""

    def __init__(self, shards: Sequence[Shard]) -> None:
        self.shards = list(shards)
        self._local = threading.local()
        self._held: tuple[float, Held] | None = None
        self._lock = threading.Lock()
        self._counting: ThreadPoolExecutor | None = None

    def connected(self) -> xapian.Database:
        """Returns this thread's connection to the shards, at their latest revision: kept open between
        searches (connecting to four shards cost more than the search), brought up to date with reopen()
        (at most every REOPEN_SECONDS), and opened afresh after KEEP_OPEN_SECONDS or when reopen fails (a
        replica swapped in a new copy)."""
        held = getattr(self._local, "held", None)
        now = time.monotonic()
        if held is not None and now - held[0] < KEEP_OPEN_SECONDS:
            if now - held[2] < REOPEN_SECONDS:
                return held[1]  # one search's several requests: one reopen (a round trip to every shard)
            try:
                held[1].reopen()
                self._local.held = (held[0], held[1], now, held[3])
                return held[1]
            except xapian.Error:
                pass
        self._local.held = None
        parts = self.open_parts()
        database = xapian.Database()
        for part in parts:
            database.add_database(part)
        self._local.held = (now, database, now, parts)
        return database

    def parts(self) -> list[xapian.Database]:
        """Returns each shard of this thread's connection on its own (at the revision connected() brought the
        whole to: they share its state), for work whose figures are each shard's."""
        self.connected()
        return list(self._local.held[3])

    def forget(self) -> None:
        """Drops this thread's connection, so the next search connects again (to a replica if need be)."""
        self._local.held = None

    def open(self) -> xapian.Database:
        """Returns the shards combined; raises ShardDown naming every shard that cannot be opened."""
        combined = xapian.Database()
        for part in self.open_parts():
            combined.add_database(part)
        return combined

    def open_parts(self) -> list[xapian.Database]:
        """Returns every shard opened; raises ShardDown naming every shard that cannot be opened."""
        parts, down = [], []
        for shard in self.shards:
            try:
                parts.append(shard.open())
            except xapian.NetworkError:
                down.append(shard.name)
        if down:
            raise ShardDown(down)
        return parts

    def search(
        self,
        text: str,
        filters: Mapping[str, Sequence[str]] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 10,
    ) -> XapianHits:
        """Returns the best items holding any of the words, one per copy key, with exact facet counts."""
        words = list(dict.fromkeys(stems_of(text)))
        query = xapian.Query(xapian.Query.OP_OR, words) if words else xapian.Query.MatchAll
        return self.search_query(filtered(query, filters or {}, date_from, date_to), limit=limit)

    def search_query(
        self,
        query: xapian.Query,
        limit: int = 10,
        offset: int = 0,
        order: str = "relevance",
        fold: bool = True,
        counts: bool = True,
        exact: bool = False,
    ) -> XapianHits:
        """Returns one page of the items a query matches, by weight or by date ("date" newest first,
        "oldest"), one per copy key unless fold is off, with the number of items and the facet counts:
        exact up to COUNT_EXACTLY matches (or always, with exact), estimated past it (without counts:
        Xapian's estimate of the total and no facets). Raises ShardDown naming the shards that do not
        answer."""
        return self.retried(lambda database: self.run(database, query, limit, offset, order, fold, counts, exact))

    def council_days(self, query: xapian.Query) -> dict[str, int]:
        """Returns how many items a query matches per council and meeting day ("council\tYYYYMMDD", the day
        empty if undated), every match counted, copies once."""

        def counted(database: xapian.Database) -> dict[str, int]:
            enquire = xapian.Enquire(database)
            enquire.set_query(query)
            enquire.set_weighting_scheme(xapian.BoolWeight())
            spy = xapian.ValueCountMatchSpy(COUNCIL_DAY_SLOT)
            enquire.add_matchspy(spy)
            enquire.get_mset(0, 0, max(database.get_doccount(), 1))
            return spy_counts(spy)

        return self.retried(counted)

    def newest_per_council(self, query: xapian.Query, councils: int) -> list[dict[str, Any]]:
        """Returns the record of the newest dated item each council has among a query's matches."""

        def newest(database: xapian.Database) -> list[dict[str, Any]]:
            dated = xapian.Query(xapian.Query.OP_VALUE_RANGE, SLOTS["date"], "00000001", "99999999")
            enquire = xapian.Enquire(database)
            enquire.set_query(xapian.Query(xapian.Query.OP_FILTER, query, dated))
            enquire.set_weighting_scheme(xapian.BoolWeight())
            enquire.set_collapse_key(SLOTS["council"])
            enquire.set_sort_by_value(NEWEST_SLOT, True)
            return [record_of(match.document) for match in enquire.get_mset(0, max(councils, 1))]

        return self.retried(newest)

    def count(self, query: xapian.Query, enough: int) -> int:
        """Returns how many documents a query matches, exactly up to `enough` (past it, at least that many)."""

        def counted(database: xapian.Database) -> int:
            enquire = xapian.Enquire(database)
            enquire.set_query(query)
            enquire.set_weighting_scheme(xapian.BoolWeight())
            return int(enquire.get_mset(0, 0, enough).get_matches_lower_bound())

        return self.retried(counted)

    def held(self) -> Held:
        """Returns which terms every document on the shards carries (terms_held), so phrases may be found by
        them: not while a sync is still rewriting documents of an older format or glossary. Asked of the
        shards at most every KEEP_OPEN_SECONDS."""
        now = time.monotonic()
        with self._lock:
            if self._held is not None and now - self._held[0] < KEEP_OPEN_SECONDS:
                return self._held[1]
        held = self.retried(terms_held)
        with self._lock:
            self._held = (now, held)
        return held

    def size(self) -> int:
        """Returns how many documents the shards hold."""
        return self.retried(lambda database: int(database.get_doccount()))

    def retried(
        self,
        work: Callable[[xapian.Database], T],
        errors: tuple[type[Exception], ...] = (xapian.DatabaseModifiedError, xapian.NetworkError),
    ) -> T:
        """Returns work done on this thread's connection, tried once more on a fresh one after any of
        `errors`; raises ShardDown naming the shards that do not answer."""
        for attempt in range(2):
            try:
                return work(self.connected())
            except errors as error:
                # A sync committed while this search read, or a kept connection broke (its server restarted
                # or died): connect again, to a replica if the master is gone, and search once more.
                self.forget()
                if attempt and isinstance(error, xapian.NetworkError):
                    raise ShardDown(self.down_shards() or [s.name for s in self.shards]) from None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def run(
        self,
        database: xapian.Database,
        query: xapian.Query,
        limit: int,
        offset: int,
        order: str,
        fold: bool,
        counts: bool = True,
        exact: bool = False,
    ) -> XapianHits:
        enquire = xapian.Enquire(database)
        enquire.set_query(query)
        enquire.set_weighting_scheme(xapian.BM25Weight(K1, K2, K3, B, MIN_NORMLEN))
        # Without folding, every copy is kept, but the collapse key still gives each match's copy key.
        enquire.set_collapse_key(SLOTS["dup_key"], 1 if fold else 2**31 - 1)
        if order in ("date", "oldest"):
            # Day and item id in one slot (remote shards take no KeyMaker): the same order on any split.
            enquire.set_sort_by_value_then_relevance(NEWEST_SLOT if order == "date" else OLDEST_SLOT, order == "date")
        else:
            # Ties broken by item id: document numbers interleave differently on shards and on one database.
            enquire.set_sort_by_relevance_then_value(SLOTS["id"], False)
        if not counts:
            mset = enquire.get_mset(offset, max(limit, MATCH_DEPTH))
            hits, keys = read_matches(mset, limit)
            return XapianHits(hits, mset.get_matches_estimated(), {}, keys, mset=mset)
        # The counts are asked for first, on the counting threads' own connections, and the page meanwhile on
        # this one: the shards work on both at once. Counts alone (limit 0) need no page.
        counting = self.count_soon(query, exact)
        mset = enquire.get_mset(offset, max(limit, MATCH_DEPTH)) if limit else None
        hits, keys = read_matches(mset, limit) if mset is not None else ([], [])
        facets, counted, estimated, exact = counting()
        return XapianHits(hits, max(counted, offset + len(hits)) if fold else estimated, facets, keys, exact, mset)

    def count_soon(self, query: xapian.Query, exact: bool) -> Callable[[], Counts]:
        """Returns the counts of `counted`, worked out on the counting threads: each shard's on its own
        thread, at once, while the caller asks for the page (asked one after another, the four shards'
        counts were most of a search's time at 1M items; docs/performance.md)."""
        if self._counting is None:
            with self._lock:
                if self._counting is None:
                    self._counting = ThreadPoolExecutor(COUNTING_THREADS, thread_name_prefix="xapian-count")
        pool = self._counting
        # Every match checked (exact) needs no shard's own scale: one request, the shards working at once.
        shares = [None] if exact else list(range(len(self.shards)))
        # Xapian counts references to a query's parts without locking: each thread gets its own copy.
        serialised = query.serialise()
        parts = [pool.submit(self.count_part, serialised, n) for n in shares]
        return lambda: summed_counts([part.result() for part in parts])

    def count_part(self, serialised: bytes, n: int | None) -> PartCounts:
        """Returns one shard's counts (n), or every shard's counted together with every match checked (None),
        on this counting thread's connection; tried once more on a fresh one, as `retried` does."""

        def counted(database: xapian.Database) -> PartCounts:
            part = database if n is None else self.parts()[n]
            # At the shards' latest revision, not this thread's last (its searches come and go): so the
            # counts are never older than the page's, and a search's counts follow a sync as it lands.
            part.reopen()
            share = -(-COUNT_EXACTLY // len(self.shards))
            query = xapian.Query.unserialise(serialised)
            return part_counts(part, query, part.get_doccount() if n is None else share)

        # Any database error is tried again on a fresh connection: a replica swapped in a new copy too.
        return self.retried(counted, (xapian.DatabaseError, xapian.NetworkError))

    def term_counts(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Returns how many items hold each term, and how many items there are (for idf)."""
        try:
            database = self.connected()
            return {term: database.get_termfreq(term) for term in terms}, database.get_doccount()
        except xapian.NetworkError:
            self.forget()
            raise ShardDown(self.down_shards() or [s.name for s in self.shards]) from None

    def down_shards(self) -> list[str]:
        """Returns the names of the shards that do not answer now."""
        down = []
        for shard in self.shards:
            try:
                shard.open().get_doccount()
            except xapian.NetworkError:
                down.append(shard.name)
        return down
