"""A query plan's tree -> the items it matches, as arrays: terms, phrases, and/or/not, wildcards and fuzzy
words expanded from the term dictionary, ranges. Scores follow the one rule of search_app/ranking.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

from indexer.schema import FIELD_KINDS
from search_app.postings import TermIndex
from search_app.query import And, Every, Node, Not, Or, Pattern, Phrase, Range, Term, search_fields
from search_app.ranking import UNDATED, ScoredPostings
from search_app.results import QueryError

POSITION_BITS = 32


@dataclass
class Matches:
    """The items a query matches (mask) and their scores (0 where they do not match)."""

    mask: np.ndarray
    scores: np.ndarray


def evaluate(node: Node, index: TermIndex) -> Matches:
    """Returns the items a tree matches, deleted ones left out, with their scores."""
    found = evaluate_node(node, index)
    found.mask &= index.columns.live
    found.scores[~found.mask] = 0.0
    return found


def evaluate_node(node: Node, index: TermIndex) -> Matches:
    size = index.size
    if isinstance(node, Term):
        postings = index.word_scores(node.text) if node.field is None else index.field_scores(node.field, node.text)
        return boosted(scored_matches(size, postings), node.boost)
    if isinstance(node, Phrase):
        return boosted(phrase_matches(node, index), node.boost)
    if isinstance(node, Pattern):
        return boosted(pattern_matches(node, index), node.boost)
    if isinstance(node, Range):
        return range_matches(node, index)
    if isinstance(node, Not):
        excluded = evaluate_node(node.part, index)
        return Matches(index.columns.live & ~excluded.mask, np.zeros(size))
    if isinstance(node, Every):
        return Matches(index.columns.live.copy(), np.ones(size))
    parts = [evaluate_node(part, index) for part in node.parts]
    if isinstance(node, And):
        return boosted(intersection(parts, size) if parts else no_matches(size), node.boost)
    assert isinstance(node, Or)
    return boosted(union(parts, size), node.boost)


def boosted(found: Matches, boost: float) -> Matches:
    if boost != 1.0:
        found.scores *= boost
    return found


def scored_matches(size: int, postings: ScoredPostings) -> Matches:
    """Returns the matches of a term's items with their scores."""
    return term_matches(size, postings.docnums, postings.scores)


def phrase_matches(node: Phrase, index: TermIndex) -> Matches:
    """Returns the items where the words stand together in any of the fields, scored by the words' BM25F."""
    size = index.size
    scores = np.zeros(size)
    holders = np.ones(size, dtype=bool)
    for word in node.words:
        postings = index.word_scores(word) if node.field is None else index.field_scores(node.field, word)
        found = scored_matches(size, postings)
        scores += found.scores
        holders &= found.mask
    mask = np.zeros(size, dtype=bool)
    if not holders.any():  # no item holds every word: no positions need reading
        return Matches(mask, np.zeros(size))
    for field in search_fields(node.field):
        if all(index.has_term(field, word) for word in node.words):
            mask[phrase_in_field(node, field, holders, index)] = True
    return Matches(mask, np.where(mask, scores, 0.0))


def phrase_in_field(node: Phrase, field: str, holders: np.ndarray, index: TermIndex) -> np.ndarray:
    """Returns the items holding the phrase in one field, found once per generation."""

    def find() -> np.ndarray:
        return phrase_docnums([index.occurrences(field, word) for word in node.words], holders, node.slop)

    return index.phrase(field, node.words, node.slop, find)


def pattern_matches(node: Pattern, index: TermIndex) -> Matches:
    """Returns the items holding any term a wildcard or fuzzy word expands to, scored by the best of them."""
    size = index.size
    terms: dict[str, None] = {}
    for field in search_fields(node.field):
        terms.update(dict.fromkeys(index.expand(field, node.kind, node.text, node.distance)))
    mask = np.zeros(size, dtype=bool)
    scores = np.zeros(size)
    for term in terms:
        postings = index.word_scores(term) if node.field is None else index.field_scores(node.field, term)
        mask[postings.docnums] = True
        np.maximum.at(scores, postings.docnums, postings.scores)
    return Matches(mask, scores)


def range_matches(node: Range, index: TermIndex) -> Matches:
    """Returns the items whose value lies in a range: meeting dates by day, other fields by term order."""
    size = index.size
    if FIELD_KINDS.get(node.field) == "datetime":
        days = index.columns.days
        mask = days != UNDATED
        if node.low:
            low = day_of(node.low, end=False)
            mask &= days >= low if node.include_low else days > day_of(node.low, end=True)
        if node.high:
            high = day_of(node.high, end=True)
            mask &= days <= high if node.include_high else days < day_of(node.high, end=False)
        return Matches(mask, np.zeros(size))
    mask = np.zeros(size, dtype=bool)
    for term in index.reader.terms(node.field):
        above = not node.low or term > node.low or (node.include_low and term == node.low)
        below = not node.high or term < node.high or (node.include_high and term == node.high)
        if above and below:
            mask[index.field_scores(node.field, term).docnums] = True
    return Matches(mask, np.zeros(size))


def day_of(text: str, end: bool) -> int:
    """Returns the first (or, with end, the last) day of "2021", "2021-03" or "2021-03-03" as an ordinal."""
    found = re.fullmatch(r"(\d{4})(?:-?(\d{1,2}))?(?:-?(\d{1,2}))?", text.strip())
    if not found:
        raise QueryError(f"{text!r} is not a date: use YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = int(found.group(1)), found.group(2), found.group(3)
    try:
        if day:
            return date(year, int(month or 1), int(day)).toordinal()
        if month:
            first = date(year, int(month), 1)
            return (date(year + int(month) // 12, int(month) % 12 + 1, 1).toordinal() - 1) if end else first.toordinal()
        return date(year, 12, 31).toordinal() if end else date(year, 1, 1).toordinal()
    except ValueError as exc:
        raise QueryError(f"{text!r} is not a date: {exc}") from None


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


def phrase_docnums(words: list[np.ndarray], holders: np.ndarray, slop: int = 1) -> np.ndarray:
    """Returns the items where the words (their occurrences) stand in order, each at most slop positions
    after the one before (1: adjacent). Only items in holders (those holding every word) are looked at."""
    current = words[0][holders[words[0] >> POSITION_BITS]]
    for following in words[1:]:
        if not current.size or not following.size:
            return np.zeros(0, dtype=np.int64)
        # Both are sorted, so a binary search finds each next occurrence (np.isin hashes both: 10x dearer).
        places = np.searchsorted(following, current + 1)
        nearest = following[np.minimum(places, following.size - 1)]
        found = (
            (places < following.size)
            & (nearest - current <= slop)
            & (nearest >> POSITION_BITS == current >> POSITION_BITS)
        )
        current = nearest[found]
    docnums = current >> POSITION_BITS  # sorted, as current is
    return docnums[np.concatenate(([True], docnums[1:] != docnums[:-1]))] if docnums.size else docnums
