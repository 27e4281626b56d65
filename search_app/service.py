"""The index being served: a reader per thread on the current generation, following new ones as builds
publish them, and what is worked out once per generation (columns, postings cache, vectors, speller)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from indexer.analysis import stems_of
from indexer.backend import ItemReader
from indexer.embeddings import EmbeddingsUnavailable, query_vector, shared_encoder
from indexer.meaning import meaning_status
from indexer.models import MeaningStatus
from indexer.records import read_item, read_other_source
from indexer.schema import SEARCH_FIELDS
from indexer.store import Vocabulary, current_generation, open_index
from indexer.vectors import ALIGN_PREFIX, VECTORS, ItemVectors
from search_app.compare import run_comparison
from search_app.facets import ItemColumns, copies_of, count_facets
from search_app.pipeline import (
    councils_named,
    councils_typed,
    name_is_ordinary,
    passage_page,
    run_search,
    summed_word_scores,
)
from search_app.postings import GenerationArrays, TermIndex
from search_app.ranking import fold_and_rank
from search_app.results import Comparison, SearchRequest, SearchResults
from search_app.semantic import DocVectors, align_vectors
from search_app.spelling import Speller

# "More like this": the item's most telling words, by how often it uses them and how rare they are.
KEY_TERMS = 15


class SearchIndex:
    """The index being served: opens the current generation once per thread and follows new ones.

    What is derived from a whole generation (columns, postings, display names, coverage figures) is
    worked out once per generation and shared by every thread: it is read-only.
    """

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._local = threading.local()
        self._lock = threading.Lock()
        self._derived: tuple[Path | None, dict[str, Any]] | None = None
        self._meaning: tuple[tuple[Path | None, tuple[int, int] | None], HeldMeaning] | None = None
        self._ordinary: dict[tuple[Path | None, str], bool] = {}

    def reader(self) -> ItemReader:
        """Returns this thread's reader on the current generation, reopened when a build publishes."""
        generation = current_generation(self.index_dir)
        state = getattr(self._local, "state", None)
        if state is None or state[0] != generation:
            if state is not None:
                state[1].close()
            self._local.state = (generation, open_index(self.index_dir))
        return self._local.state[1]  # type: ignore[no-any-return]

    def derived(self, name: str, compute: Callable[[ItemReader], Any]) -> Any:
        """Returns a value computed once per generation from this thread's reader and shared."""
        reader = self.reader()
        generation = self._local.state[0]
        with self._lock:
            if self._derived is None or self._derived[0] != generation:
                self._derived = (generation, {})
            values = self._derived[1]
            if name not in values:
                values[name] = compute(reader)
            return values[name]

    def terms(self) -> TermIndex:
        """Returns this thread's reader with the generation's shared columns and postings."""
        reader = self.reader()
        return TermIndex(reader, self.derived("arrays", GenerationArrays))

    def warm(self) -> None:
        """Reads what every search needs (item columns, field lengths) so the first searches need not."""
        index = self.terms()
        for field in SEARCH_FIELDS:
            index.arrays.field_lengths(index.reader, field)
        self.meaning()  # item vectors and the query encoder

    def search(self, request: SearchRequest) -> SearchResults:
        """Returns the results of a request, saying how far meaning-based matching has got."""
        request = self.with_councils(request)
        results = councils_named(
            run_search(self.terms(), request, self.speller, self.meaning, ordinary=self.ordinary_name)
        )
        return replace(results, meaning_status=self.meaning_status())

    def search_among(self, request: SearchRequest, item_ids: list[str]) -> SearchResults:
        """Returns the results of a request among these items only (those still indexed), by their words and the
        councils they name, as a search ranks them."""
        request = self.with_councils(request)
        index = self.terms()
        among = np.zeros(index.size, dtype=bool)
        for item_id in item_ids:
            docnum = index.reader.docnum_of(item_id)
            if docnum is not None:
                among[docnum] = True
        return run_search(index, replace(request, semantic=False, respell=False), among=among & index.columns.live)

    def with_councils(self, request: SearchRequest) -> SearchRequest:
        """Returns the request with the councils its words name (pipeline.councils_typed)."""
        return councils_typed(request, self.display_names()["council"], self.ordinary_name)

    def ordinary_name(self, slug: str) -> bool:
        """Returns whether a council's one-word name is an ordinary word of the other councils' papers
        (pipeline.ORDINARY_NAME_SHARE), worked out once per generation."""
        index = self.terms()
        key = (self._local.state[0], slug)
        with self._lock:
            known = self._ordinary.get(key)
        if known is None:
            known = name_is_ordinary(index, slug)
            with self._lock:
                if any(generation != key[0] for generation, _ in self._ordinary):
                    self._ordinary = {}
                self._ordinary[key] = known
        return known

    def held_meaning(self) -> HeldMeaning:
        """Returns the served vectors, read again when the meaning phase swaps in new ones (the same
        generation, a new vectors file) and when a build publishes a new generation."""
        reader = self.reader()
        generation = self._local.state[0]
        key = (generation, vectors_stamp(generation))
        with self._lock:
            if self._meaning is None or self._meaning[0] != key:
                self._meaning = (key, read_meaning(reader, generation))
            return self._meaning[1]

    def meaning(self) -> tuple[DocVectors, Callable[[str], np.ndarray]] | None:
        """Returns the item vectors and the query encoder, or None until every live item has its vectors:
        a ranking in which some items could be found by meaning and others not would favour the older."""
        held = self.held_meaning()
        return (held.vectors, query_vector) if held.vectors is not None and held.held >= held.items else None

    def meaning_status(self) -> MeaningStatus:
        """Returns how many of the items have meaning vectors, and whether a run is adding the rest."""
        held = self.held_meaning()
        return meaning_status(self.index_dir, held.items, held.held)

    def speller(self) -> Speller:
        """Returns the spelling suggester of the current generation."""
        return self.derived("speller", lambda _: Speller(Vocabulary.load(self._local.state[0])))  # type: ignore[no-any-return]

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Returns an item's stored fields with its full body, or None."""
        reader = self.reader()
        docnum = reader.docnum_of(item_id)
        return read_item(reader.stored(docnum)) if docnum is not None else None

    def passage_page(self, item: dict[str, Any], query: str) -> int:
        """Returns the page of an item's source where the passage holding the query's words stands."""
        return passage_page(self.terms(), item, query) if query.strip() else int(item["page"])

    def document_items(self, doc_id: str) -> list[dict[str, Any]]:
        """Returns every item of one source document in order."""
        reader = self.reader()
        live = self.terms().columns.live
        docnums = [int(d) for d in reader.postings("doc_id", doc_id).docnums if live[d]]
        items = [reader.stored(d) for d in docnums]
        return [read_item(stored) for stored in sorted(items, key=lambda s: s.get("position", 0))]

    def compare(self, request: SearchRequest) -> Comparison:
        """Returns the items matching a request counted by council and year (copies of one item once)."""
        return run_comparison(self.terms(), request)

    def other_sources(self, item_id: str) -> list[dict[str, Any]]:
        """Returns the other papers holding the same agenda item (same council, date and title)."""
        index = self.terms()
        docnum = index.reader.docnum_of(item_id)
        if docnum is None:
            return []
        return [read_other_source(index.reader.stored(d)) for d in copies_of(docnum, index.columns)]

    def more_like(self, item_id: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns items whose words are most like this one's, other papers first, copies left out."""
        index = self.terms()
        docnum = index.reader.docnum_of(item_id)
        if docnum is None:
            return []
        stored = index.reader.stored(docnum)
        scores = summed_word_scores(index, key_terms(index, stored.get("body", "") or stored.get("item_title", "")))
        dup_codes = index.columns.dup_codes
        candidates = index.columns.live & (scores > 0) & (dup_codes != dup_codes[docnum])
        docnums = np.flatnonzero(candidates)
        _, shown = fold_and_rank(docnums, -scores[docnums], index.columns.order, index.columns.folding(), top)
        return [read_item(index.reader.stored(int(d))) for d in shown]

    def same_topic_elsewhere(self, topic: str, council: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns the newest items on a topic from councils other than this one."""
        request = SearchRequest(filters={"topic": [topic]}, sort="date", per_page=top * 4)
        hits = [h for h in self.search(request).hits if h.council != council]
        return [asdict(h) for h in hits[:top]]

    def has_source(self, relpath: str) -> bool:
        """Returns whether a source file is in the index (only those may be served)."""
        live = self.terms().columns.live
        return bool(live[self.reader().postings("doc_id", relpath).docnums].any())

    def display_names(self) -> dict[str, dict[str, str]]:
        """Returns slug -> display name for councils and committees."""
        return self.derived("names", read_display_names)  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        """Returns the item count, councils and date span of the index, for empty states and the home page."""
        columns = self.terms().columns
        return self.derived("stats", lambda _: coverage(columns))  # type: ignore[no-any-return]


def key_terms(index: TermIndex, text: str) -> tuple[str, ...]:
    """Returns the KEY_TERMS stems of a text with the highest count times idf in the index."""
    counts: dict[str, int] = {}
    for stem in stems_of(text):
        counts[stem] = counts.get(stem, 0) + 1
    size = max(index.size, 1)
    weighted = []
    for stem, count in counts.items():
        held = index.word_scores(stem).docnums.size
        if held:
            weighted.append((-count * np.log(1 + size / held), stem))
    return tuple(stem for _, stem in sorted(weighted)[:KEY_TERMS])


@dataclass(frozen=True)
class HeldMeaning:
    """A generation's vectors by document number (None without any, or without the model), and how many
    of its live items have them."""

    vectors: DocVectors | None
    items: int
    held: int


def vectors_stamp(generation: Path | None) -> tuple[int, int] | None:
    """Returns what changes when the vectors file is replaced (its inode and time), or None without one."""
    try:
        stat = (generation / VECTORS).stat() if generation else None
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns) if stat else None


def read_meaning(reader: ItemReader, generation: Path | None) -> HeldMeaning:
    """Returns a generation's item vectors by document number, with how many live items have them."""
    live = reader.live()
    items = int(np.count_nonzero(live))
    vectors = ItemVectors.load(generation, mapped=True)
    if not len(vectors.ids) or generation is None:
        return HeldMeaning(None, items, 0)
    # Named for this generation (a copy in the next one, whose document numbers differ, is not used).
    saved = generation / f"{ALIGN_PREFIX}{generation.name}-{vectors.token}"
    aligned = align_vectors(vectors, LazyIds(reader), saved)
    held = int(np.count_nonzero(aligned.held & live))
    try:
        shared_encoder()  # loads the model now, not during the first search; query_vector uses it
    except EmbeddingsUnavailable:
        return HeldMeaning(None, items, 0)
    return HeldMeaning(aligned, items, held)


class LazyIds(Sequence[str]):
    """The item ids by document number, read from the index only when a worker must place the rows itself."""

    def __init__(self, reader: ItemReader) -> None:
        self.reader = reader
        self.size = reader.size
        self._ids: list[str] | None = None

    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = [str(item_id) for item_id in self.reader.column("id")]
        return self._ids

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        return self.ids()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())


def read_display_names(reader: ItemReader) -> dict[str, dict[str, str]]:
    """Returns slug -> display name for councils and committees, from the stored fields."""
    names: dict[str, dict[str, str]] = {"council": {}, "committee": {}}
    for stored in reader.stored_records():
        names["council"].setdefault(stored["council"], stored.get("council_name", ""))
        names["committee"].setdefault(stored["committee"], stored.get("committee_name", ""))
    return names


def coverage(columns: ItemColumns) -> dict[str, Any]:
    """Returns what the index covers: items, councils, first and last year, and every facet's counts."""
    live = np.flatnonzero(columns.live)
    shown, _ = fold_and_rank(live, np.zeros(live.size), columns.order, columns.folding(), 0)
    facets = count_facets(shown, columns)
    years = sorted(y for y in facets["year"] if y != "undated")
    return {
        "items": int(np.count_nonzero(columns.live)),
        "councils": len(facets["council"]),
        "first_year": years[0] if years else None,
        "last_year": years[-1] if years else None,
        "facets": facets,
    }
