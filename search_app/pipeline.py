"""One search, stage by stage: words -> meaning -> filters -> rank -> fold -> page -> hits.

The words stage asks the index (through search_app/evaluate.py) which items the plan matches and scores
them by the one rule of search_app/ranking.py; the other stages are array arithmetic over every item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from indexer.analysis import WORDS, stems_of
from indexer.items import PAGE_BREAK
from indexer.records import read_item, read_other_source
from search_app.evaluate import Matches, evaluate
from search_app.expansion import meaning_text
from search_app.facets import ItemColumns, copies_of, count_facets, filter_mask
from search_app.postings import TermIndex
from search_app.query import (
    EDGE_PUNCTUATION,
    Phrase,
    QueryPlan,
    is_bare_words,
    plan_query,
    question_marks_dropped,
    question_words_removed,
    scored_word,
)
from search_app.ranking import (
    CLOSE_BONUS,
    CLOSE_CANDIDATES,
    PAIR_BONUS,
    PHRASE_BONUS,
    council_gains,
    date_keys,
    fold_and_rank,
    inverse_frequency,
    pair_rarity,
    window_coverage,
)
from search_app.results import SearchHit, SearchRequest, SearchResults
from search_app.semantic import DocVectors, fuse, top
from search_app.snippets import STEM_CHARS, find_passage, make_snippet, query_words, word_pattern
from search_app.spelling import Speller, offered_only, rescues, suggest

# A council's one-word name held by this share of the other councils' items or more is an ordinary word
# ("reading": typed in lower case, or first, it is read as the word, not as the council). In corpus/ no council's
# name is held by more than 0.8 % of the other councils' items (Bradford's), and "read" by 3.3 % of all items.
ORDINARY_NAME_SHARE = 0.02
# What meaning-based matching needs: the item vectors by document number and the query encoder.
MeaningSource = Callable[[], "tuple[DocVectors, Callable[[str], np.ndarray]] | None"] | None


@dataclass
class WordMatches:
    """What a request's words and filters match: the items and their scores (filters not yet applied),
    the items holding every word typed, those a count should count (every word, or a glossary equivalent
    of the query), the plan and the items the filters allow."""

    found: Matches
    every_word: np.ndarray
    equivalent: np.ndarray
    """Items matching a glossary variant of the query."""
    counted: np.ndarray
    plan: QueryPlan
    allowed: np.ndarray


def find_matches(index: TermIndex, request: SearchRequest) -> WordMatches:
    """Returns every item a request's words match, with scores, and what its filters allow.

    Plain words match every item holding any of them: "placement stability statistical neighbours" must
    find the minute that says a stable placement rate "was lower compared to statistical neighbours".
    BM25F's sum already ranks an item holding more of the words higher, rare words counting most; a strict
    tier of items holding every word, or Lucene's coordination factor, ranked worse on both judged sets.
    """
    plan = request_plan(request)
    allowed = filter_mask(request, index.columns)
    if plan.plain:
        # The plan is an Or of the words: its scores and how many words each item holds, in one pass.
        stems = tuple(dict.fromkeys(plan.words))
        scores, held = word_sums(index, stems)
        mask = (held > 0) & index.columns.live
        found = Matches(mask, np.where(mask, scores, 0.0))
        every_word = (held == len(stems)) & index.columns.live
    else:
        found = evaluate(plan.root, index)
        every_word = found.mask.copy()
    if len(plan.words) > 1:
        together = evaluate(Phrase(plan.words), index).mask & found.mask
        found.scores[together] *= 1 + PHRASE_BONUS
    found, equivalent = add_variants(found, plan, index)
    counted = every_word | equivalent if plan.plain else found.mask
    return WordMatches(found, every_word, equivalent, counted, plan, allowed)


def add_variants(found: Matches, plan: QueryPlan, index: TermIndex) -> tuple[Matches, np.ndarray]:
    """Returns the matches with the items matching a glossary variant of the query, and which those are.

    Such an item scores the better of the words typed and the variant, where the equivalent's words count
    for as many words as the form they stand for (query.glossary_variants).
    """
    equivalent = np.zeros(index.size, dtype=bool)
    for variant in plan.variants:
        matched = evaluate(variant.root, index).mask
        scores = summed_word_scores(index, variant.other_words)
        scores += summed_word_scores(index, variant.equivalent_words, variant.weight)
        better = np.where(matched, scores, 0.0)
        found = Matches(found.mask | matched, np.maximum(found.scores, better))
        equivalent |= matched
    return found, equivalent


def summed_word_scores(index: TermIndex, stems: tuple[str, ...], weight: float = 1.0) -> np.ndarray:
    """Returns every item's BM25F scores for the stems added up, times weight."""
    return word_sums(index, stems, weight)[0]


