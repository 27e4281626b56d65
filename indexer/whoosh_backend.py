"""Whoosh behind the index seam: the schema, opening and creating a generation, reading postings, columns
and records as arrays (ItemReader), and writing records (ItemWriter). The only module importing whoosh.

Whoosh-Reloaded's upstream is archived. Reading postings a block at a time (50 times faster than a
matcher's per-item calls) and field lengths from the column store needs private names: they are listed
once in PRIVATE_NAMES, and check_private_names() fails with the name when an upgrade moves one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from pickle import loads  # Whoosh's own posting format, from our own index
from typing import Any

import numpy as np
import whoosh
from whoosh import index as whoosh_index
from whoosh.analysis import CompositeAnalyzer, StemmingAnalyzer, Token
from whoosh.codec import whoosh3
from whoosh.fields import BOOLEAN, DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, FieldType, Schema
from whoosh.formats import Positions
from whoosh.lang.porter import stem as porter_stem
from whoosh.matching import FilterMatcher, Matcher
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.reading import IndexReader
from whoosh.util.numeric import byte_to_length
from whoosh.util.times import long_to_datetime
from whoosh.writing import IndexWriter

from indexer.backend import Capabilities, Postings
from indexer.schema import FIELD_KINDS, FIELDS, Field
from indexer.workers import die_with_parent, usable_cores

__all__ = ["porter_stem", "create_index", "open_reader", "open_writer", "index_exists", "WhooshReader"]

# Every private Whoosh name this module uses, as (owner, attribute): a test and every open check them.
PRIVATE_NAMES = (
    (whoosh3.W3LeafMatcher, "_read_ids"),
    (whoosh3.W3LeafMatcher, "_read_weights"),
    (whoosh3.W3LeafMatcher, "_read_values"),
    (whoosh3.W3LeafMatcher, "_next_block"),
    (whoosh3, "_lenfield"),
    (whoosh3, "LENGTHS_COLUMN"),
    (whoosh3.W3PerDocReader, "_cached_reader"),
)
# Set on instances only: checked on a real segment and matcher by check_private_names().
PRIVATE_INSTANCE_NAMES = ("SegmentReader._perdoc", "W3LeafMatcher._ids", "W3LeafMatcher._weights")
POSITION_BITS = 32
LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
CAPABILITIES = Capabilities(postings=True, exact_facets=True, multi_valued_facets=True, spelling=True)


class WhooshChanged(RuntimeError):
    """The installed Whoosh lacks a private name this backend reads."""


def check_private_names(reader: IndexReader | None = None) -> None:
    """Raises WhooshChanged naming the first private Whoosh name that is missing."""
    version = ".".join(map(str, whoosh.__version__))
    for owner, name in PRIVATE_NAMES:
        if not hasattr(owner, name):
            raise WhooshChanged(
                f"Whoosh {version} has no {getattr(owner, '__name__', owner)}.{name}; "
                "indexer/whoosh_backend.py reads it (pinned: whoosh-reloaded 2.7.5)"
            )
    for segment, _ in reader.leaf_readers() if reader is not None else []:
        if not hasattr(segment, "_perdoc"):
            raise WhooshChanged(f"Whoosh {version}: a segment reader has no _perdoc (column store)")


class ItemAnalyzer(CompositeAnalyzer):  # type: ignore[misc]
    """indexer.analysis as a Whoosh analyzer: the same tokens as Whoosh's StemmingAnalyzer, in one loop.

    Calls asking for character offsets, kept stop words or untokenised text go to Whoosh's own chain.
    """

    def __init__(self) -> None:
        from indexer.analysis import MIN_WORD, STOP_WORDS

        super().__init__(*StemmingAnalyzer(stoplist=STOP_WORDS, minsize=MIN_WORD).items)

    def __call__(  # type: ignore[override]
        self,
        value: str,
        no_morph: bool = False,
        positions: bool = False,
        chars: bool = False,
        removestops: bool = True,
        tokenize: bool = True,
        start_pos: int = 0,
        mode: str = "",
        boosts: bool = False,
        **kwargs: Any,
    ) -> Iterator[Token]:
        if chars or not removestops or not tokenize or kwargs:
            return super().__call__(  # type: ignore[no-any-return]
                value,
                no_morph=no_morph,
                positions=positions,
                chars=chars,
                removestops=removestops,
                tokenize=tokenize,
                start_pos=start_pos,
                mode=mode,
                boosts=boosts,
                **kwargs,
            )
        return self._tokens(value, positions, start_pos, mode, no_morph)

    def _tokens(self, value: str, positions: bool, start_pos: int, mode: str, no_morph: bool) -> Iterator[Token]:
        from indexer.analysis import analysed_words

        token = Token(positions, False, removestops=True, mode=mode)
        token.boost = 1.0
        token.stopped = False
        for pos, text in analysed_words(value, start_pos, stemmed=not no_morph):
            token.pos = pos
            token.text = text
            yield token


def whoosh_field(field: Field, analyzer: ItemAnalyzer) -> FieldType:
    """Returns the Whoosh field type of a field of the record."""
    kind, stored, sortable = field.kind, field.stored, field.sortable
    if kind == "id":
        return ID(stored=stored, unique=field.unique, sortable=sortable)
    if kind == "text":
        return TEXT(stored=stored, analyzer=analyzer)
    if kind == "keyword":
        return KEYWORD(stored=stored, commas=True, scorable=True, sortable=sortable)
    if kind == "datetime":
        return DATETIME(stored=stored, sortable=sortable)
    if kind == "boolean":
        return BOOLEAN(stored=stored)
    if kind == "numeric":
        return NUMERIC(stored=stored, sortable=sortable)
    return STORED()


def build_schema() -> Schema:
    """Returns the Whoosh schema of the item record (indexer/schema.py)."""
    analyzer = ItemAnalyzer()
    return Schema(**{field.name: whoosh_field(field, analyzer) for field in FIELDS})


def index_exists(path: Path) -> bool:
    """Returns whether a directory holds a Whoosh index."""
    return bool(whoosh_index.exists_in(str(path)))


def create_index(path: Path) -> None:
    """Creates an empty index in a directory."""
    whoosh_index.create_in(str(path), build_schema())


def open_reader(path: Path) -> WhooshReader:
    """Returns a reader on the index in a directory."""
    return WhooshReader(whoosh_index.open_dir(str(path)).searcher())


class WhooshReader:
    """ItemReader over one Whoosh index (a searcher, so per thread)."""

    capabilities = CAPABILITIES

    def __init__(self, searcher: Any) -> None:
        self._searcher = searcher
        self._reader: IndexReader = searcher.reader()
        self._schema = searcher.schema
        check_private_names(self._reader)

    @property
    def size(self) -> int:
        return int(self._reader.doc_count_all())

    def live(self) -> np.ndarray:
        live = np.zeros(self.size, dtype=bool)
        live[list(self._reader.all_doc_ids())] = True
        return live

    def _bytes(self, field: str, term: str) -> bytes | None:
        if field not in self._schema:
            return None
        try:
            return self._schema[field].to_bytes(term)  # type: ignore[no-any-return]
        except ValueError:
            return None

    def _matchers(self, field: str, term: str) -> list[tuple[Matcher, int]]:
        """Returns each segment's matcher for a term with the segment's first docnum; deletions left in."""
        text = self._bytes(field, term)
        found = []
        for segment, base in self._reader.leaf_readers() if text is not None else []:
            if (field, text) in segment:
                matcher = segment.postings(field, text)
                found.append((matcher.child if isinstance(matcher, FilterMatcher) else matcher, base))
        return found

    def postings(self, field: str, term: str) -> Postings:
        docnums: list[Any] = []
        weights: list[Any] = []
        for matcher, base in self._matchers(field, term):
            if isinstance(matcher, whoosh3.W3LeafMatcher):
                while matcher.is_active():
                    matcher._read_ids()  # a block's ids and weights at once, 50x faster
                    matcher._read_weights()
                    docnums.append(np.asarray(matcher._ids, dtype=np.int64) + base)
                    weights.append(np.asarray(matcher._weights, dtype=np.float64))
                    matcher._next_block()
            else:
                while matcher.is_active():
                    docnums.append(np.array([matcher.id() + base], dtype=np.int64))
                    weights.append(np.array([matcher.weight()], dtype=np.float64))
                    matcher.next()
        if not docnums:
            return Postings(np.zeros(0, dtype=np.int64), np.zeros(0))
        return Postings(np.concatenate(docnums), np.concatenate(weights))

    def occurrences(self, field: str, term: str) -> np.ndarray:
        docnums: list[int] = []
        positions: list[list[int]] = []
        for matcher, base in self._matchers(field, term):
            if isinstance(matcher, whoosh3.W3LeafMatcher) and type(matcher.format) is Positions:
                while matcher.is_active():
                    matcher._read_ids()  # a block at a time, as in postings()
                    matcher._read_values()
                    docnums.extend(i + base for i in matcher._ids)
                    positions.extend(position_deltas(value) for value in matcher._values)
                    matcher._next_block()
            else:
                while matcher.is_active():
                    docnums.append(matcher.id() + base)
                    positions.append(deltas_of(matcher.value_as("positions")))
                    matcher.next()
        return occurrences(np.array(docnums, dtype=np.int64), positions)

    def field_lengths(self, field: str) -> tuple[np.ndarray, float]:
        """Returns each item's length in a field as Whoosh stores it (one byte, so approximate), and the average."""
        lengths = np.ones(self.size)
        for segment, base in self._reader.leaf_readers():
            perdoc = segment._perdoc
            column = perdoc._cached_reader(whoosh3._lenfield(field), whoosh3.LENGTHS_COLUMN)
            if column is not None:
                count = segment.doc_count_all()
                lengths[base : base + count] = LENGTH_OF_BYTE[np.fromiter(column, dtype=np.uint8, count=count)]
        return lengths, self._reader.field_length(field) / (self.size or 1) or 1

    def has_term(self, field: str, term: str) -> bool:
        text = self._bytes(field, term)
        return text is not None and (field, text) in self._reader

    def terms(self, field: str, prefix: str = "") -> Iterator[str]:
        if FIELD_KINDS.get(field) not in ("text", "id", "keyword"):
            return iter(())  # numbers, dates and flags are held as encoded bytes, not words
        field_type = self._schema[field]
        return (field_type.from_bytes(term) for term in self._reader.expand_prefix(field, prefix))

    def column(self, field: str) -> list[Any]:
        if self._schema[field].__class__ is DATETIME:
            # Undated items hold a sentinel that overflows datetime, so dates are translated one by one.
            return [column_date(raw) for raw in self._reader.column_reader(field, translate=False)]
        return list(self._reader.column_reader(field, translate=True))

    def flags(self, field: str) -> np.ndarray:
        flags = np.zeros(self.size, dtype=bool)
        flags[list(self._searcher.document_numbers(**{field: True}))] = True
        return flags

    def stored(self, docnum: int) -> Mapping[str, Any]:
        return self._reader.stored_fields(docnum)  # type: ignore[no-any-return]

    def docnum_of(self, item_id: str) -> int | None:
        found = self._searcher.document_number(id=item_id)
        return int(found) if found is not None else None

    def stored_records(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._searcher.all_stored_fields())

    def close(self) -> None:
        self._searcher.close()


