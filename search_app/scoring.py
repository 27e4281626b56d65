"""Ranking as array arithmetic over every item at once: BM25F scores, phrases, folding of copies, facet counts.

search.py reads postings and columns out of the index; this module sees only numpy arrays indexed
by document number, so a query costs a few dozen vector operations instead of a Python loop over
every matching item (Whoosh's way, and most of its cost at 100,000 items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Whoosh's BM25F defaults, so that scores are the ones its own matchers would give.
K1 = 1.2
B = 0.75
POSITION_BITS = 32
UNDATED = np.iinfo(np.int64).max
MAX_FACET_VALUES = 50


@dataclass(frozen=True)
class Postings:
    """One term of one field: the items holding it (ascending) and how often each does."""

    docnums: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class ScoredPostings:
    """One term of one field: the items holding it (ascending) and the score each gets for it."""

    docnums: np.ndarray
    scores: np.ndarray


@dataclass
class Matches:
    """The items a query matches (mask) and their scores (0 where they do not match)."""

    mask: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class FacetColumn:
    """One facet's values for every item: a code per item (-1 for none), or a matrix when items hold several."""

    values: list[str]
    codes: np.ndarray | None = None
    matrix: np.ndarray | None = None

    def mask(self, chosen: list[str]) -> np.ndarray:
        """Returns which items hold any of the chosen values."""
        wanted = [self.values.index(v) for v in chosen if v in self.values]
        if self.matrix is not None:
            return np.asarray(self.matrix[:, wanted].any(axis=1))
        return np.isin(self.item_codes(), wanted)

    def item_codes(self) -> np.ndarray:
        """Returns each item's value code (-1 for none) of a facet holding one value per item."""
        if self.codes is None:
            raise TypeError("a facet holding several values per item has no single code per item")
        return self.codes

    def counts(self, docnums: np.ndarray) -> dict[str, int]:
        """Returns value -> number of the given items holding it, largest first, at most MAX_FACET_VALUES."""
        if self.matrix is not None:
            totals = self.matrix[docnums].sum(axis=0)
        else:
            codes = self.item_codes()[docnums]
            totals = np.bincount(codes[codes >= 0], minlength=len(self.values))
        found = [(self.values[i], int(totals[i])) for i in np.flatnonzero(totals)]
        found.sort(key=lambda kv: (-kv[1], kv[0]))
        return dict(found[:MAX_FACET_VALUES])


def single_valued(values: list[str]) -> FacetColumn:
    """Returns the column of a facet holding at most one value per item ("" for none)."""
    names = sorted({v for v in values if v})
    lookup = {name: code for code, name in enumerate(names)}
    return FacetColumn(names, codes=np.array([lookup.get(v, -1) for v in values], dtype=np.int32))


def multi_valued(values: list[str]) -> FacetColumn:
    """Returns the column of a facet holding comma-separated values per item."""
    per_item = [[v for v in value.split(",") if v] for value in values]
    names = sorted({v for item in per_item for v in item})
    lookup = {name: code for code, name in enumerate(names)}
    matrix = np.zeros((len(values), len(names)), dtype=bool)
    for docnum, item in enumerate(per_item):
        matrix[docnum, [lookup[v] for v in item]] = True
    return FacetColumn(names, matrix=matrix)


def bm25(postings: Postings, lengths: np.ndarray, average_length: float, idf: float) -> np.ndarray:
    """Returns each posting's BM25 score, operation for operation as Whoosh's scoring.bm25."""
    tf = postings.weights
    fl = lengths[postings.docnums]
    return idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / average_length)))


@dataclass(frozen=True)
class FieldPostings:
    """One term's postings in one field, with the field's item lengths, their average and the field's weight."""

    postings: Postings
    lengths: np.ndarray
    average_length: float
    weight: float


def bm25f(fields: list[FieldPostings], size: int) -> ScoredPostings:
    """Returns each item's BM25F score for one term over several fields (Robertson and Zaragoza 2009).

    Each field's term frequency is normalised by that field's length and weighted, and the sum saturates
    once: a word in the title and again in the text counts for more than either, but not for two words.
    Whoosh instead scores every field as its own BM25 and adds them, so an item holding a common word in
    four fields outscored one holding a rare word in its text. The idf counts items holding the term in
    any field.
    """
    pseudo = np.zeros(size)
    holds = np.zeros(size, dtype=bool)
    for field in fields:
        docnums = field.postings.docnums
        norm = (1 - B) + B * field.lengths[docnums] / field.average_length
        pseudo[docnums] += field.weight * field.postings.weights / norm  # a field's docnums are unique
        holds[docnums] = True
    docnums = np.flatnonzero(holds)
    held = docnums.size
    idf = np.log(1 + (size - held + 0.5) / (held + 0.5))
    frequency = pseudo[docnums]
    return ScoredPostings(docnums, idf * frequency * (K1 + 1) / (frequency + K1))


