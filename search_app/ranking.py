"""The ranking rule, one for every way of writing a query, and the orders results are shown in.

An item's score is the sum, over the words of the query it holds, of each word's BM25F score over the
searched text fields (Robertson and Zaragoza 2009; k1 1.2, b 0.75, field weights in indexer/schema.py);
a phrase counts its words, a wildcard or fuzzy word its best-scoring term, a field:value filter and NOT
nothing. Items where the words typed stand together score PHRASE_BONUS more. A glossary equivalent counts
for as many words as the form it stands for. After meaning is fused, an item holding a rare pair of the
words side by side, as typed, gains up to PAIR_BONUS of the best score (pair_rarity). Plain words match
any item holding one of them; quotes, operators and fields keep their strict matching
(search_app/evaluate.py) but are scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.backend import Postings

K1 = 1.2
B = 0.75
# BM25F's length normalisation stops growing at LENGTH_CAP times a field's average length (issue 22): a
# 20,000-word performance appendix is many papers bound as one, and normalising by all of its length made a
# word it names in one paragraph ("Serious Violence Duty", "slippage") count for about an eighteenth of a
# mention in an average item; past the cap it counts as in an item of that length (a ninth). 12 times the
# average (about 6,850 words of the body, stop words dropped) touches the seven longest items of corpus/;
# indexer/xapian_backend.py writes the same.
LENGTH_CAP = 12.0
# Items where the words stand together as typed score PHRASE_BONUS more.
PHRASE_BONUS = 0.5
# A specific match (issue 22): an item holding two words side by side as typed, where few items hold that
# pair, gains up to PAIR_BONUS of the best score, after meaning is fused, so items that only share the topic
# cannot outrank it. The gain grows with the pair's rarity: nothing for a pair held by PAIR_COMMON of the
# items or more, all of it for a pair held by one item.
PAIR_BONUS = 0.4
PAIR_COMMON = 0.05
# Words close together (issue 22): among the CLOSE_CANDIDATES best-scored items, an item whose text holds
# distinct words of the query within CLOSE_WINDOW positions of each other gains up to CLOSE_BONUS of the
# best score, in proportion to the share of the query's idf that window holds (window_coverage). The rarest
# paragraph of a 20,000-word appendix then counts, whatever the item's length.
CLOSE_BONUS = 0.1
CLOSE_WINDOW = 25
CLOSE_CANDIDATES = 100
# A council's place name typed ("Barnsley corporate parenting"): the query is scored by its other words, and the
# council's items matched gain COUNCIL_LIFT of the best score if they score COUNCIL_FULL of the best or more, less
# in proportion below that (council_gains). Papers seldom name their own council, so the words alone seldom find
# them; one matching the other words half as well as the best comes level with the best of any other council, and
# one that barely matches them (the council's only paper, on something else) stays below close matches elsewhere.
COUNCIL_LIFT = 0.5
COUNCIL_FULL = 0.25
UNDATED = np.iinfo(np.int64).max


@dataclass(frozen=True)
class FoldingColumns:
    """What folding copies reads of every item: its copy key, whether other live items share it, and
    whether it is an earlier meeting's minutes reprinted in a later pack."""

    dup_codes: np.ndarray
    has_copies: np.ndarray
    earlier: np.ndarray


@dataclass(frozen=True)
class ScoredPostings:
    """One term: the items holding it (ascending) and the score each gets for it."""

    docnums: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class FieldPostings:
    """One term's postings in one field, with the field's item lengths, their average and the field's weight."""

    postings: Postings
    lengths: np.ndarray
    average_length: float
    weight: float


def bm25f(fields: list[FieldPostings], size: int) -> ScoredPostings:
    """Returns each item's BM25F score for one term over several fields.

    Each field's term frequency is normalised by that field's length (up to LENGTH_CAP times its average) and
    weighted, and the sum saturates once: a word in the title and again in the text counts for more than
    either, but not for two words.
    (Whoosh instead scores every field as its own BM25 and adds them, so an item holding a common word in
    four fields outscored one holding a rare word in its text.) The idf counts items holding the term in
    any of the fields: log(1 + (N - n + 0.5) / (n + 0.5)).
    """
    pseudo = np.zeros(size)
    holds = np.zeros(size, dtype=bool)
    for field in fields:
        docnums = field.postings.docnums
        lengths = np.minimum(field.lengths[docnums], LENGTH_CAP * field.average_length)
        norm = (1 - B) + B * lengths / field.average_length
        pseudo[docnums] += field.weight * field.postings.weights / norm  # a field's docnums are unique
        holds[docnums] = True
    docnums = np.flatnonzero(holds)
    held = docnums.size
    idf = inverse_frequency(held, size)
    frequency = pseudo[docnums]
    return ScoredPostings(docnums, idf * frequency * (K1 + 1) / (frequency + K1))


def inverse_frequency(held: int, size: int) -> float:
    """Returns BM25's idf of a term `held` by that many of `size` items: log(1 + (N - n + 0.5) / (n + 0.5))."""
    return float(np.log(1 + (size - held + 0.5) / (held + 0.5)))


def pair_rarity(holders: int, size: int) -> float:
    """Returns how specific an adjacent pair of query words is, 0..1: 0 where PAIR_COMMON of the items or more
    hold it, rising with its idf, log(1 + N/n), to 1 where one item holds it."""
    if holders <= 0 or size <= 1:
        return 0.0
    floor = float(np.log(1 + 1 / PAIR_COMMON))
    top = float(np.log(1 + size))
    return max(0.0, (float(np.log(1 + size / holders)) - floor) / (top - floor)) if top > floor else 0.0


