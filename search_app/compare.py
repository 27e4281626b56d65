"""A request's matching items counted by council and year, for researchers comparing councils."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np

from search_app.evaluate import evaluate
from search_app.facets import ItemColumns
from search_app.pipeline import WordMatches, find_matches
from search_app.postings import TermIndex
from search_app.query import glossary_phrases
from search_app.ranking import UNDATED
from search_app.results import Comparison, CouncilRow, SearchRequest


def run_comparison(index: TermIndex, request: SearchRequest) -> Comparison:
    """Returns a council-by-year grid of a request's matching items with first, latest and latest decision."""
    columns = index.columns
    words = find_matches(index, request)
    matching = np.flatnonzero(compared(words, index))
    councils, years = columns.facets["council"], columns.facets["year"]
    council_codes, year_codes = councils.item_codes(), years.item_codes()
    rows = []
    for council_code in np.unique(council_codes[matching]):
        if council_code < 0:
            continue
        mine = matching[council_codes[matching] == council_code]
        keys_by_year: dict[str, set[int]] = {}
        for docnum in mine:
            year = years.values[year_codes[docnum]] if year_codes[docnum] >= 0 else "undated"
            keys_by_year.setdefault(year, set()).add(int(columns.dup_codes[docnum]))
        dated = mine[columns.days[mine] != UNDATED]
        days = columns.days[dated]
        stored = index.reader.stored(int(mine[0]))
        rows.append(
            CouncilRow(
                council=councils.values[council_code],
                council_name=stored.get("council_name") or councils.values[council_code],
                counts={year: len(keys) for year, keys in keys_by_year.items()},
                total=len(np.unique(columns.dup_codes[mine])),
                first=date.fromordinal(int(days.min())).isoformat() if dated.size else None,
                latest=date.fromordinal(int(days.max())).isoformat() if dated.size else None,
                latest_decision=latest_decision(index, dated[columns.has_decisions[dated]], columns),
            )
        )
    rows.sort(key=lambda r: (-r.total, r.council_name))
    years_shown = sorted({y for row in rows for y in row.counts}, key=lambda y: (y == "undated", y))
    return Comparison(request=request, years=years_shown, rows=rows, total=sum(r.total for r in rows))


def compared(words: WordMatches, index: TermIndex) -> np.ndarray:
    """Returns the items a comparison counts: those holding every word typed, each glossary term typed as a
    phrase ("staying put", not "staying" and "put" apart: Kent's count was 10 items, 2 of them on it), or a
    glossary equivalent of the query; not every item holding any word. A count per council and year is
    only worth reading if each item counted is about the thing."""
    held = words.counted.copy()
    phrases = glossary_phrases(words.plan)
    if phrases:
        typed = words.every_word.copy()
        for phrase in phrases:
            typed &= evaluate(phrase, index).mask
        held = typed | words.equivalent
    return held & words.allowed


def latest_decision(index: TermIndex, decided: np.ndarray, columns: ItemColumns) -> dict[str, Any] | None:
    """Returns the newest of the dated items that record a decision, with its first decision."""
    if not decided.size:
        return None
    newest = int(decided[np.lexsort((decided, columns.days[decided]))[-1]])
    stored = index.reader.stored(newest)
    return {
        "id": stored["id"],
        "date": date.fromordinal(int(columns.days[newest])).isoformat(),
        "item_title": stored["item_title"],
        "decision": stored.get("decisions", "").split("\n")[0],
    }
