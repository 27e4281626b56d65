"""Snippets: the window of an item's text where the query's words cluster, escaped, words marked.

Whoosh's highlighter re-analyses the whole stored text of every hit; agenda items run to 20,000
words, so it cost more than the search itself. Matching word stems with one compiled expression
over the text is done in C and gives the same windows for our short queries.
"""

from __future__ import annotations

import html
import re
from collections import deque

from indexer.analysis import stems_of

SNIPPET_CHARS = 240
# Enough matches to find where the words cluster; common words match hundreds of times in long reports.
MAX_MATCHES = 60
# Snippets come from the first 20,000 characters (about 3,000 words): enough for any item page, and a
# page of twenty long reports stays cheap (at 60,000 the snippets were half the time of a search).
MAX_SCAN_CHARS = 20_000
STEM_CHARS = 5
# A passage found by its rarest word begins this many characters before it, so the words after it are shown.
RARE_LEAD = 30


def query_words(texts: list[str]) -> list[str]:
    """Returns the distinct stems of the words in the query and its expansions, field names dropped."""
    stems: list[str] = []
    for text in texts:
        plain = re.sub(r"\b\w+:", " ", text)
        # Both the word as typed and its stem: Porter turns "staying" into "stai". Stop words are not
        # searched, so not marked: "in" would mark "including" and "interviews".
        typed = [word for word in re.findall(r"\w{2,}", plain.lower()) if stems_of(word)]
        for word in [*typed, *stems_of(plain)]:
            if word not in stems:
                stems.append(word)
    return stems


def word_pattern(stems: list[str]) -> re.Pattern[str] | None:
    """Returns an expression matching words that start like the stems (plan -> plans, planning)."""
    if not stems:
        return None
    prefixes = sorted({re.escape(s[:STEM_CHARS]) for s in stems}, key=len, reverse=True)
    return re.compile(rf"\b(?:{'|'.join(prefixes)})\w*", re.IGNORECASE)


def find_passage(text: str, pattern: re.Pattern[str] | None, weights: dict[str, float] | None = None) -> int | None:
    """Returns where the passage to show begins: the densest cluster of the query's words in the opening
    MAX_SCAN_CHARS, unless a passage further on holds rarer words (by weights, the words' idf, keyed by
    their first STEM_CHARS letters): the paragraph of a 20,000-word appendix that names what was asked."""
    if pattern is None:
        return None
    first = densest_window_start(text[:MAX_SCAN_CHARS], pattern)
    if not weights or len(text) <= MAX_SCAN_CHARS:
        return first
    head = window_weight(text, first, pattern, weights) if first is not None else 0.0
    if head >= most_weight(weights):
        return first  # the opening holds every word: no passage further on can hold more (a budget book's
        # "budget" in every paragraph was read up to MAX_MATCHES times for each long item on the page)
    rarest = max(weights, key=lambda prefix: weights[prefix])
    best, best_weight = first, head
    rare = re.compile(rf"\b{re.escape(rarest)}\w*", re.IGNORECASE)
    for count, match in enumerate(rare.finditer(text)):
        # Measured from just before the rare word, so the words after it are measured and shown;
        # make_snippet begins a little earlier, for context.
        start = max(0, match.start() - RARE_LEAD)
        weight = window_weight(text, start, pattern, weights)
        if weight > best_weight:
            best, best_weight = start, weight
        if count >= MAX_MATCHES:
            break
    return best


def most_weight(weights: dict[str, float]) -> float:
    """Returns the most window_weight can give: a key that begins with a shorter key is never counted."""
    return sum(w for key, w in weights.items() if not any(key != other and key.startswith(other) for other in weights))


def window_weight(text: str, start: int, pattern: re.Pattern[str], weights: dict[str, float]) -> float:
    """Returns the summed weights of the distinct query words in the SNIPPET_CHARS of text from start.

    A word of the text counts for the shortest key it begins with, and each key once: a word shorter than
    STEM_CHARS is keyed whole, so "ehcp" weighs "EHCPs" too, but "EHCP EHCPs" counts once and a row of
    years once for "20"."""
    found = {m.group(0).lower()[:STEM_CHARS] for m in pattern.finditer(text, start, start + SNIPPET_CHARS)}
    keys = set()
    for prefix in found:
        held = [key for key in weights if prefix.startswith(key)]
        if held:
            keys.add(min(held, key=len))
    return sum(weights[key] for key in keys)


def make_snippet(text: str, pattern: re.Pattern[str] | None, first: int | None = None) -> str:
    """Returns about SNIPPET_CHARS of text from a passage (find_passage's, unless given), escaped, matches in
    <mark>."""
    if first is None:
        first = find_passage(text, pattern)
    start = max(0, first - 60) if first else 0
    if start:  # begin at a word
        start = max(text.rfind(space, 0, start) for space in " \n\t\r\f") + 1
    end = start + SNIPPET_CHARS * 3  # room for runs of spaces and newlines, flattened below
    piece = " ".join(text[start:end].split())
    window = piece[:SNIPPET_CHARS]
    more = len(piece) > len(window) or bool(text[end:].strip())
    if more and " " in window:
        window = window[: window.rfind(" ")]
    if pattern is not None:
        window = pattern.sub(lambda m: "\0" + m.group(0) + "\1", window)
    escaped = html.escape(window).replace("\0", "<mark>").replace("\1", "</mark>")
    return ("… " if start else "") + escaped + (" …" if more else "")


def densest_window_start(text: str, pattern: re.Pattern[str]) -> int | None:
    """Returns where the first window of SNIPPET_CHARS holding the most distinct query words begins.

    Reading stops at the first window holding every word of the query: a long report that names
    its subject hundreds of times need not be matched to the end (that was most of a search's time).
    """
    wanted = pattern.pattern.count("|") + 1
    window: deque[tuple[int, int, str]] = deque()
    counts: dict[str, int] = {}
    best_start, best = None, 0
    for found, match in enumerate(pattern.finditer(text)):
        word = match.group(0).lower()[:STEM_CHARS]
        window.append((match.start(), match.end(), word))
        counts[word] = counts.get(word, 0) + 1
        while match.end() - window[0][0] > SNIPPET_CHARS:
            _, _, gone = window.popleft()
            counts[gone] -= 1
            if not counts[gone]:
                del counts[gone]
        if len(counts) > best:
            best_start, best = window[0][0], len(counts)
        if best >= wanted or found >= MAX_MATCHES:
            break
    return best_start
