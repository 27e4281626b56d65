"""A query plan as a Xapian query (issue 21): the same parser and plans serve both backends, and on Xapian
the shards match and rank (BM25F as the Whoosh pipeline's, written into the frequencies: indexer/xapian_backend.py).

How each part of a plan maps (search_app/query.py):
- a word: its unprefixed term, whose within-document frequency carries the field weights;
- a word or phrase in one text field (item_title:budget): matched by the field's prefixed terms, weighted
  by the unprefixed ones (the prefixed terms carry no weight);
- a facet value (council:kent): its boolean term, weightless, as the Whoosh pipeline scores filters;
- a phrase: OP_PHRASE over positions (fields are FIELD_GAP apart, so no phrase spans two), the words in
  order within (words - 1) x slop + 1 positions (a bound on the whole span, where Whoosh bounds each gap);
  words side by side by their pairs' terms where every document holds them (format 5), and a glossary
  phrase of three or more words by its own term (format 7);
- a trailing wildcard (foster*): OP_WILDCARD over the stems, as one synonym;
- a range: a value range on the field's slot, dates as YYYYMMDD;
- AND / OR / NOT: OP_AND / OP_OR / OP_AND_NOT; a boost scales the part's weight;
- glossary variants: each its own query, the better score kept (OP_MAX);
- the words typed standing together: PHRASE_BONUS more, as in the Whoosh pipeline;
- a fuzzy word (fostr~): the stems of the build's vocabulary within its distance, found at the web server
  (a shard does not send its term dictionary), the best one an item holds scoring it (OP_MAX).
What this backend cannot run is refused with a QueryError saying so: wildcards other than a trailing *.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date

import xapian

from indexer.schema import FIELD_KINDS
from indexer.xapian_backend import (
    FIELD_GAP,
    FIELD_PREFIXES,
    FILTER_PREFIXES,
    SLOTS,
    Held,
    is_glossary_phrase,
    pair_term,
    phrase_term,
)
from search_app.evaluate import day_of
from search_app.query import And, Every, Node, Not, Pattern, Phrase, QueryPlan, Range, Term, Variant
from search_app.ranking import PHRASE_BONUS
from search_app.results import QueryError

# What a fuzzy word stands for: the stems of the build's vocabulary within its distance (the web server's).
Expand = Callable[[Pattern], list[str]]
# A facet field as the query names it -> its filter prefix (the query says "topics", the index "topic").
FACET_PREFIXES = {("topics" if facet == "topic" else facet): prefix for facet, prefix in FILTER_PREFIXES.items()}


def xapian_plan(plan: QueryPlan, expand: Expand | None = None, held: Held = Held.POSITIONS) -> xapian.Query:
    """Returns the Xapian query a plan runs, scored as the Whoosh pipeline scores it (search_app/pipeline.py):
    its tree, PHRASE_BONUS more where the words typed stand together, and each glossary variant's items
    at the better of the two scores (OP_MAX). `expand` gives the stems a fuzzy word stands for; `held`
    says which terms every document holds (XapianSearch.held), which phrases then use."""
    query = node_query(plan.root, expand, held)
    if len(plan.words) > 1:
        # The phrase's weight is its words' weights, so adding PHRASE_BONUS of it raises the item by that
        # share of what those words scored; AND_MAYBE adds it without matching anything more.
        together = scaled(phrase_query(Phrase(plan.words), held), PHRASE_BONUS)
        query = xapian.Query(xapian.Query.OP_AND_MAYBE, query, together)
    if not plan.variants:
        return query
    variants = [variant_query(variant, expand, held) for variant in plan.variants]
    return xapian.Query(xapian.Query.OP_MAX, [query, *variants])


def variant_query(variant: Variant, expand: Expand | None = None, held: Held = Held.POSITIONS) -> xapian.Query:
    """Returns the items a glossary variant matches, scored by the other words typed and the equivalent's
    words at the variant's weight."""
    scoring = [xapian.Query(word) for word in variant.other_words]
    if variant.equivalent_words:
        equivalent = xapian.Query(xapian.Query.OP_OR, list(variant.equivalent_words))
        scoring.append(scaled(equivalent, variant.weight))
    matched = node_query(variant.root, expand, held)
    return xapian.Query(xapian.Query.OP_FILTER, xapian.Query(xapian.Query.OP_OR, scoring), matched)


