"""Every item's facet values, copy key, date and flags as arrays; filters and facet counts over them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.backend import ItemReader
from indexer.records import split_topics
from indexer.schema import FACET_FIELD_NAMES, FACET_FIELDS
from search_app.ranking import UNDATED, FoldingColumns
from search_app.results import SearchRequest

MAX_FACET_VALUES = 50


@dataclass(frozen=True)
class FacetColumn:
    """One facet's values for every item: `codes[docnum]` is the item's code, -1 for none. For a facet with one
    value per item a code is that value; for topics, where an item holds several, a code is one combination of
    them (a few hundred in a corpus), and row `code` of `sets` says which values it holds. So counting is one
    bincount over the codes however many values an item holds: counting topics as rows of an item-by-topic
    matrix was half a search's facet time at 100,000 items."""

    values: list[str]
    codes: np.ndarray
    sets: np.ndarray | None = None
    """None where each code is one value."""

    def mask(self, chosen: list[str]) -> np.ndarray:
        """Returns which items hold any of the chosen values."""
        wanted = [self.values.index(v) for v in chosen if v in self.values]
        if self.sets is None:
            return np.isin(self.codes, wanted)
        # The extra last entry is what code -1 (no value) reads.
        return np.append(self.sets[:, wanted].any(axis=1), False)[self.codes]

    def item_codes(self) -> np.ndarray:
        """Returns each item's value code (-1 for none) of a facet holding one value per item."""
        if self.sets is not None:
            raise TypeError("a facet holding several values per item has no single code per item")
        return self.codes

    def counts(self, docnums: np.ndarray) -> dict[str, int]:
        """Returns value -> number of the given items holding it, largest first, at most MAX_FACET_VALUES."""
        codes = self.codes[docnums]
        codes = codes[codes >= 0]
        totals = np.bincount(codes, minlength=len(self.values)) if self.sets is None else self.per_value(codes)
        found = [(self.values[i], int(totals[i])) for i in np.flatnonzero(totals)]
        found.sort(key=lambda kv: (-kv[1], kv[0]))
        return dict(found[:MAX_FACET_VALUES])

    def per_value(self, codes: np.ndarray) -> np.ndarray:
        """Returns how many of these combination codes hold each value."""
        assert self.sets is not None
        return np.bincount(codes, minlength=len(self.sets)) @ self.sets


def single_valued(values: list[str]) -> FacetColumn:
    """Returns the column of a facet holding at most one value per item ("" for none)."""
    names = sorted({v for v in values if v})
    lookup = {name: code for code, name in enumerate(names)}
    return FacetColumn(names, codes=np.array([lookup.get(v, -1) for v in values], dtype=np.int32))


def multi_valued(per_item: list[list[str]]) -> FacetColumn:
    """Returns the column of a facet holding several values per item: a code per distinct combination."""
    names = sorted({v for item in per_item for v in item})
    lookup = {name: code for code, name in enumerate(names)}
    combinations: dict[frozenset[int], int] = {}
    codes = np.array(
        [
            combinations.setdefault(frozenset(lookup[v] for v in item), len(combinations)) if item else -1
            for item in per_item
        ],
        dtype=np.int32,
    )
    sets = np.zeros((len(combinations), len(names)), dtype=np.int64)
    for combination, code in combinations.items():
        sets[code, list(combination)] = 1
    return FacetColumn(names, codes=codes, sets=sets)


@dataclass
class ItemColumns:
    """Every item's facet values, copy key, date and flags, as arrays indexed by document number."""

    size: int
    live: np.ndarray
    """False for items deleted by an incremental build and not yet merged away."""
    facets: dict[str, FacetColumn]
    dup_codes: np.ndarray
    """Copies of one agenda item (the same council, date and title) share a code."""
    copies: dict[int, list[int]]
    """Code -> live docnums, for the codes held by more than one live item."""
    days: np.ndarray
    """Meeting date as a proleptic Gregorian ordinal; UNDATED when the paper gives none."""
    order: np.ndarray
    """Each item's place in item-id order: equal scores and dates rank alike in every build (document
    numbers differ between builds, as parallel writers take batches in no fixed order)."""
    earlier: np.ndarray
    has_decisions: np.ndarray
    has_copies: np.ndarray
    """True for live items whose copy key other live items hold too."""

    def folding(self) -> FoldingColumns:
        """Returns what folding copies reads of these columns."""
        return FoldingColumns(self.dup_codes, self.has_copies, self.earlier)


def read_columns(reader: ItemReader) -> ItemColumns:
    """Returns the item columns of a generation."""
    size = reader.size
    facets = {}
    for facet in FACET_FIELDS:
        values = reader.column(FACET_FIELD_NAMES[facet])
        facets[facet] = multi_valued([split_topics(v) for v in values]) if facet == "topic" else single_valued(values)
    codes: dict[str, int] = {}
    dup_codes = np.array([codes.setdefault(key, len(codes)) for key in reader.column("dup_key")], dtype=np.int64)
    live = reader.live()
    holders: dict[int, list[int]] = {}
    for docnum in np.flatnonzero(live).tolist():
        holders.setdefault(int(dup_codes[docnum]), []).append(docnum)
    copies = {code: docnums for code, docnums in holders.items() if len(docnums) > 1}
    has_copies = np.zeros(size, dtype=bool)
    has_copies[[docnum for docnums in copies.values() for docnum in docnums]] = True
    days = np.array([when.toordinal() if when else UNDATED for when in reader.column("date")], dtype=np.int64)
    ids = np.array(reader.column("id"))
    order = np.empty(size, dtype=np.int64)
    order[np.argsort(ids, kind="stable")] = np.arange(size)
    return ItemColumns(
        size=size,
        order=order,
        live=live,
        facets=facets,
        dup_codes=dup_codes,
        copies=copies,
        days=days,
        earlier=reader.flags("earlier_minutes"),
        has_decisions=reader.flags("has_decisions"),
        has_copies=has_copies,
    )


def filter_mask(request: SearchRequest, columns: ItemColumns) -> np.ndarray:
    """Returns which items the request's facet values, dates and "decisions only" let through."""
    mask = columns.live.copy()
    for facet, values in request.filters.items():
        if values:
            mask &= columns.facets[facet].mask(values)
    if request.date_from:
        mask &= (columns.days >= request.date_from.toordinal()) & (columns.days != UNDATED)
    if request.date_to:
        mask &= columns.days <= request.date_to.toordinal()
    if request.decisions_only:
        mask &= columns.has_decisions
    return mask


def count_facets(shown: np.ndarray, columns: ItemColumns) -> dict[str, dict[str, int]]:
    """Returns, per facet, value -> number of the shown items (one per agenda item) holding it."""
    return {facet: columns.facets[facet].counts(shown) for facet in FACET_FIELDS}


def copies_of(docnum: int, columns: ItemColumns) -> list[int]:
    """Returns the other live items that are copies of this one (the same item in other papers)."""
    return [other for other in columns.copies.get(int(columns.dup_codes[docnum]), []) if other != docnum]
