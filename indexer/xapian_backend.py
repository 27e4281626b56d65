"""Xapian for the index past one machine (issue 21, first part): items written to a Xapian database, or to
one database per shard, and searched on one database or on many remote shards as one, ranked by Xapian's
own BM25 with the same k1 and b as the Whoosh pipeline.

What is here: the writer (the build's ItemWriter), the shard a council lives on, and a search of plain
words with facet filters, date ranges, copies folded on a collapse key and facet counts. What is not yet:
the pipeline does not call it (the web server still reads Whoosh), and phrases, operators, wildcards,
topics as a facet and meaning fusion on this backend are still to come (docs/design.md).

Why these choices (the issue's notes on Xapian, all checked here):
- Field weights are written into the within-document frequency of one unprefixed term per word: on
  remote shards ranking must be Xapian's own, and it has no BM25F. The weights are the schema's doubled
  (item title 6, decisions 6, paper title 3, body 2, committee 1), so they are whole numbers.
- Each field's words are also kept as prefixed terms of weight 0, so field:value queries can be added
  without another format.
- Facet values live in value slots. Totals and facet counts are counted over every match once per copy
  key, not taken from Xapian's estimates or match spies, which are not exact with a collapse key.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xapian

from indexer.analysis import analysed_words, stems_of
from indexer.schema import SEARCH_FIELDS

# BM25 as the Whoosh pipeline scores it (search_app/ranking.py): k1 1.2, b 0.75. Xapian's defaults are
# k1 1 and b 0.5, so they are pinned here; k2 0 and k3 1 are Robertson's, min_normlen Xapian's default.
K1, K2, K3, B, MIN_NORMLEN = 1.2, 0.0, 1.0, 0.75, 0.5
WDF_WEIGHTS = {name: round(2 * weight) for name, weight in SEARCH_FIELDS.items()}
FIELD_PREFIXES = {"item_title": "XI", "decisions": "XD", "title": "XT", "body": "XB", "committee_name": "XC"}
ID_PREFIX, PAPER_PREFIX = "Q", "XP"
# Each shard records the papers it holds as metadata "paper:<doc_id>" -> the paper's hash, written in the
# same commit as the paper's items, so a sync that is killed knows exactly what landed.
PAPER_KEY = "paper:"
FILTER_PREFIXES = {"council": "XCO", "committee": "XCM", "doc_type": "XTY", "year": "XY", "topic": "XTO"}
SLOTS = {"dup_key": 0, "date": 1, "council": 2, "committee": 3, "doc_type": 4, "year": 5, "id": 6}
FACET_SLOTS = ("council", "committee", "doc_type", "year")


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
    for name, prefix in FIELD_PREFIXES.items():
        for _, stem in analysed_words(str(fields.get(name) or "")):
            document.add_term(stem, WDF_WEIGHTS[name])
            document.add_term(prefix + stem, 0)
    document.add_boolean_term(ID_PREFIX + fields["id"])
    document.add_boolean_term(PAPER_PREFIX + fields["doc_id"])
    for facet, prefix in FILTER_PREFIXES.items():
        values = str(fields.get("topics" if facet == "topic" else facet) or "")
        for value in values.split(",") if facet == "topic" else [values]:
            if value.strip():
                document.add_boolean_term(prefix + value.strip())
    when = fields.get("date")
    day = when.date() if isinstance(when, datetime) else when if isinstance(when, date) else None
    document.add_value(SLOTS["date"], day.strftime("%Y%m%d") if day else "")
    for name in ("dup_key", "council", "committee", "doc_type", "year", "id"):
        document.add_value(SLOTS[name], str(fields.get(name) or ""))
    document.set_data(json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}))
    return document


class XapianWriter:
    """Writes items to a local Xapian database (the build's ItemWriter); commit makes them durable."""

    def __init__(self, path: Path) -> None:
        self.database = xapian.WritableDatabase(str(path), xapian.DB_CREATE_OR_OPEN)
        # Inside a transaction, so closing without commit throws the writes away instead of keeping them.
        self.database.begin_transaction(True)

    def add_record(self, fields: Mapping[str, Any]) -> None:
        """Adds one item, replacing any item with the same id."""
        self.database.replace_document(ID_PREFIX + fields["id"], item_document(fields))

    def delete_paper(self, doc_id: str) -> None:
        """Deletes every item of one source paper."""
        self.database.delete_document(PAPER_PREFIX + doc_id)

    def replace_paper(self, doc_id: str, paper_hash: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Replaces one paper's items with `records` and records its hash (committed with them)."""
        self.delete_paper(doc_id)
        for record in records:
            self.add_record(record)
        self.database.set_metadata(PAPER_KEY + doc_id, paper_hash)

    def remove_paper(self, doc_id: str) -> None:
        """Deletes one paper's items and its hash."""
        self.delete_paper(doc_id)
        self.database.set_metadata(PAPER_KEY + doc_id, "")

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


def paper_hashes(database: xapian.Database) -> dict[str, str]:
    """Returns doc_id -> hash of the papers a local database holds (get_metadata on shards combined reads
    only the first shard, so each shard is read on its own)."""
    keys = [key.decode() for key in database.metadata_keys(PAPER_KEY)]
    return {key[len(PAPER_KEY) :]: database.get_metadata(key).decode() for key in keys}


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
    """The best matches of a search: (item id, weight) in order, the item total and facet counts."""

    hits: list[tuple[str, float]]
    total: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)


class XapianSearch:
    """Searches one database or many shards as one (Xapian combines their statistics, so weights and order
    do not depend on how items are split)."""

    def __init__(self, shards: Sequence[Shard]) -> None:
        self.shards = list(shards)

    def open(self) -> xapian.Database:
        """Returns the shards combined; raises ShardDown naming every shard that cannot be opened."""
        combined, down = xapian.Database(), []
        for shard in self.shards:
            try:
                combined.add_database(shard.open())
            except xapian.NetworkError:
                down.append(shard.name)
        if down:
            raise ShardDown(down)
        return combined

    def search(
        self,
        text: str,
        filters: Mapping[str, Sequence[str]] | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 10,
    ) -> XapianHits:
        """Returns the best items holding any of the words, one per copy key, with exact facet counts."""
        for attempt in range(2):
            try:
                return self.run(self.open(), text, filters or {}, date_from, date_to, limit)
            except xapian.DatabaseModifiedError:
                # A sync committed while this search read: open the new revision and search it again.
                if attempt:
                    raise
            except xapian.NetworkError:
                raise ShardDown(self.down_shards() or [s.name for s in self.shards]) from None
        raise AssertionError("unreachable")

    def run(
        self,
        database: xapian.Database,
        text: str,
        filters: Mapping[str, Sequence[str]],
        date_from: date | None,
        date_to: date | None,
        limit: int,
    ) -> XapianHits:
        words = list(dict.fromkeys(stems_of(text)))
        query = xapian.Query(xapian.Query.OP_OR, words) if words else xapian.Query.MatchAll
        for facet, values in filters.items():
            accepted = [xapian.Query(FILTER_PREFIXES[facet] + value) for value in values]
            query = xapian.Query(xapian.Query.OP_FILTER, query, xapian.Query(xapian.Query.OP_OR, accepted))
        if date_from or date_to:
            low = date_from.strftime("%Y%m%d") if date_from else "00000000"
            high = date_to.strftime("%Y%m%d") if date_to else "99999999"
            days = xapian.Query(xapian.Query.OP_VALUE_RANGE, SLOTS["date"], low, high)
            query = xapian.Query(xapian.Query.OP_FILTER, query, days)
        enquire = xapian.Enquire(database)
        enquire.set_query(query)
        enquire.set_weighting_scheme(xapian.BM25Weight(K1, K2, K3, B, MIN_NORMLEN))
        enquire.set_collapse_key(SLOTS["dup_key"])
        # Ties broken by item id: document numbers interleave differently on shards and on one database.
        enquire.set_sort_by_relevance_then_value(SLOTS["id"], False)
        # Every match is read, once per copy key, so the total and the facets count agenda items exactly.
        # Xapian's estimates are not exact with a collapse key (on one database "council tax for care
        # leavers" gave bounds 326 to 469 against 400 estimated; remote shards answer 326), and its match
        # spies count copies. Reading every match costs O(matches): what it costs at 1M items on 4 shards
        # is for the benchmark to say, and a cheaper exact count is the next step (docs/design.md).
        mset = enquire.get_mset(0, max(database.get_doccount(), 1))
        hits: list[tuple[str, float]] = []
        facets = {facet: Counter[str]() for facet in FACET_SLOTS}
        for match in mset:
            if len(hits) < limit:
                hits.append((match.document.get_value(SLOTS["id"]).decode(), round(match.weight, 6)))
            for facet in FACET_SLOTS:
                value = match.document.get_value(SLOTS[facet]).decode()
                if value:
                    facets[facet][value] += 1
        counts = {facet: dict(counter.most_common()) for facet, counter in facets.items()}
        return XapianHits(hits=hits, total=mset.size(), facets=counts)

    def down_shards(self) -> list[str]:
        """Returns the names of the shards that do not answer now."""
        down = []
        for shard in self.shards:
            try:
                shard.open().get_doccount()
            except xapian.NetworkError:
                down.append(shard.name)
        return down
