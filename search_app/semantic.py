"""Meaning-based matching: item and passage vectors by document number, and their fusion with the word
ranking. Plain numpy; no Whoosh, no Flask.

The fusion is a convex combination of the two scores, each scaled to 0..1 over its own best items
(Bruch, Gai and Ingber 2023 found it beats reciprocal rank fusion, which throws the scores away), with
one round of Rocchio feedback on the query's vector: the three best items pull it towards what the
collection calls the thing asked about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.vectors import ItemVectors, save_array
from search_app.evaluate import Matches

# Items taken by meaning: the NEAREST by whole-item vector, each then scored by its best passage;
# items no word matches are shown only when that passage is at least MIN_SIMILARITY close (cosine).
NEAREST = 200
MIN_SIMILARITY = 0.3
# The best word matches whose passages are read too (the rest keep their whole-item similarity).
RESCORED = 200
# The share of meaning in the fused score: equal with the words, the untuned choice.
MEANING_SHARE = 0.5
# Rocchio feedback: the query's vector plus FEEDBACK_WEIGHT times the mean of the best FEEDBACK_ITEMS.
FEEDBACK_ITEMS = 3
FEEDBACK_WEIGHT = 0.5
# Above vectors.APPROXIMATE_ABOVE items the nearest come from the inverted-file index: its CANDIDATES best are
# scored again exactly, and the NEAREST of those taken.
CANDIDATES = 1_000
# Every window of an item is read for the DEEP best word matches only; the rest of the pool is read as far as
# its first OPENING passages (the whole item and 32 windows). A paragraph deep in a long report matters when the
# words found it there, and so the report is among their best; reading every window of a pool of 400 long
# budget papers took 100 ms a search at 100,000 items (26,019 passages) against 19 ms for their openings.
DEEP = 50
OPENING = 33


@dataclass(frozen=True)
class DocVectors:
    """A generation's vectors seen by document number: `rows[docnum]` is the item's row in the memory-mapped
    `matrix` (whole-item vectors) and in `starts`/`counts` (its passages), -1 where it has none;
    `docnums[row]` goes back. All of them, the vectors and the nearest-neighbour index are memory-mapped
    files of the generation, whose pages every worker shares."""

    rows: np.ndarray
    held: np.ndarray
    docnums: np.ndarray
    matrix: np.ndarray
    passages: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    nearest: Any = None

    def whole(self, docnums: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Returns the similarity of each item's whole-item vector to the query (items held only)."""
        return self.whole_vectors(docnums) @ query

    def whole_vectors(self, docnums: np.ndarray) -> np.ndarray:
        """Returns the items' whole-item vectors as float32, one row per item (items held only)."""
        rows = self.rows[docnums]
        order = np.argsort(rows, kind="stable")  # read the mapped file in its own order
        vectors = np.empty((rows.size, self.matrix.shape[1]), dtype=np.float32)
        vectors[order] = self.matrix[rows[order]]
        return vectors


def align_vectors(vectors: ItemVectors, ids_by_docnum: Sequence[str], saved: Path | None = None) -> DocVectors:
    """Returns the generation's vectors placed at their items' document numbers.

    With `saved` (a name in the generation for this set of vectors), the placing is read from the files
    the first worker wrote there, memory-mapped, so no worker holds arrays that grow with the index."""
    placed = read_placing(saved, len(ids_by_docnum), len(vectors.ids)) if saved else None
    if placed is None:
        row_of = {str(item_id): row for row, item_id in enumerate(vectors.ids)}
        rows = np.array([row_of.get(item_id, -1) for item_id in ids_by_docnum], dtype=np.int32)
        docnums = np.full(len(vectors.ids), -1, dtype=np.int32)
        docnums[rows[rows >= 0]] = np.flatnonzero(rows >= 0).astype(np.int32)
        placed = write_placing(saved, rows, docnums) if saved else None
        placed = placed or (rows, rows >= 0, docnums)
    rows, held, docnums = placed
    starts, counts = vectors.starts(), vectors.counts
    return DocVectors(rows, held, docnums, vectors.matrix, vectors.passages, starts, counts, vectors.nearest)


def placing_files(saved: Path) -> dict[str, Path]:
    return {part: saved.with_name(f"{saved.name}-{part}.npy") for part in ("rows", "held", "docnums")}