def column_date(raw: int) -> date | None:
    """Returns a date column value as a date, or None for an undated item."""
    try:
        return long_to_datetime(raw).date()  # type: ignore[no-any-return]
    except (OverflowError, ValueError):
        return None


def position_deltas(value: bytes) -> list[int]:
    """Returns the gaps between a posting's positions as Whoosh's Positions format pickles them."""
    # The format drops pickle's closing "." to save a byte per posting; see formats.Positions.
    return loads(value[4:] if value.endswith(b".") else value[4:] + b".")  # type: ignore[no-any-return]


def deltas_of(positions: list[int]) -> list[int]:
    """Returns the gaps between ascending positions, the first counted from 0."""
    return [b - a for a, b in zip([0, *positions], positions, strict=False)]


def occurrences(docnums: np.ndarray, deltas: list[list[int]]) -> np.ndarray:
    """Returns every occurrence of a term as one sorted int64, docnum << 32 | position, from each posting's
    gaps between positions (how Whoosh stores them)."""
    counts = np.fromiter((len(d) for d in deltas), dtype=np.int64, count=len(deltas))
    gaps = np.fromiter((g for item in deltas for g in item), dtype=np.int64, count=int(counts.sum()))
    if not gaps.size:
        return gaps
    running = np.cumsum(gaps)
    starts = np.cumsum(counts) - counts
    # Each posting's positions restart from 0: subtract the running total before its first gap.
    before = np.repeat(running[starts[counts > 0]] - gaps[starts[counts > 0]], counts[counts > 0])
    return np.sort((np.repeat(docnums, counts) << POSITION_BITS) | (running - before))