def no_matches(size: int) -> Matches:
    return Matches(np.zeros(size, dtype=bool), np.zeros(size))


def term_matches(size: int, docnums: np.ndarray, scores: np.ndarray | float) -> Matches:
    """Returns the matches of items `docnums` with their scores."""
    found = no_matches(size)
    found.mask[docnums] = True
    found.scores[docnums] = scores
    return found


def union(parts: list[Matches], size: int) -> Matches:
    """Returns items matching any part, scored by the sum of the parts they match."""
    return summed(parts, size, np.logical_or)


def intersection(parts: list[Matches], size: int) -> Matches:
    """Returns items matching every part, scored by the sum of their scores."""
    found = summed(parts, size, np.logical_and)
    found.scores[~found.mask] = 0.0
    return found


def summed(parts: list[Matches], size: int, join: np.ufunc) -> Matches:
    """Returns the parts' masks joined with `join` (in place, no stacked copies) and their scores added."""
    if not parts:
        return no_matches(size)
    found = Matches(parts[0].mask.copy(), parts[0].scores.copy())
    for part in parts[1:]:
        join(found.mask, part.mask, out=found.mask)
        found.scores += part.scores
    return found


def exclusion(kept: Matches, excluded: Matches) -> Matches:
    """Returns kept's items that do not match excluded, with kept's scores."""
    mask = kept.mask & ~excluded.mask
    return Matches(mask, np.where(mask, kept.scores, 0.0))


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


def phrase_docnums(words: list[np.ndarray], holders: np.ndarray) -> np.ndarray:
    """Returns the items where the words (their occurrences) stand one after another, in order.

    Only items in holders (those holding every word) are looked at.
    """
    current = words[0][holders[words[0] >> POSITION_BITS]]
    for following in words[1:]:
        if not current.size or not following.size:
            return np.zeros(0, dtype=np.int64)
        # Both are sorted, so a binary search finds each next position (np.isin hashes both: 10x dearer).
        wanted = current + 1
        found = following[np.minimum(np.searchsorted(following, wanted), following.size - 1)] == wanted
        current = wanted[found]
    docnums = current >> POSITION_BITS  # sorted, as current is
    return docnums[np.concatenate(([True], docnums[1:] != docnums[:-1]))] if docnums.size else docnums


def rank_by_score(mask: np.ndarray, scores: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Returns the matching docnums by score, highest first; ties by `order` (each item's stable place)."""
    docnums = np.flatnonzero(mask)
    return docnums[np.lexsort((order[docnums], -scores[docnums]))]


def rank_by_date(mask: np.ndarray, days: np.ndarray, order: np.ndarray, newest_first: bool) -> np.ndarray:
    """Returns the matching docnums by meeting date, undated items last; ties by `order`."""
    docnums = np.flatnonzero(mask)
    when = days[docnums]
    key = np.where(when == UNDATED, UNDATED, -when if newest_first else when)
    return docnums[np.lexsort((order[docnums], key))]


def fold_copies(ranked: np.ndarray, dup_codes: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Returns one docnum per item in rank order: of its copies, the best-ranked that is not an earlier
    meeting's minutes reprinted in a later pack, else the best-ranked copy."""
    keys = dup_codes[ranked]
    places = np.arange(ranked.size)
    # Each copy key's first place in the ranking, and its first place as an original; codes are dense, so
    # two passes over the ranking do what sorting every key did (the dearest step at 100,000 items).
    never = ranked.size
    first = np.full(int(dup_codes.max(initial=-1)) + 1, never)
    np.minimum.at(first, keys, places)
    first_original = np.full(first.size, never)
    originals = np.flatnonzero(~earlier[ranked])
    np.minimum.at(first_original, keys[originals], originals)
    leaders = places[first[keys] == places]
    leader_keys = keys[leaders]
    chosen = np.where(first_original[leader_keys] < never, first_original[leader_keys], leaders)
    return ranked[chosen]
