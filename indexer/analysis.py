"""Text analysis shared by every index backend and by queries: words, lower case, stop words out, stems."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from indexer.whoosh_backend import porter_stem

# Word characters, with inner full stops kept ("e.g", "1.5"), as Whoosh's default tokenizer reads them.
WORDS = re.compile(r"[\w\*]+(?:\.?[\w\*]+)*", re.UNICODE)
MIN_WORD = 2
STOP_WORDS = frozenset(
    line.strip()
    for line in (Path(__file__).with_name("stopwords.txt")).read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
stem = lru_cache(maxsize=200_000)(porter_stem)


def analysed_words(text: str, start_pos: int = 0, stemmed: bool = True) -> Iterator[tuple[int, str]]:
    """Yields (position, term) for each kept word: lower case, stop words and one-letter words out, stemmed.

    The first kept word keeps its place in the text and the rest follow on, as Whoosh's StopFilter numbers.
    """
    pos = None
    for raw, word in enumerate(WORDS.findall(text)):
        lowered = word.lower()
        if len(lowered) < MIN_WORD or lowered in STOP_WORDS:
            continue
        pos = start_pos + raw if pos is None else pos + 1
        yield pos, stem(lowered) if stemmed else lowered


def stems_of(text: str) -> list[str]:
    """Returns the index's terms for the words of text, in order."""
    return [term for _, term in analysed_words(text)]
