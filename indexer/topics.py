"""Loads the topic taxonomy and tags items with topic slugs; gives search the topics' labels and phrases."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nltk.stem.snowball import SnowballStemmer

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.toml")
WORD = re.compile(r"[A-Za-z0-9']+")
# A passing mention does not make a topic: two signals in the body, or one in the title.
MIN_SCORE = 2
TITLE_WEIGHT = 2
MAX_TOPICS = 6

_stemmer = SnowballStemmer("english")


@dataclass(frozen=True)
class Topic:
    """One taxonomy entry."""

    slug: str
    label: str
    description: str
    phrases: tuple[str, ...]
    acronyms: tuple[str, ...]


def stem_words(text: str) -> list[str]:
    """Returns the Snowball stems of the words in text, lower-cased."""
    return [_stemmer.stem(w.lower().strip("'")) for w in WORD.findall(text)]


@lru_cache(maxsize=4)
def load_taxonomy(path: Path = TAXONOMY_PATH) -> tuple[Topic, ...]:
    """Returns the topics of the taxonomy file in file order."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return tuple(
        Topic(
            slug=slug,
            label=entry["label"],
            description=entry.get("description", ""),
            phrases=tuple(entry.get("phrases", [])),
            acronyms=tuple(entry.get("acronyms", [])),
        )
        for slug, entry in data.items()
    )


def topic_labels() -> dict[str, str]:
    """Returns topic slug -> label."""
    return {t.slug: t.label for t in load_taxonomy()}


@lru_cache(maxsize=4)
def phrase_index(path: Path = TAXONOMY_PATH) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Returns first stem -> [(stemmed phrase, topic slug)], for one pass over an item's words."""
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for topic in load_taxonomy(path):
        for phrase in topic.phrases:
            stems = tuple(stem_words(phrase))
            if stems:
                index.setdefault(stems[0], []).append((stems, topic.slug))
    return index


def count_signals(text: str) -> Counter[str]:
    """Returns how many times each topic's phrases and acronyms occur in text."""
    counts: Counter[str] = Counter()
    stems = stem_words(text)
    index = phrase_index()
    for i, stem in enumerate(stems):
        # Overlapping phrases of one topic ("foster carer", "fostering") count once per place.
        matched = {slug for phrase, slug in index.get(stem, ()) if tuple(stems[i : i + len(phrase)]) == phrase}
        counts.update(matched)
    for topic in load_taxonomy():
        for acronym in topic.acronyms:
            counts[topic.slug] += len(re.findall(rf"\b{re.escape(acronym)}\b", text))
    return counts


def tag_topics(title: str, body: str) -> list[str]:
    """Returns the slugs of the topics an item is about, strongest first."""
    scores = count_signals(body)
    for slug, n in count_signals(title).items():
        scores[slug] += n * TITLE_WEIGHT
    ranked = [slug for slug, score in scores.most_common() if score >= MIN_SCORE]
    return ranked[:MAX_TOPICS]


GLOSSARY_PATH = Path(__file__).with_name("glossary.toml")


@lru_cache(maxsize=4)
def load_glossary(path: Path = GLOSSARY_PATH) -> tuple[tuple[str, ...], ...]:
    """Returns the glossary's groups of forms that mean the same thing, first form first."""
    with path.open("rb") as fh:
        return tuple(tuple(entry) for entry in tomllib.load(fh)["entries"])