class WhooshWriter:
    """ItemWriter over a Whoosh writer."""

    def __init__(self, writer: IndexWriter) -> None:
        self._writer = writer

    def add_record(self, fields: Mapping[str, Any]) -> None:
        self._writer.add_document(**{k: v for k, v in fields.items() if v is not None})

    def delete_paper(self, doc_id: str) -> None:
        self._writer.delete_by_term("doc_id", doc_id)

    def commit(self) -> None:
        self._writer.commit()

    def cancel(self) -> None:
        self._writer.cancel()


def open_writer(path: Path, parallel: bool = False) -> WhooshWriter:
    """Returns a writer on a generation being built; parallel for a build from scratch.

    In parallel, items go in batches to one writer process per core, each writing its own segment
    (Whoosh's MpWriter, multisegment: no final merge). Analysis and posting writing are Python, so
    this is what uses the second core: 2.9x faster on 4,000 items. Updates stay on one writer, which
    merges small segments as it goes.
    """
    index = whoosh_index.open_dir(str(path))
    if parallel and usable_cores() > 1:
        return WhooshWriter(BoundMpWriter(index, procs=usable_cores(), multisegment=True, limitmb=256))
    return WhooshWriter(index.writer(limitmb=256))


class BoundSubWriterTask(SubWriterTask):  # type: ignore[misc]
    """A writer process that dies with its build."""

    def run(self) -> None:
        die_with_parent()
        super().run()


class BoundMpWriter(MpWriter):  # type: ignore[misc]
    """Whoosh's MpWriter starting BoundSubWriterTask processes."""

    def _new_task(self) -> SubWriterTask:
        task = BoundSubWriterTask(
            self.storage, self.indexname, self.jobqueue, self.resultqueue, self.subargs, self.multisegment
        )
        self.tasks.append(task)
        task.start()
        return task