def word_sums(index: TermIndex, stems: tuple[str, ...], weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Returns every item's BM25F scores for the stems added up (times weight), and how many it holds."""
    scores = np.zeros(index.size)
    held = np.zeros(index.size, dtype=np.int64)
    for stem in stems:
        postings = index.word_scores(stem)
        scores[postings.docnums] += postings.scores * weight
        held[postings.docnums] += 1
    return scores, held


def add_meaning(words: WordMatches, request: SearchRequest, columns: ItemColumns, meaning: MeaningSource) -> Matches:
    """Returns the word matches fused with the items nearest the query in meaning, where that is wanted.

    Only plain words ask for it (quotes, operators and fields ask for exact words). Fused over every item,
    then filtered: a filter narrows the same ranking it counted in the facets.
    """
    held = meaning() if meaning and request.semantic and words.plan.plain else None
    if held is None:
        return words.found
    vectors, encode = held
    return fuse(words.found, vectors, encode(meaning_text(words.plan.typed, words.plan.expansions)), columns.live)


def add_specific_matches(found: Matches, plan: QueryPlan, index: TermIndex) -> Matches:
    """Returns the matches with items holding a rare pair of the words side by side, as typed, raised by up to
    PAIR_BONUS of the best score: "Ofsted focused visit" puts the paper that says "focused visit" above
    inspection reports that only share the topic, whatever meaning made of them.

    Plain words only (quotes and operators already say what must stand together); each item gains for its
    rarest pair, so a long query is not raised for holding many."""
    if not plan.pairs or not found.mask.any():
        return found
    live = int(np.count_nonzero(index.columns.live))
    gains = np.zeros(index.size)
    for pair in plan.pairs:
        holders = pair_holders(pair, index)
        rarity = pair_rarity(holders.size, live)
        if rarity > 0:
            gains[holders] = np.maximum(gains[holders], rarity)
    if not gains.any():
        return found
    best = float(found.scores[found.mask].max())
    return Matches(found.mask, found.scores + PAIR_BONUS * best * gains * found.mask)


def lift_councils(found: Matches, councils: tuple[str, ...], columns: ItemColumns) -> Matches:
    """Returns the matches with the items of the councils the query names raised by up to half the best score, by
    how well they match the other words (ranking.council_gains): "Barnsley corporate parenting" puts Barnsley's
    corporate parenting papers first, though they seldom write "Barnsley". The last step of the ranking."""
    if not councils or not found.mask.any():
        return found
    named = columns.facets["council"].mask(list(councils)) & found.mask
    best = float(found.scores[found.mask].max())
    return Matches(found.mask, found.scores + council_gains(found.scores, best) * named)


def add_close_matches(found: Matches, plan: QueryPlan, index: TermIndex) -> Matches:
    """Returns the matches with the CLOSE_CANDIDATES best raised by up to CLOSE_BONUS of the best score, by the
    share of the query's idf their text holds in one passage (ranking.window_coverage): "EHCP assessments within
    20 weeks" lifts Kent's performance report, whose one line says "(EHCPs) issued within 20 weeks", above a
    short minute holding "within 20" and "assessment" about something else.

    Plain words of two or more distinct words only (QueryPlan.close_words)."""
    stems = plan.close_words
    if not stems or not found.mask.any():
        return found
    candidates = np.sort(top(found.scores, found.mask, CLOSE_CANDIDATES))
    coverage = close_coverage(index, stems, candidates)
    if not coverage.any():
        return found
    scores = found.scores.copy()
    scores[candidates] += CLOSE_BONUS * float(found.scores[candidates].max()) * coverage
    return Matches(found.mask, scores)


def close_coverage(index: TermIndex, stems: tuple[str, ...], docnums: np.ndarray) -> np.ndarray:
    """Returns, for each of the (sorted) docnums, the largest share of the stems' idf that one window of its
    body holds (ranking.window_coverage); positions already read for the phrase rule are reused."""
    live = max(int(np.count_nonzero(index.columns.live)), 1)
    held = [index.word_scores(stem).docnums.size for stem in stems]
    weights = np.array([inverse_frequency(n, live) if n else 0.0 for n in held])
    empty = np.zeros(0, dtype=np.int64)
    occurrences = [index.occurrences("body", stem) if n else empty for stem, n in zip(stems, held, strict=True)]
    return window_coverage(occurrences, weights, docnums)


def missing_words(plan: QueryPlan, holders: Callable[[list[str]], dict[str, int]]) -> tuple[list[str], bool]:
    """Returns the words typed that no item holds, nor any glossary equivalent of them, as typed ("LCWIP" when
    no paper names the plan), and whether any other word typed is held: the page then says its results hold
    the other words or are near in meaning, not the thing named. `holders` says how many items hold each stem;
    the glossary's forms are asked about only for words no item holds. Plain words only: quotes and operators
    match strictly, so a word no item holds finds nothing there and the count says so."""
    if not plan.plain:
        return [], True
    typed = [(word.strip(EDGE_PUNCTUATION), stems) for word in plan.text.split() if (stems := stems_of(word))]
    held = holders(sorted({stem for _, stems in typed for stem in stems})) if typed else {}
    unheld = {stem for _, stems in typed for stem in stems if not held.get(stem)}
    if not unheld:
        return [], True
    forms = [(set(stems_of(e.term)), [stems_of(added) for added in e.added]) for e in plan.expansions]
    forms = [(term, found) for term, found in forms if term & unheld]
    asked = sorted({s for _, found in forms for f in found for s in f} - set(held))
    held = {**held, **holders(asked)} if asked else held

    def covered(stem: str) -> bool:
        if held.get(stem):
            return True
        return any(stem in term and any(f and all(held.get(s) for s in f) for f in found) for term, found in forms)

    missing = list(dict.fromkeys(word for word, stems in typed if not all(covered(stem) for stem in stems)))
    return missing, any(covered(stem) for _, stems in typed for stem in stems)


def councils_typed(
    request: SearchRequest, councils: Iterable[str], ordinary: Callable[[str], bool] = lambda slug: False
) -> SearchRequest:
    """Returns the request with the councils whose place name its words type ("Barnsley", "Neath Port Talbot":
    the words of the council's slug) in `councils_typed`, for the ranking to lift their items. The longest
    name is taken first: "North Lincolnshire" names North Lincolnshire, not Lincolnshire as well. Plain words
    only: "staying put NOT Croydon" names no council to lift. A name of one word that is an ordinary word
    (`ordinary`: "Reading", "Bury") names the council only where typed with a capital after the first word:
    "early help in Reading", not "early reading strategy" (council_names_in)."""
    if not is_bare_words(question_words_removed(question_marks_dropped(request.q))):
        return replace(request, councils_typed=())
    found, taken = council_names_in(request.q, councils, ordinary)
    return replace(request, councils_typed=tuple(found), council_spans=tuple(taken))


def council_names_in(
    text: str, councils: Iterable[str], ordinary: Callable[[str], bool] = lambda slug: False
) -> tuple[list[str], list[tuple[int, int]]]:
    """Returns the councils whose place name the text types, longest name first, and where each name's words
    stand in the text (character spans). A one-word name that `ordinary` says is an ordinary word counts only
    where typed with a capital after the text's first word, among words in lower case ("early help in Reading",
    not "Early Reading Strategy" or "EARLY READING")."""
    spans = [match.span() for match in re.finditer(r"[^\s-]+", text)]
    raw = [text[a:b].strip(EDGE_PUNCTUATION) for a, b in spans]
    typed = [possessive_dropped(word.lower()).replace("&", "and") for word in raw]
    lower_case = any(word[:1].islower() for word in content_words(text, keep_case=True))
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    for slug in sorted(councils, key=lambda slug: (-len(slug), slug)):
        name = slug.split("-")
        for first in range(len(typed) - len(name) + 1):
            if slug != "unattributed" and typed[first : first + len(name)] == name:
                capital = first > 0 and lower_case and raw[first][:1].isupper() and not raw[first].isupper()
                if len(name) == 1 and not capital and ordinary(slug):
                    continue
                found += [] if slug in found else [slug]
                taken += spans[first : first + len(name)]
                typed[first : first + len(name)] = ["|"] * len(name)
    return found, taken


def name_is_ordinary(index: TermIndex, slug: str) -> bool:
    """Returns whether a council's one-word name is an ordinary word of the other councils' papers."""
    return share_elsewhere(index, slug) >= ORDINARY_NAME_SHARE


def share_elsewhere(index: TermIndex, slug: str) -> float:
    """Returns the share of the other councils' live items that hold a council's one-word name (ORDINARY_NAME_SHARE
    or more: an ordinary word, as "reading" or "bury" would be)."""
    stems = stems_of(slug)
    if not stems:
        return 0.0
    others = index.columns.live & ~index.columns.facets["council"].mask([slug])
    holders = index.word_scores(stems[0]).docnums
    return int(np.count_nonzero(others[holders])) / max(int(np.count_nonzero(others)), 1)


def topic_words(request: SearchRequest) -> str:
    """Returns the words a request is scored by: those typed less the councils' names it types, as those
    councils' items are lifted instead ("Merton corporate parenting strategy" is scored as "corporate parenting
    strategy", so Merton's paper that names Merton and nothing of the rest is not its best match). A query of
    nothing but a council's name keeps it."""
    if not request.councils_typed:
        return request.q
    taken = request.council_spans or council_names_in(request.q, request.councils_typed)[1]
    text = request.q
    for start, end in sorted(taken, reverse=True):
        text = f"{text[:start]} {text[end:]}"
    text = " ".join(re.sub(r"(?<![\w])-+|-+(?![\w])", " ", text).split())
    return text if content_words(text) else request.q


def request_plan(request: SearchRequest) -> QueryPlan:
    """Returns the plan a request's words are scored by, on either backend: the words typed less the councils'
    names it types (topic_words)."""
    return plan_query(topic_words(request), request.expand)


def content_words(text: str, keep_case: bool = False) -> list[str]:
    """Returns the words of a text that are scored (in lower case, or as typed with keep_case): not stop words,
    question words or too short ("What about", "in the" have none)."""
    return [word if keep_case else word.lower() for word in WORDS.findall(text) if scored_word(word.lower())]


def possessive_dropped(word: str) -> str:
    """Returns a word without a possessive ending: "Kent's" and "Kent’s" name Kent."""
    return re.sub(r"['’]s$", "", word)


def councils_named(results: SearchResults) -> SearchResults:
    """Returns the results with the councils the query types (`councils_typed`) named, unless already filtered
    to, and those words no longer called missing: the items are that council's though their text may never
    name it."""
    found = results.request.councils_typed
    chosen = set(results.request.filters.get("council", []))
    named = [slug for slug in found if slug not in chosen]
    words = {word for slug in found for word in slug.split("-")}
    missing = [word for word in results.missing_words if word.lower().replace("&", "and") not in words]
    return replace(results, councils_named=named, missing_words=missing)


def live_holders(index: TermIndex, stem: str) -> int:
    """Returns how many live items hold a stem (an update's replaced items are left in Whoosh's postings)."""
    return int(np.count_nonzero(index.columns.live[index.word_scores(stem).docnums]))


def pair_holders(pair: tuple[str, str], index: TermIndex) -> np.ndarray:
    """Returns the live items holding two words side by side in a field, found once per generation."""
    return index.arrays.kept(("pair", *pair), lambda: np.flatnonzero(evaluate(Phrase(pair), index).mask))  # type: ignore[no-any-return]


def run_search(
    index: TermIndex,
    request: SearchRequest,
    speller: Callable[[], Speller] | None = None,
    meaning: MeaningSource = None,
    among: np.ndarray | None = None,
    ordinary: Callable[[str], bool] | None = None,
) -> SearchResults:
    """Returns a page of results with facet counts for a request, copies of one item folded into one;
    `among` (a mask by document number) keeps only those items, as an alert keeps the new ones.

    Every matching item is scored (or dated) at once as arrays, and the matches folded once: the total and
    the facet counts come from the fold, the page from sorting only its candidates (ranking.fold_and_rank).
    """
    columns = index.columns
    words = find_matches(index, request)
    fused = add_meaning(words, request, columns, meaning)
    found = add_specific_matches(fused, words.plan, index)
    found.mask &= words.allowed
    if among is not None:
        found.mask &= among
    if request.sort in ("date", "oldest"):
        docnums = np.flatnonzero(found.mask)
        keys = date_keys(columns.days[docnums], newest_first=request.sort == "date")
    else:
        found = add_close_matches(found, words.plan, index)
        found = lift_councils(found, request.councils_typed, columns)
        docnums = np.flatnonzero(found.mask)
        keys = -found.scores[docnums]
    start = (request.page - 1) * request.per_page
    shown, ranked = fold_and_rank(docnums, keys, columns.order, columns.folding(), start + request.per_page)
    expansions = list(words.plan.expansions)
    pattern = word_pattern(query_words([request.q, *(v for e in expansions for v in e.added)]))
    weights = word_weights(index, request.q)
    hits = [make_hit(index, float(found.scores[docnum]), int(docnum), pattern, weights) for docnum in ranked[start:]]
    # Spelling is judged by the items holding every word typed, or a glossary equivalent: "fostring
    # recruitment" finds plenty holding "recruitment", none holding both. A glossary form ("LAC") is a word
    # people use, not a misspelling, even where no paper writes it.
    typed_total = int(np.count_nonzero(words.counted & words.allowed))
    wanted = speller is not None and request.q.strip() and typed_total < 3
    known = {word.lower() for expansion in expansions for word in expansion.term.split()}
    suggestion = suggest(index, request.q, speller(), known) if wanted and speller else None
    if suggestion and request.respell and not offered_only(request.q, suggestion):
        # The councils the corrected words name ("Croydn staying put" shown as "croydon staying put") are lifted.
        corrected = councils_typed(
            replace(request, q=suggestion, respell=False),
            columns.facets["council"].values,
            ordinary or (lambda slug: name_is_ordinary(index, slug)),
        )
        rescued = run_search(index, corrected, meaning=meaning)
        if rescues(typed_total, rescued.total):
            asked = replace(request, councils_typed=corrected.councils_typed)
            return replace(rescued, request=asked, suggestion=suggestion, showing_for=suggestion)
    missing = missing_words(words.plan, lambda stems: {s: live_holders(index, s) for s in stems})
    return SearchResults(
        request=request,
        total=int(shown.size),
        hits=hits,
        facets=count_facets(shown, columns),
        suggestion=suggestion,
        expansions=expansions,
        meaning_used=fused is not words.found,
        missing_words=missing[0],
        words_held=missing[1],
    )


def make_hit(
    index: TermIndex, score: float, docnum: int, pattern: re.Pattern[str] | None, weights: dict[str, float]
) -> SearchHit:
    """Returns a SearchHit with a snippet from the passage holding the query's (rarest) words, that
    passage's page, and the item's other sources."""
    fields = read_item(index.reader.stored(docnum))
    others = [read_other_source(index.reader.stored(other)) for other in copies_of(docnum, index.columns)]
    return hit_of(fields, score, pattern, weights, others)


def hit_of(
    fields: dict[str, Any],
    score: float,
    pattern: re.Pattern[str] | None,
    weights: dict[str, float],
    others: list[dict[str, Any]],
) -> SearchHit:
    """Returns an item's fields (read_item's) as a SearchHit: the snippet is the passage holding the query's
    rarest words, with that passage's page. Both backends build their hits here."""
    text = fields["body"] or "\n".join(fields["decisions"])
    start = find_passage(text, pattern, weights)
    passage_page = page_at(fields["page"], fields["body"], start)
    fields.pop("body")
    fields.pop("provenance")
    snippet = make_snippet(text, pattern, start)
    return SearchHit(snippet=snippet, score=round(score, 3), other_sources=others, passage_page=passage_page, **fields)


def page_at(first_page: int, body: str, offset: int | None) -> int:
    """Returns the page of the source at a character offset of an item's text."""
    return first_page + (body.count(PAGE_BREAK, 0, offset) if offset else 0)


def passage_page(index: TermIndex, item: dict[str, Any], query: str) -> int:
    """Returns the page where the passage of an item holding the query's (rarest) words stands."""
    pattern = word_pattern(query_words([query]))
    return page_at(item["page"], item["body"], find_passage(item["body"], pattern, word_weights(index, query)))


def word_weights(index: TermIndex, text: str) -> dict[str, float]:
    """Returns the idf of each word of a query, keyed as snippets match words (the first letters of the word
    as typed and of its stem), so the passage shown is the one holding the rarest."""
    weights: dict[str, float] = {}
    size = max(index.size, 1)
    for word in re.findall(r"\w{2,}", re.sub(r"\b\w+:", " ", text).lower()):
        for stem in stems_of(word)[:1]:
            held = index.word_scores(stem).docnums.size
            weight = float(np.log(1 + size / (held + 1)))
            for key in (word[:STEM_CHARS], stem[:STEM_CHARS]):
                weights[key] = max(weights.get(key, 0.0), weight)
    return weights
