"""Query expansion from the glossary: acronym to phrase and phrase to acronym, never inside quotes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from indexer.topics import load_glossary

QUOTED = re.compile(r'"[^"]*"?')


@dataclass(frozen=True)
class Expansion:
    """A form found in the query and the equivalent forms searched as well."""

    term: str
    added: tuple[str, ...]


def words(text: str) -> list[str]:
    """Returns the lower-case words of text, punctuation dropped."""
    return re.findall(r"[a-z0-9']+", text.lower())


@lru_cache(maxsize=1)
def glossary_forms() -> list[tuple[tuple[str, ...], str, tuple[str, ...]]]:
    """Returns (words of a form, the form, its equivalents) for every form, longest first."""
    groups: dict[str, set[str]] = {}
    for entry in load_glossary():
        for form in entry:
            groups.setdefault(form, set()).update(f for f in entry if f != form)
    # Shortest first, ties alphabetical: a set's order changes with each process's hash seed; the API shows it.
    forms = [
        (tuple(words(form)), form, tuple(sorted(others, key=lambda f: (len(f), f)))) for form, others in groups.items()
    ]
    return sorted(forms, key=lambda f: -len(f[0]))


def matches_form(form: str, typed: str) -> bool:
    """Returns whether typed text is this form: short acronyms (PA, CP) only in capitals, as written."""
    if len(form) <= 2 and form.isupper():
        return typed == form
    return True


def find_expansions(text: str) -> list[Expansion]:
    """Returns the glossary forms used outside quotes in a query, with what they add."""
    unquoted = QUOTED.sub(" ", text)
    typed_words = re.findall(r"[A-Za-z0-9']+", unquoted)
    lowered = [w.lower() for w in typed_words]
    used = [False] * len(lowered)
    found = []
    for form_words, form, others in glossary_forms():
        n = len(form_words)
        for i in range(len(lowered) - n + 1):
            if tuple(lowered[i : i + n]) == form_words and not any(used[i : i + n]):
                if not matches_form(form, " ".join(typed_words[i : i + n])):
                    continue
                used[i : i + n] = [True] * n
                found.append(Expansion(term=" ".join(typed_words[i : i + n]), added=others))
                break
    return found


def replace_outside_quotes(text: str, pattern: re.Pattern[str], replacement: str) -> str | None:
    """Returns text with the first match outside quotes replaced, or None when there is none."""
    pieces = re.split(r'("[^"]*"?)', text)
    for k, piece in enumerate(pieces):
        if piece.startswith('"'):
            continue
        replaced, count = pattern.subn(replacement, piece, count=1)
        if count:
            pieces[k] = replaced
            return "".join(pieces)
    return None


def variant_queries(text: str, expansion: Expansion) -> list[str]:
    """Returns the query with the expanded term replaced, in turn, by each equivalent as a phrase."""
    pattern = re.compile(r"\b" + r"[\s,\-]+".join(re.escape(w) for w in expansion.term.split()) + r"\b", re.I)
    variants = []
    for other in expansion.added:
        replaced = replace_outside_quotes(text, pattern, '"' + other.replace(",", "").replace('"', "") + '"')
        if replaced is not None:
            variants.append(replaced)
    return variants


def is_acronym(form: str) -> bool:
    """Returns whether a glossary form is an acronym (LADO, CiC, DfE): one word with two or more capitals."""
    return " " not in form and sum(c.isupper() for c in form) >= 2


@lru_cache(maxsize=1)
def long_forms() -> dict[str, str]:
    """Returns each acronym's first spelled-out form in the glossary ("lado": "local authority designated officer")."""
    spelled: dict[str, str] = {}
    for heads_only in (True, False):  # "CiC" by its own entry, not as one of LAC's forms
        for entry in load_glossary():
            long = next((form for form in entry if " " in form), None)
            for form in entry[:1] if heads_only else entry:
                if long is not None and is_acronym(form):
                    spelled.setdefault(form.lower(), long)
    return spelled


def meaning_text(text: str, expansions: Sequence[Expansion] | None = None) -> str:
    """Returns the query as the meaning encoder should read it: each glossary acronym typed followed by what
    it stands for. The encoder learnt general English, not the sector's acronyms: to it "LADO" is a few
    word pieces, so items near "LADO annual report" in meaning are near "annual report". `expansions` are
    the text's, as its query plan already found them (none when expansions are turned off)."""
    spelled = long_forms()
    typed = set(words(text))
    for expansion in find_expansions(text) if expansions is None else expansions:
        long = spelled.get(expansion.term.lower())
        if long is None or set(words(long)) <= typed:  # "CIN plans children in need" says it already
            continue
        # Found where find_expansions found it: outside quotes (blanked, so places still line up).
        unquoted = QUOTED.sub(lambda quoted: " " * len(quoted.group(0)), text)
        found = re.search(r"\b" + re.escape(expansion.term) + r"\b", unquoted)
        if found is not None:
            text = f"{text[: found.end()]} ({long}){text[found.end() :]}"
    return text