def node_query(node: Node, expand: Expand | None = None, held: Held = Held.POSITIONS) -> xapian.Query:
    """Returns one node of a plan's tree as a Xapian query."""
    if isinstance(node, Term):
        return scaled(term_query(node), node.boost)
    if isinstance(node, Phrase):
        return scaled(phrase_query(node, held), node.boost)
    if isinstance(node, Pattern):
        return scaled(pattern_query(node, expand), node.boost)
    if isinstance(node, Range):
        return range_query(node)
    if isinstance(node, Not):
        return xapian.Query(xapian.Query.OP_AND_NOT, xapian.Query.MatchAll, node_query(node.part, expand, held))
    if isinstance(node, Every):
        return xapian.Query.MatchAll
    if isinstance(node, And):
        return scaled(and_query(node, expand, held), node.boost)
    parts = [node_query(part, expand, held) for part in node.parts]
    return scaled(xapian.Query(xapian.Query.OP_OR, parts), node.boost)


def and_query(node: And, expand: Expand | None = None, held: Held = Held.POSITIONS) -> xapian.Query:
    """Returns the parts that must match ANDed, less those under NOT (weightless, as in the pipeline)."""
    wanted = [node_query(part, expand, held) for part in node.parts if not isinstance(part, Not)]
    unwanted = [node_query(part.part, expand, held) for part in node.parts if isinstance(part, Not)]
    query = xapian.Query(xapian.Query.OP_AND, wanted) if wanted else xapian.Query.MatchAll
    if unwanted:
        query = xapian.Query(xapian.Query.OP_AND_NOT, query, xapian.Query(xapian.Query.OP_OR, unwanted))
    return query


def term_query(node: Term) -> xapian.Query:
    """Returns a word anywhere, a word in one text field, or a facet value."""
    if node.field is None:
        return xapian.Query(node.text)
    if node.field in FIELD_PREFIXES:
        in_field = xapian.Query(FIELD_PREFIXES[node.field] + node.text)
        return xapian.Query(xapian.Query.OP_FILTER, xapian.Query(node.text), in_field)
    if node.field in FACET_PREFIXES:
        return xapian.Query(xapian.Query.OP_SCALE_WEIGHT, xapian.Query(FACET_PREFIXES[node.field] + node.text), 0.0)
    raise QueryError(f"{node.field}: cannot be searched by value on the Xapian backend")


def phrase_query(node: Phrase, held: Held = Held.POSITIONS) -> xapian.Query:
    """Returns the words in order, each within `slop` positions of the one before, in one field. Words side by
    side are found by the terms every document holds (`held`): a glossary phrase by its own, others by their
    pairs'."""
    # Xapian bounds the words' whole span, not each gap as the Whoosh pipeline does: "p q r"~2 also
    # matches with gaps of 1 and 3. The span stays inside one field.
    window = min((len(node.words) - 1) * node.slop + 1, FIELD_GAP - 1)
    if node.field is None:
        phrase = xapian.Query(xapian.Query.OP_PHRASE, list(node.words), window)
        weights = xapian.Query(xapian.Query.OP_AND, list(node.words))
        if held & Held.GLOSSARY and node.slop == 1 and is_glossary_phrase(node.words):
            # A glossary phrase (an acronym's long form, format 7) is exactly the items holding its term.
            return xapian.Query(xapian.Query.OP_FILTER, weights, xapian.Query(phrase_term(node.words)))
        terms = [pair_term(a, b) for a, b in itertools.pairwise(node.words)]
        if not held & Held.PAIRS or node.slop != 1 or not terms or None in terms:
            return phrase
        # Reading positions is most of a phrase's cost at 1M items (a two-word query's page 29 ms against
        # 14 without its phrase bonus, on four shards). Two words side by side are exactly the items holding
        # their pair's term, weighted as the phrase is (its words' weights); for more, the pairs' terms
        # narrow the items whose positions are read to those holding every pair.
        pairs = xapian.Query(xapian.Query.OP_AND, [xapian.Query(term) for term in terms])
        if len(node.words) == 2:
            return xapian.Query(xapian.Query.OP_FILTER, weights, pairs)
        return xapian.Query(xapian.Query.OP_FILTER, phrase, pairs)
    if node.field not in FIELD_PREFIXES:
        raise QueryError(f"{node.field}: phrases are searched in text fields only")
    prefixed = [FIELD_PREFIXES[node.field] + word for word in node.words]
    weights = xapian.Query(xapian.Query.OP_AND, list(node.words))
    return xapian.Query(xapian.Query.OP_FILTER, weights, xapian.Query(xapian.Query.OP_PHRASE, prefixed, window))


