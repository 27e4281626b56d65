"""The Whoosh schema: one record per agenda item, fields as in DESIGN.md's index record table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from whoosh.analysis import CompositeAnalyzer, StemmingAnalyzer, StopFilter, Token
from whoosh.analysis.tokenizers import default_pattern
from whoosh.fields import BOOLEAN, DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.lang.porter import stem

porter_stem = lru_cache(maxsize=200_000)(stem)
# RegexTokenizer's default expression without its capturing group, so that findall returns whole words.
WORDS = re.compile(default_pattern.pattern.replace("(\\.?", "(?:\\.?"), default_pattern.flags)


class OnePassStemmingAnalyzer(CompositeAnalyzer):  # type: ignore[misc]
    """Whoosh's StemmingAnalyzer (words, lower case, stop words out, Porter stems) run as one loop.

    The same tokens and positions as the chain of four generators, at about a third of the cost:
    analysis was half of the time of an index build. Calls asking for character offsets, kept
    stop words or untokenised text (the highlighter, some query parsing) go to the chain itself.
    """

    def __init__(self) -> None:
        super().__init__(*StemmingAnalyzer().items)

    def __call__(  # type: ignore[override]
        self,
        value: str,
        no_morph: bool = False,
        positions: bool = False,
        chars: bool = False,
        removestops: bool = True,
        tokenize: bool = True,
        start_pos: int = 0,
        mode: str = "",
        boosts: bool = False,
        **kwargs: Any,
    ) -> Iterator[Token]:
        if chars or not removestops or not tokenize or kwargs:
            return super().__call__(  # type: ignore[no-any-return]
                value,
                no_morph=no_morph,
                positions=positions,
                chars=chars,
                removestops=removestops,
                tokenize=tokenize,
                start_pos=start_pos,
                mode=mode,
                boosts=boosts,
                **kwargs,
            )
        return self._tokens(value, positions, start_pos, mode, no_morph)

    def _tokens(self, value: str, positions: bool, start_pos: int, mode: str, no_morph: bool) -> Iterator[Token]:
        stops: StopFilter = self.items[2]
        stoplist, minsize = stops.stops, stops.min
        token = Token(positions, False, removestops=True, mode=mode)
        token.boost = 1.0
        token.stopped = False
        pos = None
        for raw, word in enumerate(WORDS.findall(value)):
            text = word.lower()
            if len(text) < minsize or text in stoplist:
                continue
            # As StopFilter renumbers: the first kept word keeps its place, the rest follow on.
            pos = start_pos + raw if pos is None else pos + 1
            token.pos = pos
            token.text = text if no_morph else porter_stem(text)
            yield token


# Plain words match their stems (plan, plans, planning); the stop list is Whoosh's short default.
STEMMED = OnePassStemmingAnalyzer()

FACET_FIELDS = ("council", "topic", "year", "committee", "doc_type")
"""Facets as the API names them; "topic" is stored in the field "topics"."""
FACET_FIELD_NAMES = {
    "council": "council",
    "topic": "topics",
    "year": "year",
    "committee": "committee",
    "doc_type": "doc_type",
}
SEARCH_FIELDS = {"item_title": 3.0, "decisions": 3.0, "title": 1.5, "body": 1.0, "committee_name": 0.5}


def build_schema() -> Schema:
    """Returns the schema of the item index."""
    return Schema(
        id=ID(stored=True, unique=True, sortable=True),  # sortable: a stable tie-break for ranking
        dup_key=ID(stored=True, sortable=True),
        doc_id=ID(stored=True),
        content_hash=STORED,
        council=ID(stored=True, sortable=True),
        council_name=STORED,
        committee=ID(stored=True, sortable=True),
        committee_name=TEXT(stored=True, analyzer=STEMMED),
        doc_type=ID(stored=True, sortable=True),
        date=DATETIME(stored=True, sortable=True),
        earlier_minutes=BOOLEAN(stored=True),
        year=ID(stored=True, sortable=True),
        topics=KEYWORD(stored=True, commas=True, scorable=True, sortable=True),
        title=TEXT(stored=True, analyzer=STEMMED),
        item_number=STORED,
        item_title=TEXT(stored=True, analyzer=STEMMED),
        position=NUMERIC(stored=True, sortable=True),
        body=TEXT(stored=True, analyzer=STEMMED),  # spelling suggestions: store.Vocabulary
        decisions=TEXT(stored=True, analyzer=STEMMED),
        has_decisions=BOOLEAN(stored=True),
        figures=STORED,  # sentences quoted from body, which is searched: indexing them again only cost time
        page=STORED,
        source=ID(stored=True),
        source_url=STORED,
        format=STORED,
        provenance=STORED,
    )
