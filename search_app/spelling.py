"""Spelling suggestions from a generation's vocabulary: the nearest word within two edits that starts
with the same letter and that the index holds, the most common among the nearest."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Protocol

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from spellchecker import SpellChecker

from indexer.analysis import stems_of
from indexer.schema import SEARCH_FIELDS
from indexer.store import Vocabulary
from search_app.query import EDGE_PUNCTUATION, is_bare_words, question_marks_dropped

MAX_DISTANCE = 2
# One or two results for the typed words give way to a corrected spelling only if it finds ten times as many.
RESCUE_FACTOR = 10
# A word of English seen at least this often in pyspellchecker's word list (47,267 words) is not a misspelling
# when the papers lack it: "taxi" was searched as "tax", and on a small index "decide" as "decade".
COMMON_AT = 100
# ... unless the papers use a form of it that begins with the same letters ("advocacy" -> "advocate") or its
# British spelling ("center" -> "centres"). The list is American: a British word is English if its American
# spelling is ("odour" was searched as "our", "mould" as "moved").
VARIANT_PREFIX = 5
AMERICAN: list[tuple[str, str]] = [
    *((r"our", "or"), (r"re\b", "er"), (r"ise", "ize"), (r"yse", "yze"), (r"ogue\b", "og"), (r"ence\b", "ense")),
    *((r"ould", "old"), (r"ae", "e"), (r"oe", "e"), (r"ll(?=ed\b|ing\b|er\b)", "l")),
]
BRITISH: list[tuple[str, str]] = [
    *((r"or\b", "our"), (r"er\b", "re"), (r"ize", "ise"), (r"yze", "yse"), (r"og\b", "ogue"), (r"ense\b", "ence")),
    (r"(?<=[aeiou])l(?=ed\b|ing\b|er\b)", "ll"),
]


class TermHolder(Protocol):
    def has_term(self, field: str, term: str) -> bool: ...


class Speller:
    """Corrections drawn from the words of the indexed text as written, by first letter."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.counts = vocabulary.counts
        self.by_letter: dict[str, list[str]] = {}
        for word in sorted(self.counts):
            self.by_letter.setdefault(word[:1], []).append(word)

    def correct(self, word: str, held: Callable[[str], bool]) -> str | None:
        """Returns a better spelling of a word the index does not hold, or None. A word of English is not
        misspelt: it gives way only to a form of itself the papers use ("advocacy" to "advocate")."""
        if len(word) < 3 or not word.isalpha() or word in self.counts or held(word):
            return None
        candidates = self.candidates(word)
        forms = spellings(word) if candidates else []
        english = any(form in english_words() for form in forms)
        for _, _, found in sorted((distance, -self.counts[found], found) for distance, found in candidates):
            if english and not any(found.startswith(form[:VARIANT_PREFIX]) for form in forms):
                continue
            if held(found):
                return found
        return None

    def candidates(self, word: str) -> list[tuple[int, str]]:
        """Returns (edits, word) for the vocabulary's words within MAX_DISTANCE edits, same first letter."""
        choices = self.by_letter.get(word[:1], [])
        found = process.extract(word, choices, scorer=Levenshtein.distance, score_cutoff=MAX_DISTANCE, limit=None)
        return [(int(distance), choice) for choice, distance, _ in found if choice != word]


def spellings(word: str) -> list[str]:
    """Returns a word with its American spellings (the word list's: "odour", "odor") and its British ones (the
    papers': "center", "centre")."""
    forms = [word]
    for pattern, replacement in (*AMERICAN, *BRITISH):
        forms += [re.sub(pattern, replacement, form) for form in forms if re.search(pattern, form)]
    return list(dict.fromkeys(forms))


# A word typed in capitals, perhaps with a plural "s" ("LCWIP", "SACREs"), in a query with words not in capitals:
# an acronym the papers lack, not a misspelling of "lewis" or "same", kept as typed in a suggestion.
ACRONYM = re.compile(r"[A-Z][A-Z0-9&]+s?")
# In a query all in capitals (caps lock on, or one acronym) a short word may be either: its correction is
# offered, never searched instead ("SCHOL TRANSPORT": "school transport"?; "LCWIP": "lewis"?).
ACRONYM_LETTERS = 6


def is_acronym(word: str, text: str) -> bool:
    """Returns whether a word typed in a mixed-case query is an acronym, to be kept as typed."""
    return bool(ACRONYM.fullmatch(word.strip(EDGE_PUNCTUATION))) and any(not other.isupper() for other in text.split())


def offered_only(typed: str, suggestion: str) -> bool:
    """Returns whether a suggestion changes a short word of a query typed all in capitals: it may be an
    acronym, so the suggestion is offered but not searched instead."""
    words = question_marks_dropped(typed).split()
    if any(not word.isupper() for word in words):
        return False
    return any(
        len(word.strip(EDGE_PUNCTUATION)) <= ACRONYM_LETTERS and word.lower() != other.lower()
        for word, other in zip(words, suggestion.split(), strict=False)
    )


@functools.cache
def english_words() -> frozenset[str]:
    """Returns the common words of English (pyspellchecker's list, American spellings): loaded once a process,
    the first time a word the papers lack has a near spelling they hold (about 0.2 s and 4 MB)."""
    counts = SpellChecker(language="en", distance=1).word_frequency.dictionary
    return frozenset(word for word, count in counts.items() if count >= COMMON_AT)


def suggest(index: TermHolder, text: str, vocabulary: Speller, known: set[str] | None = None) -> str | None:
    """Returns the query with misspelt words corrected from the index's vocabulary, or None; known words
    (the glossary's forms found in the query) are never corrected."""
    text = question_marks_dropped(text)
    if not is_bare_words(text):
        return None  # operators and fields: not a place to guess
    changed = False
    words = []
    for word in text.split():
        if (known and word.lower() in known) or is_acronym(word, text):
            words.append(word)
            continue
        better = vocabulary.correct(word.lower(), lambda w: held_by_index(index, w))
        if better and better != word.lower():
            words.append(better)
            changed = True
        else:
            words.append(word)
    return " ".join(words) if changed else None


def held_by_index(index: TermHolder, word: str) -> bool:
    """Returns whether any searched field holds the word's stem."""
    return any(index.has_term(field, stem) for field in SEARCH_FIELDS for stem in stems_of(word)[:1])


def rescues(typed_total: int, corrected_total: int) -> bool:
    """Returns whether a corrected spelling's results should be shown instead of the typed words' few."""
    return corrected_total > 0 if typed_total == 0 else corrected_total >= RESCUE_FACTOR * typed_total