def pattern_query(node: Pattern, expand: Expand | None = None) -> xapian.Query:
    """Returns a trailing wildcard over the stems, or a fuzzy word as the stems `expand` gives for it, scored
    by the best it holds (as the pipeline scores them); refuses what this backend cannot expand."""
    if node.kind == "fuzzy":
        if expand is None:
            raise QueryError(f"{node.text}~: fuzzy words need the build's vocabulary (serve with --index)")
        stems = expand(node)
        if not stems:
            return xapian.Query()
        best = xapian.Query(xapian.Query.OP_MAX, [xapian.Query(stem) for stem in stems])
        if node.field is None:
            return best
        if node.field not in FIELD_PREFIXES:
            raise QueryError(f"{node.field}:{node.text}~: fuzzy words are searched in text fields only")
        in_field = xapian.Query(xapian.Query.OP_OR, [xapian.Query(FIELD_PREFIXES[node.field] + s) for s in stems])
        return xapian.Query(xapian.Query.OP_FILTER, best, in_field)
    stem = node.text[:-1].lower()
    if node.kind != "wildcard" or not node.text.endswith("*") or any(c in stem for c in "*?"):
        raise QueryError(f"{node.text}: only a trailing * is supported on the Xapian backend")
    if node.field is not None:
        raise QueryError(f"{node.field}:{node.text}: wildcards in one field are not supported on the Xapian backend")
    return xapian.Query(xapian.Query.OP_WILDCARD, stem, 0, xapian.Query.WILDCARD_LIMIT_ERROR, xapian.Query.OP_SYNONYM)


def range_query(node: Range) -> xapian.Query:
    """Returns a weightless range on a field's value slot: meeting dates by day, others by value order."""
    if FIELD_KINDS.get(node.field) == "datetime":
        low = as_day(node.low, end=False, inclusive=node.include_low) if node.low else "00000000"
        high = as_day(node.high, end=True, inclusive=node.include_high) if node.high else "99999999"
        return xapian.Query(xapian.Query.OP_VALUE_RANGE, SLOTS["date"], low, high)
    if node.field not in SLOTS:
        raise QueryError(f"{node.field}: ranges are not supported on this field")
    if not (node.include_low and node.include_high):
        raise QueryError(f"{node.field}: only inclusive ranges [a TO b] are supported on the Xapian backend")
    return xapian.Query(xapian.Query.OP_VALUE_RANGE, SLOTS[node.field], node.low, node.high or "\uffff")


def as_day(text: str, end: bool, inclusive: bool) -> str:
    """Returns the bound of a date range as YYYYMMDD: the first or last day of "2021", "2021-03", "2021-03-03",
    moved one day inward for an exclusive bound."""
    day = day_of(text, end=end if inclusive else not end)
    if not inclusive:
        day += -1 if end else 1
    return date.fromordinal(day).strftime("%Y%m%d")


def scaled(query: xapian.Query, factor: float) -> xapian.Query:
    """Returns the query with its weights multiplied by factor (unchanged for 1)."""
    return query if factor == 1.0 else xapian.Query(xapian.Query.OP_SCALE_WEIGHT, query, factor)