def window_coverage(occurrences: list[np.ndarray], weights: np.ndarray, docnums: np.ndarray) -> np.ndarray:
    """Returns, for each of docnums, the largest share of the words' weight held within CLOSE_WINDOW positions
    of one another (0..1), counting only windows holding two or more of the words.

    occurrences[k] holds word k's occurrences as docnum << 32 | position, sorted. Every occurrence of any of
    the words starts a window; a binary search in each word's occurrences says whether it falls inside."""
    wanted = [occurrences_in(found, docnums) for found in occurrences]
    starts = np.concatenate(wanted) if wanted else np.zeros(0, dtype=np.int64)
    docnums = docnums.astype(np.int64, copy=False)
    coverage = np.zeros(docnums.size)
    total = float(weights.sum())
    if not starts.size or total <= 0:
        return coverage
    held = np.zeros(starts.size)
    words = np.zeros(starts.size, dtype=np.int64)
    for found, weight in zip(wanted, weights, strict=True):
        if not found.size:
            continue
        places = np.searchsorted(found, starts)
        nearest = found[np.minimum(places, found.size - 1)]
        inside = (places < found.size) & (nearest < starts + CLOSE_WINDOW) & (nearest >> 32 == starts >> 32)
        held += weight * inside
        words += inside
    held[words < 2] = 0.0
    rows = np.searchsorted(docnums, starts >> 32)
    np.maximum.at(coverage, rows, held / total)
    return coverage


def occurrences_in(found: np.ndarray, docnums: np.ndarray) -> np.ndarray:
    """Returns the occurrences (docnum << 32 | position, sorted) that are in the sorted docnums: a binary
    search for each item's run, so a common word's millions of occurrences are not each looked at."""
    docnums = docnums.astype(np.int64, copy=False)  # shifted by 32: int32 would wrap
    firsts = np.searchsorted(found, docnums << 32)
    counts = np.searchsorted(found, (docnums + 1) << 32) - firsts
    if not counts.any():
        return found[:0]
    offsets = np.repeat(firsts - (np.cumsum(counts) - counts), counts)
    return found[np.arange(int(counts.sum())) + offsets]


# rank_by_score, rank_by_date and fold_copies rank and fold every match: the plain statement of the rule that
# fold_and_rank must give for a page (tests compare them); searches use fold_and_rank.
def council_gains(scores: np.ndarray | float, best: float) -> np.ndarray | float:
    """Returns what items of a council the query names gain: COUNCIL_LIFT of the best score, in proportion to
    their own score below COUNCIL_FULL of the best."""
    return np.minimum(scores * (COUNCIL_LIFT / COUNCIL_FULL), COUNCIL_LIFT * best)


def rank_by_score(mask: np.ndarray, scores: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Returns the matching docnums by score, highest first; ties by `order` (each item's stable place)."""
    docnums = np.flatnonzero(mask)
    return docnums[np.lexsort((order[docnums], -scores[docnums]))]


def rank_by_date(mask: np.ndarray, days: np.ndarray, order: np.ndarray, newest_first: bool) -> np.ndarray:
    """Returns the matching docnums by meeting date, undated items last; ties by `order`."""
    docnums = np.flatnonzero(mask)
    return docnums[np.lexsort((order[docnums], date_keys(days[docnums], newest_first)))]


def date_keys(when: np.ndarray, newest_first: bool) -> np.ndarray:
    """Returns the meeting dates as rank keys, lowest first: undated items last either way."""
    return np.where(when == UNDATED, UNDATED, -when if newest_first else when)


def fold_and_rank(
    docnums: np.ndarray, keys: np.ndarray, order: np.ndarray, folding: FoldingColumns, first: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the matches one per agenda item, in no set order, and the first `first` of those in rank order:
    what fold_copies gives from the whole ranking, for the items of a page.

    `keys` rank `docnums` (the matches, ascending), lowest first, ties by `order`. Of an agenda item's copies
    the one shown is the best-ranked original (not an earlier meeting's minutes reprinted), in the place of
    its best-ranked copy. Only the items that have copies and the page's candidates are sorted: sorting
    every match (60,000 for "council tax" at 100,000 items) was a tenth of a search, for a page of twenty."""
    ties = order[docnums]
    several = folding.has_copies[docnums]
    if several.any():
        copies = np.flatnonzero(several)
        by_rank = copies[np.lexsort((ties[copies], keys[copies]))]
        by_choice = copies[np.lexsort((ties[copies], keys[copies], folding.earlier[docnums[copies]]))]
        # np.unique's first index of each copy key: the key's best-ranked copy, and its best original.
        _, leading = np.unique(folding.dup_codes[docnums[by_rank]], return_index=True)
        _, chosen = np.unique(folding.dup_codes[docnums[by_choice]], return_index=True)
        leaders, chosen = by_rank[leading], by_choice[chosen]
        keys, ties = keys.copy(), ties.copy()
        keys[chosen], ties[chosen] = keys[leaders], ties[leaders]
        kept = np.sort(np.concatenate([np.flatnonzero(~several), chosen]))
        docnums, keys, ties = docnums[kept], keys[kept], ties[kept]
    return docnums, first_ranked(docnums, keys, ties, first)


def first_ranked(docnums: np.ndarray, keys: np.ndarray, ties: np.ndarray, count: int) -> np.ndarray:
    """Returns the `count` docnums of lowest key, in order of key and then of ties."""
    if count <= 0:
        return docnums[:0]
    if count < docnums.size:
        # Every item tied with the last too; and a NaN key (partition puts NaN last) keeps all, not none.
        within = ~(keys > np.partition(keys, count - 1)[count - 1])
        docnums, keys, ties = docnums[within], keys[within], ties[within]
    return docnums[np.lexsort((ties, keys))][:count]


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
