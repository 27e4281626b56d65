"""A generation's postings read through the index seam, scored by BM25F and kept in memory for reuse.

Shared by every thread of a server process (read-only once read); the least recently used entries are
let go when more than MAX_CACHED_POSTINGS postings and positions are held.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

from indexer.backend import ItemReader
from indexer.schema import FIELD_KINDS, SEARCH_FIELDS
from search_app.facets import ItemColumns, read_columns
from search_app.ranking import FieldPostings, ScoredPostings, bm25f
from search_app.results import QueryError

# 16 bytes a posting (docnum and score), 8 a position, so at most about 600 MB.
MAX_CACHED_POSTINGS = 40_000_000
MAX_EXPANSIONS = 2000


class GenerationArrays:
    """What is read once per generation and shared: the item columns, field lengths and a postings cache."""

    def __init__(self, reader: ItemReader) -> None:
        self.columns: ItemColumns = read_columns(reader)
        self.size = self.columns.size
        self._lock = threading.Lock()
        self._lengths: dict[str, tuple[np.ndarray, float]] = {}
        self._cache: OrderedDict[tuple[str, ...], tuple[Any, int]] = OrderedDict()
        self._held = 0

    def field_lengths(self, reader: ItemReader, field: str) -> tuple[np.ndarray, float]:
        """Returns each item's length in a text field and the average."""
        if field not in self._lengths:
            self._lengths[field] = reader.field_lengths(field)
        return self._lengths[field]

    def kept(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        """Returns the value kept under key, reading it first if it is not held."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key][0]
        value = read()
        held = value.docnums.size if isinstance(value, ScoredPostings) else len(value)
        with self._lock:
            self._cache[key] = (value, held)
            self._held += held
            while self._held > MAX_CACHED_POSTINGS and len(self._cache) > 1:
                _, (_, size) = self._cache.popitem(last=False)
                self._held -= size
        return value


class TermIndex:
    """One thread's reader with its generation's shared arrays: the terms a plan asks about, scored."""

    def __init__(self, reader: ItemReader, arrays: GenerationArrays) -> None:
        self.reader = reader
        self.arrays = arrays
        self.columns = arrays.columns
        self.size = arrays.size

    def word_scores(self, stem: str) -> ScoredPostings:
        """Returns the items holding a stem in any searched text field, with its BM25F score."""
        return self.arrays.kept(("bm25f", stem), lambda: self._bm25f(stem, SEARCH_FIELDS))

    def field_scores(self, field: str, term: str) -> ScoredPostings:
        """Returns the items holding a term in one field: BM25F over that field alone for a searched text
        field, score 0 for any other (a filter)."""
        if field in SEARCH_FIELDS:
            return self.arrays.kept(("field", field, term), lambda: self._bm25f(term, {field: SEARCH_FIELDS[field]}))
        if field in FIELD_KINDS and FIELD_KINDS[field] == "text":
            return self.arrays.kept(("field", field, term), lambda: self._bm25f(term, {field: 1.0}))
        postings = self.reader.postings(field, term) if field in FIELD_KINDS else None
        docnums = postings.docnums if postings is not None else np.zeros(0, dtype=np.int64)
        return ScoredPostings(docnums, np.zeros(docnums.size))

    def _bm25f(self, term: str, fields: dict[str, float]) -> ScoredPostings:
        held = []
        for field, weight in fields.items():
            postings = self.reader.postings(field, term)
            if postings.docnums.size:
                lengths, average = self.arrays.field_lengths(self.reader, field)
                held.append(FieldPostings(postings, lengths, average, weight))
        return bm25f(held, self.size)

    def occurrences(self, field: str, term: str) -> np.ndarray:
        """Returns every occurrence of a term in a field as docnum << 32 | position."""
        return self.arrays.kept(("positions", field, term), lambda: self.reader.occurrences(field, term))  # type: ignore[no-any-return]

    def phrase(self, field: str, words: tuple[str, ...], slop: int, find: Callable[[], np.ndarray]) -> np.ndarray:
        """Returns the items holding a phrase in a field, found once per generation like a term's postings."""
        return self.arrays.kept(("phrase", field, str(slop), *words), find)  # type: ignore[no-any-return]

    def has_term(self, field: str, term: str) -> bool:
        """Returns whether any item holds the term in the field."""
        return self.reader.has_term(field, term)

    def expand(self, field: str, kind: str, text: str, distance: int) -> list[str]:
        """Returns the dictionary's terms a wildcard or fuzzy word matches in a field; QueryError past
        MAX_EXPANSIONS."""

        def read() -> list[str]:
            if kind == "wildcard":
                prefix = re.split(r"[*?]", text)[0]
                wanted = re.compile(fnmatch.translate(text))
                matches = (term for term in self.reader.terms(field, prefix) if wanted.match(term))
            else:  # fuzzy: the first letter as typed, the rest within distance edits (Levenshtein)
                matches = (
                    term
                    for term in self.reader.terms(field, text[:1])
                    if Levenshtein.distance(text, term, score_cutoff=distance) <= distance
                )
            found = []
            for term in matches:
                found.append(term)
                if len(found) > MAX_EXPANSIONS:
                    raise QueryError(f"{text!r} matches more than {MAX_EXPANSIONS} different words; add letters")
            return found

        return self.arrays.kept(("expand", field, kind, text, str(distance)), read)  # type: ignore[no-any-return]
