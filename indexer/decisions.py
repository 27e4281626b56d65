"""Finds the sentences that record a decision (RESOLVED, RECOMMENDATION, ACTION, AGREED) in an item."""

from __future__ import annotations

import re

from indexer.patterns import DECISION_START

# Sentence ends: a full stop after a word, not after a clause number such as "1." or "(a)".
SENTENCE_END = re.compile(r"(?<=[a-z)\]%\"'’”][.!?])\s+(?=[A-Z\"“‘(])")
# Numbered clauses that continue a resolution: "2. That the schedule ...", "(b) to note ...".
CLAUSE = re.compile(r"^(?:\(?\d{1,2}[.)]|\(?[a-h]\)|[ivx]{1,4}\))\s+\S")
MAX_DECISION_CHARS = 900
# Labels standing alone above decision wording: "Decision", "RESOLVED:", "The Policy and Resources Committee –".
DECISION_LABEL = re.compile(
    r"^(?:Decisions?|DECISIONS?|Resolved|RESOLVED|Agreed|AGREED)\s*:?$"
    r"|^The\s+(?:[A-Z][\w&,']*\s+|and\s+){0,6}(?:Committee|Panel|Board|Cabinet|Council|Executive)\s*[–—-]$"
)
LEADING_NUMBER = re.compile(r"^(?:\(?\d{1,2}[.)]|\([a-z]\)|[a-z][.)])\s+")


def flatten(text: str) -> str:
    """Returns text as one line per paragraph, wrapped PDF lines joined."""
    text = re.sub(r"[ \t\xa0]+", " ", text)
    text = re.sub(r"\n(?=\s*(?:\d{1,2}[.)]|\([a-z0-9]\)|[-•·§]))", "\n\n", text)
    paragraphs = [re.sub(r"\s*\n\s*", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n".join(p for p in paragraphs if p)


def find_decisions(body: str) -> list[str]:
    """Returns the decision sentences of an item in order, each with its numbered clauses."""
    decisions: list[str] = []
    sentences = [s.strip() for para in flatten(body).split("\n") for s in SENTENCE_END.split(para) if s.strip()]
    current: str | None = None
    for sentence in sentences:
        # Minutes number their paragraphs: "3.  RESOLVED that the update be noted."
        core = LEADING_NUMBER.sub("", sentence)
        if DECISION_LABEL.match(core):
            # ModernGov pages put "Decision" or "Resolved" on a line of its own above the wording.
            if current:
                decisions.append(current)
            current = core.rstrip(":–—- ") + ":"
        elif DECISION_START.match(core) and is_decision(core):
            sentence = core
            if current:
                decisions.append(current)
            current = sentence
        elif current is not None and (CLAUSE.match(sentence) or current.endswith(":")):
            current = f"{current} {sentence}"
        elif current is not None:
            decisions.append(current)
            current = None
    if current:
        decisions.append(current)
    found = [shorten(d) for d in dict.fromkeys(decisions) if not DECISION_LABEL.match(d)]
    # What was decided or recommended comes before the actions officers were asked to take.
    return sorted(found, key=lambda d: bool(re.match(r"ACTIONS?\b", d, re.IGNORECASE)))


def is_decision(sentence: str) -> bool:
    """Returns whether a sentence opening with a decision word records one, not mentions one."""
    head = sentence[:40]
    if re.match(r"(?:Decisions?|Agreed|Resolved)\b", head) and not re.match(r"\w+\s*(?::|that\b|to\b|–|-)", head):
        return False
    return len(sentence) > 12 or sentence.endswith(":")


def shorten(decision: str) -> str:
    """Returns a decision cut at a word boundary when very long."""
    if len(decision) <= MAX_DECISION_CHARS:
        return decision
    return decision[:MAX_DECISION_CHARS].rsplit(" ", 1)[0] + " …"


# "70.6%", "58 per cent", and counts of the people and things corporate parenting measures.
FIGURE = re.compile(
    r"\b\d{1,3}(?:[.,]\d+)?\s?(?:%|per\s?cent\b)"
    r"|\b\d{1,3}(?:,\d{3})*\s+(?:(?:more|fewer|new|additional|looked[- ]after|eligible|unaccompanied)\s+)?"
    r"(?:children|young people|care leavers|foster carers|fostering households|placements|households|families|"
    r"referrals|assessments|social workers|UASC|adopters|adoptions|apprenticeships|visits)\b",
    re.IGNORECASE,
)
FIGURE_CONTEXT_WORDS = 12
MAX_FIGURES = 8


def find_figures(body: str) -> list[str]:
    """Returns the figures an item quotes, each with the words around it that say what it measures."""
    figures: list[str] = []
    for sentence in (s for para in flatten(body).split("\n") for s in SENTENCE_END.split(para)):
        last = ""
        for match in FIGURE.finditer(sentence):
            if match.group(0) in last:
                continue  # "74% and 70%": one window already shows both
            before = sentence[: match.start()].split()[-FIGURE_CONTEXT_WORDS:]
            after = sentence[match.end() :].split()[:FIGURE_CONTEXT_WORDS]
            figure = last = " ".join([*before, match.group(0), *after]).strip(" ,;:-")
            if figure not in figures:
                figures.append(figure)
            if len(figures) >= MAX_FIGURES:
                return figures
    return figures
