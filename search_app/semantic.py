"""Meaning-based matching: item and passage vectors by document number, and their fusion with the word
ranking. Plain numpy; no Whoosh, no Flask.

The fusion is a convex combination of the two scores, each scaled to 0..1 over its own best items
(Bruch, Gai and Ingber 2023 found it beats reciprocal rank fusion, which throws the scores away), with
one round of Rocchio feedback on the query's vector: the three best items pull it towards what the
collection calls the thing asked about.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.embeddings import DIMENSIONS
from indexer.vectors import ItemVectors
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
# Above EXACT_UP_TO items, the first look over every item uses vectors cut to their REDUCED_DIMS main
# directions (found from the items themselves): at 100,000 items the full product with every 384-number
# vector reads 150 MB a query, 12 ms on one core. The CANDIDATES best by that look, and every item whose
# meaning is then used to rank (the pool), are scored again with their whole vectors.
EXACT_UP_TO = 20_000
REDUCED_DIMS = 96
CANDIDATES = 1_000


@dataclass(frozen=True)
class DocVectors:
    """Vectors in document-number order: each item's whole-item vector (zero and not held where it has none),
    and where its passages start in `passages` and how many there are. For large indexes, `reduced` holds
    the vectors in the `basis` of their main directions (None below EXACT_UP_TO items)."""

    matrix: np.ndarray
    held: np.ndarray
    passages: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    basis: np.ndarray | None = None
    reduced: np.ndarray | None = None


def align_vectors(vectors: ItemVectors, ids_by_docnum: list[str]) -> DocVectors:
    """Returns the generation's vectors placed at their items' document numbers."""
    size = len(ids_by_docnum)
    matrix = np.zeros((size, DIMENSIONS), dtype=np.float32)
    starts = np.zeros(size, dtype=np.int64)
    counts = np.zeros(size, dtype=np.int64)
    row_of = {item_id: row for row, item_id in enumerate(vectors.ids)}
    rows = np.array([row_of.get(item_id, -1) for item_id in ids_by_docnum], dtype=np.int64)
    held = rows >= 0
    matrix[held] = vectors.matrix[rows[held]]
    starts[held] = vectors.starts()[rows[held]]
    counts[held] = vectors.counts[rows[held]]
    if int(held.sum()) <= EXACT_UP_TO:
        return DocVectors(matrix, held, vectors.passages, starts, counts)
    basis = main_directions(matrix[held])
    reduced = np.ascontiguousarray(matrix @ basis, dtype=np.float32)
    return DocVectors(matrix, held, vectors.passages, starts, counts, basis, reduced)


def main_directions(matrix: np.ndarray, sample: int = 20_000) -> np.ndarray:
    """Returns the REDUCED_DIMS directions that keep most of the vectors' dot products (the top eigenvectors
    of their uncentred second moment, from an even sample of rows), shape (384, REDUCED_DIMS)."""
    rows = matrix[:: max(1, len(matrix) // sample)].astype(np.float64)
    _, eigenvectors = np.linalg.eigh(rows.T @ rows)  # ascending eigenvalues
    return np.ascontiguousarray(eigenvectors[:, ::-1][:, :REDUCED_DIMS], dtype=np.float32)


def whole_similarity(vectors: DocVectors, query: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns every item's similarity to the query (exact, or from the reduced vectors outside the best
    CANDIDATES) and the NEAREST usable items, best first."""
    if vectors.reduced is None or vectors.basis is None:
        whole = vectors.matrix @ query
        return whole, top(whole, usable, NEAREST)
    whole = vectors.reduced @ (query @ vectors.basis)
    candidates = top(whole, usable, CANDIDATES)
    whole[candidates] = vectors.matrix[candidates] @ query
    return whole, candidates[np.argsort(-whole[candidates], kind="stable")[:NEAREST]]


def best_passages(vectors: DocVectors, query: np.ndarray, docnums: np.ndarray) -> np.ndarray:
    """Returns each item's best similarity to the query over its passages (items held only)."""
    counts = vectors.counts[docnums]
    offsets = np.cumsum(counts) - counts
    rows = np.repeat(vectors.starts[docnums] - offsets, counts) + np.arange(int(counts.sum()))
    similarity = np.asarray(vectors.passages[np.sort(rows)], dtype=np.float32) @ query
    # Rows were read in file order (a memory map likes that); put them back in the items' order.
    similarity = similarity[np.argsort(np.argsort(rows))]
    return np.maximum.reduceat(similarity, offsets) if docnums.size else similarity


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
    pool = np.union1d(near, top(words.scores, words.mask & usable, RESCORED))
    if vectors.reduced is not None:  # the best word matches may have only their reduced similarity
        whole[pool] = vectors.matrix[pool] @ query
    meaning = np.where(usable, whole, np.float32(-1.0))
    meaning[pool] = np.maximum(whole[pool], best_passages(vectors, query, pool))
    fused = blend(words, meaning, near, usable)
    best = top(fused.scores, fused.mask & vectors.held, FEEDBACK_ITEMS)
    if not best.size:
        return fused
    moved = query + FEEDBACK_WEIGHT * vectors.matrix[best].mean(axis=0)
    moved = (moved / np.linalg.norm(moved)).astype(np.float32)
    whole_pool = vectors.matrix[pool] @ moved
    meaning[pool] = np.maximum(whole_pool, best_passages(vectors, moved, pool))
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
