"""The second stage of a search on the Xapian backend (issue 21): the shards rank the words, and the web
server fuses meaning and applies the specific-match rule over their best matches, as the Whoosh pipeline
does over every item (search_app/pipeline.py).

The shards send the POOL best word matches, and for each rare pair of the words typed side by side
(ranking.pair_rarity) the POOL best items holding it. The vectors live with the web server, memory-mapped
from the index generation the shards were synced from (ServedVectors); the items nearest the query in
meaning are found there (search_app/semantic.py: the same fusion, on vector rows instead of document
numbers), and one more request to the shards says which of them pass the filters and what their words
score. The pool is then ranked by the fused score plus the pair rule's gain and, for its CLOSE_CANDIDATES
best, the close-words gain (close_gains: the shards say which hold which words within CLOSE_WINDOW
positions), copies folded.

What differs from the Whoosh pipeline, by design: an item outside the pool keeps its word-only place (the
shards' order) after the pool's items; a word match outside the pool that meaning brings in is fused
without its (small) word score. Pages past the pool come from the shards, the pool's extra items left out.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xapian

from indexer.embeddings import EmbeddingsUnavailable, shared_encoder
from indexer.store import current_generation
from indexer.vectors import ALIGN_PREFIX, ItemVectors, save_array
from indexer.xapian_backend import (
    FIELD_PREFIXES,
    XapianHits,
    XapianSearch,
    copy_term,
    filtered,
    items_query,
    record_of,
)
from search_app.evaluate import Matches
from search_app.query import Phrase, QueryPlan
from search_app.ranking import (
    CLOSE_BONUS,
    CLOSE_CANDIDATES,
    CLOSE_WINDOW,
    PAIR_BONUS,
    PAIR_COMMON,
    council_gains,
    inverse_frequency,
    pair_rarity,
)
from search_app.semantic import CANDIDATES, DocVectors, fuse
from search_app.xapian_engine import phrase_query

# The shards' best word matches the web server ranks again (as many as semantic.RESCORED reads passages of).
POOL = 200
# Pairs' rarity is kept per pair for this many pairs, then worked out again (the index grows slowly).
PAIRS_KEPT = 4096
# The close-words gain asks the shards about each set of two or more of the query's words, rarest sets
# first: for at most this many of the rarest words (26 sets for 5); a commoner word past them still counts
# in the whole the share is of, but is not looked for.
CLOSE_WORDS = 5


@dataclass(frozen=True)
class ServedVectors:
    """The item vectors of an index generation as the Xapian backend's web server uses them, all memory-
    mapped, so a worker holds nothing that grows with the items: by row, the items' ids, whole-item vectors,
    passage counts and starts; the passages; the nearest-neighbour index; and the ids sorted with their rows
    (to find an item's row by binary search), written beside them by the first worker."""

    ids: np.ndarray
    matrix: np.ndarray
    passages: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    nearest: Any
    sorted_ids: np.ndarray
    order: np.ndarray

    def rows_of(self, item_ids: Sequence[str]) -> np.ndarray:
        """Returns each item's row, -1 for an item without vectors."""
        wanted = np.array(item_ids, dtype=str)
        if not wanted.size or not self.ids.size:
            return np.full(wanted.size, -1, dtype=np.int64)
        places = np.minimum(np.searchsorted(self.sorted_ids, wanted), self.order.size - 1)
        return np.where(self.sorted_ids[places] == wanted, self.order[places], -1).astype(np.int64)

    def candidates(self, query: np.ndarray) -> np.ndarray:
        """Returns the rows that may be nearest the query: the nearest-neighbour index's candidates (as the
        Whoosh pipeline takes them: semantic.CANDIDATES), or every row where there is no such index."""
        if self.nearest is None:
            return np.arange(self.ids.size)
        rows = np.asarray(self.nearest.search(query, CANDIDATES))
        return rows[rows >= 0]

    def view(self, rows: np.ndarray) -> DocVectors:
        """Returns these rows' vectors as semantic.fuse reads them, the rows numbered 0..len(rows) - 1 (the
        passages stay mapped: only the pool's are read)."""
        local = np.arange(rows.size, dtype=np.int64)
        matrix = np.asarray(self.matrix[rows], dtype=np.float32)
        starts, counts = np.asarray(self.starts[rows]), np.asarray(self.counts[rows])
        return DocVectors(local, np.ones(rows.size, dtype=bool), local, matrix, self.passages, starts, counts)


def served_vectors(generation: Path) -> ServedVectors | None:
    """Returns a generation's vectors as the web server uses them (None without vectors or without the
    encoder); the sorted ids and their rows are written beside them by the first worker, mapped by all."""
    vectors = ItemVectors.load(generation, mapped=True)
    if not len(vectors.ids):
        return None
    try:
        shared_encoder()
    except EmbeddingsUnavailable:
        return None
    ids = vectors.ids if isinstance(vectors.ids, np.ndarray) else np.array(vectors.ids, dtype=str)
    files = {part: generation / f"{ALIGN_PREFIX}{part}-{vectors.token}.npy" for part in ("order", "sorted")}
    try:
        order, sorted_ids = (np.load(files[part], mmap_mode="r", allow_pickle=False) for part in ("order", "sorted"))
        if order.shape != ids.shape or sorted_ids.shape != ids.shape:
            raise ValueError("another set of vectors")
    except (OSError, ValueError):
        order = np.argsort(ids, kind="stable").astype(np.int32)
        sorted_ids = ids[order]
        try:
            save_array(files["sorted"], sorted_ids)
            save_array(files["order"], order)
        except OSError:
            pass  # a read-only index: each worker keeps its own
    starts = vectors.starts()
    return ServedVectors(
        ids, vectors.matrix, vectors.passages, starts, vectors.counts, vectors.nearest, sorted_ids, order
    )


class VectorSource:
    """The served vectors of the index in a folder, read again when a build or the meaning phase replaces them."""

    def __init__(self, index_dir: Path | None) -> None:
        self.index_dir = index_dir
        self._held: tuple[Any, ServedVectors | None] | None = None
        self._lock = threading.Lock()

    def get(self) -> ServedVectors | None:
        from search_app.service import vectors_stamp

        if self.index_dir is None:
            return None
        generation = current_generation(self.index_dir)
        key = (generation, vectors_stamp(generation))
        with self._lock:
            if self._held is None or self._held[0] != key:
                self._held = (key, served_vectors(generation) if generation else None)
            return self._held[1]


@dataclass
class Pool:
    """The items ranked at the web server by id: word score, copy key, document and pair gain; and which
    of them meaning alone brought in."""

    words: dict[str, float] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    found: dict[str, tuple[XapianHits, int]] = field(default_factory=dict)
    gains: dict[str, float] = field(default_factory=dict)
    meaning_only: set[str] = field(default_factory=set)

    def add(self, found: XapianHits, scored: bool = True) -> None:
        """Adds the matches found (their word scores too, unless `scored` is off)."""
        for n, ((item_id, weight), key) in enumerate(zip(found.hits, found.keys, strict=True)):
            if scored:
                self.words.setdefault(item_id, weight)
            self.keys[item_id] = key
            self.found.setdefault(item_id, (found, n))

    def record(self, item_id: str) -> dict[str, Any]:
        """Returns an item's record, read from the shard that found it."""
        found, n = self.found[item_id]
        return record_of(found.document(n))


@dataclass
class Ranked:
    """The pool in its fused order, one copy of each item, and what the shards' counts do not include."""

    ids: list[str]
    scores: dict[str, float]
    pool: Pool
    extra_keys: list[str]
    """Copy keys of the ranked items that are not among the shards' first word matches."""
    meaning_only: list[str]
    """Ranked items no word matches (found by meaning): the shards did not count them."""
    meaning_used: bool


class PairRarity:
    """How rare each pair of words is in the whole index (ranking.pair_rarity), counted on the shards and kept."""

    def __init__(self, engine: XapianSearch) -> None:
        self.engine = engine
        self._kept: dict[tuple[str, str, int], float] = {}
        self._lock = threading.Lock()

    def __call__(self, pair: tuple[str, str], size: int) -> float:
        key = (*pair, size)
        with self._lock:
            if key in self._kept:
                return self._kept[key]
        # Counting stops past PAIR_COMMON of the items: a pair held that widely gains nothing anyway.
        enough = int(PAIR_COMMON * size) + 1
        holders = self.engine.count(phrase_query(Phrase(pair), self.engine.held()), enough)
        rarity = pair_rarity(holders, size)
        with self._lock:
            if len(self._kept) >= PAIRS_KEPT:
                self._kept.clear()
            self._kept[key] = rarity
        return rarity


def rank_pool(
    engine: XapianSearch,
    words: xapian.Query,
    restrict: Callable[[xapian.Query], xapian.Query] | None,
    plan: QueryPlan,
    first: XapianHits,
    rarity: PairRarity,
    meaning: tuple[ServedVectors, np.ndarray] | None,
    close: bool = True,
    councils: Sequence[str] = (),
) -> Ranked:
    """Returns the pool ranked: the shards' first word matches (`first`, the request's filters applied),
    the best holders of each rare pair typed, and (with `meaning`: the vectors and the query's vector) the
    items nearest in meaning, fused and raised as the Whoosh pipeline does, then filtered.

    As on Whoosh, the ranking is worked out over every item and then filtered (`restrict` applies the
    request's filters; None for none), so a facet's count is what choosing it shows: with filters, the
    best word matches of the whole index join the pool too. Without `close`, the close-words gain is left
    out (a search by date needs no scores). `councils` (those the query names) join the pool with their best
    word matches and are lifted as pipeline.lift_councils does."""
    pool = Pool()
    pool.add(first)
    first_ids = set(pool.words)
    if restrict is not None:
        pool.add(engine.search_query(words, limit=POOL, counts=False))
    if councils:
        theirs = filtered(words, {"council": councils})
        pool.add(engine.search_query(restrict(theirs) if restrict else theirs, limit=POOL, counts=False))
    size = engine.size()
    for pair in plan.pairs:
        gain = rarity(pair, size)
        if gain <= 0:
            continue
        # The holders the request's filters allow: those are the ones that can be shown.
        holding = xapian.Query(xapian.Query.OP_FILTER, words, phrase_query(Phrase(pair), engine.held()))
        holders = engine.search_query(restrict(holding) if restrict else holding, limit=POOL, counts=False)
        pool.add(holders)
        for item_id, _ in holders.hits:
            pool.gains[item_id] = max(pool.gains.get(item_id, 0.0), gain)
    scores = dict(pool.words)
    meaning_used = False
    if meaning is not None:
        scores, meaning_used = fused_scores(pool, *meaning)
    if scores:
        best = max(scores.values())
        for item_id, gain in pool.gains.items():
            if item_id in scores:
                scores[item_id] += PAIR_BONUS * best * gain
    verify_rest(engine, words, restrict, pool, scores, first_ids)
    for item_id, gain in (close_gains(engine, plan, scores) if close else {}).items():
        scores[item_id] += gain
    lift_councils(engine, councils, scores)
    ids = fold(sorted(scores, key=lambda i: (-scores[i], i)), pool.keys)
    extra_keys = sorted({pool.keys[i] for i in ids if i not in first_ids})
    meaning_only = [i for i in ids if i in pool.meaning_only]
    return Ranked(ids, scores, pool, extra_keys, meaning_only, meaning_used)


def lift_councils(engine: XapianSearch, councils: Sequence[str], scores: dict[str, float]) -> None:
    """Raises the scored items of the councils the query names by ranking.council_gains, the last step as in the
    Whoosh pipeline (pipeline.lift_councils); the shards say which they are, in one request. Items past the pool
    keep the shards' order: the pool holds the council's POOL best word matches."""
    if not councils or not scores:
        return
    theirs = filtered(items_query(scores), {"council": councils})
    named = engine.search_query(theirs, limit=len(scores), fold=False, counts=False)
    best = max(scores.values())
    for item_id, _ in named.hits:
        scores[item_id] += float(council_gains(scores[item_id], best))


def close_gains(engine: XapianSearch, plan: QueryPlan, scores: Mapping[str, float]) -> dict[str, float]:
    """Returns what the CLOSE_CANDIDATES best-scored items gain for holding the query's words close together,
    by the Whoosh pipeline's rule (add_close_matches): CLOSE_BONUS of the best score times the largest share
    of the words' idf one window of CLOSE_WINDOW body positions holds (ranking.window_coverage).

    Positions stay on the shards, and one request asks them: for each set of two or more words, OP_NEAR
    over the body's terms, weightless, ANDed with a fixed weight of that set's share; OP_MAX of them, filtered
    to the candidates, gives each item the largest share of a set it holds within the window. Where it
    differs from the Whoosh pipeline: the candidates are the pool's items, one copy of each (Whoosh's best
    100 may hold two copies of one item), ties broken by id; and only the CLOSE_WORDS rarest words are
    looked for (26 sets for five), the others counting in the whole the share is of."""
    stems = plan.close_words
    if not stems or not scores:
        return {}
    candidates = sorted(scores, key=lambda i: (-scores[i], i))[:CLOSE_CANDIDATES]
    held, size = engine.term_counts(stems)
    weights = {s: inverse_frequency(held[s], size) for s in stems if held[s]}
    total = sum(weights.values())
    looked_for = sorted(weights, key=lambda s: -weights[s])[:CLOSE_WORDS]
    sets = [c for k in range(len(looked_for), 1, -1) for c in itertools.combinations(looked_for, k)]
    if not sets or total <= 0:
        return {}
    prefix = FIELD_PREFIXES["body"]
    # The sources must outlive the query: the bindings do not keep them alive for it.
    shares = [sum(weights[s] for s in chosen) / total for chosen in sets]
    sources = [xapian.FixedWeightPostingSource(share) for share in shares]
    parts = [
        xapian.Query(
            xapian.Query.OP_AND,
            xapian.Query(
                xapian.Query.OP_SCALE_WEIGHT,
                xapian.Query(xapian.Query.OP_NEAR, [prefix + s for s in chosen], CLOSE_WINDOW),
                0.0,
            ),
            xapian.Query(source),
        )
        for chosen, source in zip(sets, sources, strict=True)
    ]
    among = items_query(candidates)
    query = xapian.Query(xapian.Query.OP_FILTER, xapian.Query(xapian.Query.OP_MAX, parts), among)
    holding = engine.search_query(query, limit=len(candidates), fold=False, counts=False)
    best = scores[candidates[0]]
    # The query is filtered to the candidates, so every hit is one. A hit's weight is its share, rounded by
    # the match set: the nearest share of a set is the exact one.
    return {
        item_id: CLOSE_BONUS * best * min(shares, key=lambda share: abs(share - weight))
        for item_id, weight in holding.hits
        if weight > 0
    }


def verify_rest(
    engine: XapianSearch,
    words: xapian.Query,
    restrict: Callable[[xapian.Query], xapian.Query] | None,
    pool: Pool,
    scores: dict[str, float],
    first_ids: set[str],
) -> None:
    """Keeps in `scores` the items outside the shards' first matches that the filters allow, in one request
    that also reads the records of those meaning brought in and tells which the words match (weight 0:
    meaning alone, so the shards did not count them)."""
    rest = [i for i in scores if i not in first_ids]
    if not rest:
        return
    terms = items_query(rest)
    query = xapian.Query(xapian.Query.OP_AND_MAYBE, terms, words)
    allowed = engine.search_query(restrict(query) if restrict else query, limit=len(rest), fold=False, counts=False)
    pool.add(allowed, scored=False)
    kept = set()
    for item_id, weight in allowed.hits:
        kept.add(item_id)
        if weight <= 0:
            pool.meaning_only.add(item_id)
    for item_id in rest:
        if item_id not in kept:
            del scores[item_id]


def fused_scores(pool: Pool, served: ServedVectors, query_vec: np.ndarray) -> tuple[dict[str, float], bool]:
    """Returns the pool's scores fused with meaning and the items it brings in (to be checked against the
    filters); and whether meaning was used.

    semantic.fuse runs over the pool and the nearest-neighbour index's candidates only, renumbered: where
    the Whoosh pipeline fuses over arrays of every item, an item outside both has no meaning score there
    either (semantic.whole_similarity), so the ranking is the same and no array grows with the items."""
    ids = list(pool.words)
    rows = served.rows_of(ids)
    held = rows >= 0
    candidates = np.union1d(served.candidates(query_vec), rows[held])
    local = np.searchsorted(candidates, rows[held])
    mask = np.zeros(candidates.size, dtype=bool)
    word_scores = np.zeros(candidates.size)
    mask[local] = True
    with_vectors = [item_id for item_id, h in zip(ids, held, strict=True) if h]
    word_scores[local] = [pool.words[item_id] for item_id in with_vectors]
    words = Matches(mask, word_scores)
    fused = fuse(words, served.view(candidates), query_vec, np.ones(candidates.size, dtype=bool))
    if fused is words:
        return dict(pool.words), False
    scores = {item_id: float(fused.scores[n]) for item_id, n in zip(with_vectors, local, strict=True)}
    # Items without vectors (added since the vectors were made) keep their words' share of the fused score.
    best_words = max(pool.words.values(), default=1.0) or 1.0
    for item_id, row in zip(ids, rows, strict=True):
        if row < 0:
            scores[item_id] = 50.0 * pool.words[item_id] / best_words
    for n in np.flatnonzero(fused.mask & ~mask):
        scores[str(served.ids[candidates[n]])] = float(fused.scores[n])
    return scores, True


def fold(ranked: Sequence[str], keys: Mapping[str, str]) -> list[str]:
    """Returns one id per copy key, the best-ranked, in rank order."""
    seen: set[str] = set()
    shown = []
    for item_id in ranked:
        key = keys[item_id]
        if key not in seen:
            seen.add(key)
            shown.append(item_id)
    return shown


def without_keys(query: xapian.Query, keys: Sequence[str]) -> xapian.Query:
    """Returns the query less every copy of the items with these copy keys."""
    if not keys:
        return query
    unwanted = xapian.Query(xapian.Query.OP_OR, [xapian.Query(copy_term(key)) for key in keys])
    return xapian.Query(xapian.Query.OP_AND_NOT, query, unwanted)
