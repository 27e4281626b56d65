"""Snippets: the window of an item's text where the query's words cluster, escaped, words marked.

Whoosh's highlighter re-analyses the whole stored text of every hit; agenda items run to 20,000
words, so it cost more than the search itself. Matching word stems with one compiled expression
over the text is done in C and gives the same windows for our short queries.
"""

from __future__ import annotations

import html
import re

from indexer.schema import STEMMED

SNIPPET_CHARS = 240
MAX_MATCHES = 400
# Snippets come from the first 20,000 characters (about 3,000 words): enough for any item page, and a
# page of twenty long reports stays cheap (at 60,000 the snippets were half the time of a search).
MAX_SCAN_CHARS = 20_000
STEM_CHARS = 5


def query_words(texts: list[str]) -> list[str]:
    """Returns the distinct stems of the words in the query and its expansions, field names dropped."""
    stems: list[str] = []
    for text in texts:
        plain = re.sub(r"\b\w+:", " ", text)
        # Both the word as typed and its stem: Porter turns "staying" into "stai".
        for word in [*re.findall(r"\w{2,}", plain.lower()), *(t.text for t in STEMMED(plain))]:
            if word not in stems:
                stems.append(word)
    return stems


def word_pattern(stems: list[str]) -> re.Pattern[str] | None:
    """Returns an expression matching words that start like the stems (plan -> plans, planning)."""
    if not stems:
        return None
    prefixes = sorted({re.escape(s[:STEM_CHARS]) for s in stems}, key=len, reverse=True)
    return re.compile(rf"\b(?:{'|'.join(prefixes)})\w*", re.IGNORECASE)


def make_snippet(text: str, pattern: re.Pattern[str] | None) -> str:
    """Returns about SNIPPET_CHARS of text around the densest cluster of matches, escaped, matches in <mark>."""
    flat = " ".join(text[:MAX_SCAN_CHARS].split())
    if pattern is None:
        return html.escape(flat[:SNIPPET_CHARS])
    matches = []
    for match in pattern.finditer(flat):
        matches.append((match.start(), match.end(), match.group(0).lower()[:STEM_CHARS]))
        if len(matches) >= MAX_MATCHES:
            break
    if not matches:
        return html.escape(flat[:SNIPPET_CHARS])
    start = max(0, matches[densest_window(matches)][0] - 60)
    start = flat.rfind(" ", 0, start) + 1 if start else 0
    window = flat[start : start + SNIPPET_CHARS]
    if len(flat) > start + SNIPPET_CHARS and " " in window:
        window = window[: window.rfind(" ")]
    marked = pattern.sub(lambda m: "\0" + m.group(0) + "\1", window)
    escaped = html.escape(marked).replace("\0", "<mark>").replace("\1", "</mark>")
    return ("… " if start else "") + escaped + (" …" if start + len(window) < len(flat) else "")


def densest_window(matches: list[tuple[int, int, str]]) -> int:
    """Returns the index of the match opening the window of SNIPPET_CHARS with the most distinct words."""
    counts: dict[str, int] = {}
    best, best_distinct, j = 0, 0, 0
    for i, (first_start, _, _) in enumerate(matches):
        while j < len(matches) and matches[j][1] - first_start <= SNIPPET_CHARS:
            counts[matches[j][2]] = counts.get(matches[j][2], 0) + 1
            j += 1
        if len(counts) > best_distinct:
            best, best_distinct = i, len(counts)
        word = matches[i][2]
        counts[word] -= 1
        if not counts[word]:
            del counts[word]
    return best