def read_placing(saved: Path, docs: int, items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Returns the mapped rows, held and docnums arrays a worker saved, or None if they are not there."""
    files = placing_files(saved)
    try:
        rows, held, docnums = (np.load(files[part], mmap_mode="r", allow_pickle=False) for part in files)
    except (OSError, ValueError):
        return None
    return (rows, held, docnums) if rows.shape == held.shape == (docs,) and docnums.shape == (items,) else None


def write_placing(
    saved: Path, rows: np.ndarray, docnums: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Saves the placing for the other workers and returns it mapped; None where the folder is read-only."""
    files = placing_files(saved)
    try:
        for part, array in (("rows", rows), ("held", rows >= 0), ("docnums", docnums)):
            save_array(files[part], array)
    except OSError:
        return None
    return read_placing(saved, rows.size, docnums.size)


def whole_similarity(vectors: DocVectors, query: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns each item's whole-item similarity to the query (-1 where not worked out: outside the
    nearest-neighbour candidates, at sizes that use them) and the NEAREST usable items, best first."""
    whole = np.full(usable.size, -1.0, dtype=np.float32)
    if vectors.nearest is None:
        similarity = np.asarray(vectors.matrix, dtype=np.float32) @ query
        placed = vectors.docnums >= 0
        whole[vectors.docnums[placed]] = similarity[placed]
        return whole, top(whole, usable, NEAREST)
    docnums = vectors.docnums[vectors.nearest.search(query, CANDIDATES)]
    docnums = docnums[docnums >= 0]
    docnums = docnums[usable[docnums]]
    whole[docnums] = vectors.whole(docnums, query)
    return whole, docnums[np.argsort(-whole[docnums], kind="stable")[:NEAREST]]


def best_passages(vectors: DocVectors, query: np.ndarray, docnums: np.ndarray) -> np.ndarray:
    """Returns each item's best similarity to the query over its passages (items held only)."""
    return read_pool(vectors, docnums).best_passages(query)


@dataclass(frozen=True)
class PoolVectors:
    """Some items' whole-item and passage vectors, read from the mapped files once, as float32: both rounds
    of a fusion score the same pool, and reading it (about 6,000 passages at 100,000 items when windows
    stopped at 32; more for the DEEP best word matches since) is the dear part, not the products with the query."""

    whole: np.ndarray
    """One row per item, in the items' order."""
    passages: np.ndarray
    """The items' passages in file order (a memory map likes that)."""
    back: np.ndarray
    """Puts a product with `passages` back in the items' order."""
    offsets: np.ndarray
    """Where each item's passages start in the items' order."""

    def best_passages(self, query: np.ndarray) -> np.ndarray:
        """Returns each item's best similarity to the query over its passages."""
        similarity = (self.passages @ query)[self.back]
        return np.maximum.reduceat(similarity, self.offsets) if self.offsets.size else similarity


def read_pool(vectors: DocVectors, docnums: np.ndarray, deep: np.ndarray | None = None) -> PoolVectors:
    """Returns the vectors of these items (held only): every passage of those in `deep` (all, if None), the
    first OPENING passages of the others."""
    item_rows = vectors.rows[docnums]
    counts = np.asarray(vectors.counts[item_rows])
    if deep is not None:
        counts = np.where(np.isin(docnums, deep), counts, np.minimum(counts, OPENING))
    offsets = np.cumsum(counts) - counts
    rows = np.repeat(vectors.starts[item_rows] - offsets, counts) + np.arange(int(counts.sum()))
    passages = np.asarray(vectors.passages[np.sort(rows)], dtype=np.float32)
    return PoolVectors(vectors.whole_vectors(docnums), passages, np.argsort(np.argsort(rows)), offsets)


def top(scores: np.ndarray, among: np.ndarray, count: int) -> np.ndarray:
    """Returns the docnums of the `count` highest scores among those marked, best first."""
    docnums = np.flatnonzero(among)
    if docnums.size > count:
        docnums = docnums[np.argpartition(-scores[docnums], count - 1)[:count]]
    return docnums[np.argsort(-scores[docnums], kind="stable")]


def fuse(words: Matches, vectors: DocVectors, query: np.ndarray, live: np.ndarray) -> Matches:
    """Returns the word matches and the items nearest the query in meaning, scored by both; then again with
    the query's vector moved towards the best items of the first round.

    The second round re-scores only the first round's pool (the nearest items and the best word matches):
    a product with every item's vector is the dearest step of a search at 100,000 items.
    """
    usable = vectors.held & live
    whole, near = whole_similarity(vectors, query, usable)
    best_words = top(words.scores, words.mask & usable, RESCORED)
    pool = np.union1d(near, best_words)
    pooled = read_pool(vectors, pool, deep=best_words[:DEEP])
    if vectors.nearest is not None:  # the best word matches may be outside the nearest candidates
        whole[pool] = pooled.whole @ query
    meaning = np.where(usable, whole, np.float32(-1.0))
    meaning[pool] = np.maximum(whole[pool], pooled.best_passages(query))
    fused = blend(words, meaning, near, usable)
    best = top(fused.scores, fused.mask & vectors.held, FEEDBACK_ITEMS)
    if not best.size:
        return fused
    moved = query + FEEDBACK_WEIGHT * np.asarray(vectors.matrix[vectors.rows[best]], dtype=np.float32).mean(axis=0)
    moved = (moved / np.linalg.norm(moved)).astype(np.float32)
    whole_pool = pooled.whole @ moved
    meaning[pool] = np.maximum(whole_pool, pooled.best_passages(moved))
    near = pool[np.argsort(-whole_pool, kind="stable")[:NEAREST]]
    return blend(words, meaning, near, usable)


def blend(words: Matches, meaning: np.ndarray, near: np.ndarray, usable: np.ndarray) -> Matches:
    """Returns the fused matches: (1 - MEANING_SHARE) x words + MEANING_SHARE x meaning, each scaled to 0..1
    over its best items; the near items join the word matches where at least MIN_SIMILARITY close."""
    shown = words.mask.copy()
    shown[near[meaning[near] >= MIN_SIMILARITY]] = True
    ranked = top(meaning, shown & usable, NEAREST)
    if not ranked.size:
        return words
    low, high = float(meaning[ranked[-1]]), float(meaning[ranked[0]])
    word_best = float(words.scores[words.mask].max()) if words.mask.any() else 1.0
    # Worked out for the items shown only: at 100,000 items every whole-array step costs.
    docnums = np.flatnonzero(shown)
    scaled_meaning = np.clip((meaning[docnums] - low) / (high - low or 1.0), 0.0, None) * usable[docnums]
    scaled_words = words.scores[docnums] / (word_best or 1.0) * words.mask[docnums]
    scores = np.zeros(shown.size)
    # Scaled so a result's score reads like the others in the API (100 for first place in both).
    scores[docnums] = ((1 - MEANING_SHARE) * scaled_words + MEANING_SHARE * scaled_meaning) * 100.0
    return Matches(shown, scores)
