"""The user's text -> the project's own query plan: a frozen tree of analysed terms, parsed once here.

The syntax is the one the README documents (Whoosh's): words ANDed, "phrases" (with ~N for slop),
AND/OR/NOT and ( ), field:value, field:[low TO high], wildcards (* and ?), fuzzy words (word~ or word~2)
and boosts (^2). Nothing a person types makes the parser fail: an unclosed quote or bracket ends with the
text, a stray operator is a no-op. Only limits that protect the server raise QueryError.

luqum (a maintained Lucene query parser) was looked at: it raises on the unclosed quotes and brackets that
people type, and its tree is shaped for Elasticsearch, so it would be translated into this one anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from indexer.analysis import MIN_WORD, STOP_WORDS, WORDS, stem, stems_of
from indexer.schema import FIELD_KINDS, SEARCH_FIELDS
from search_app.expansion import Expansion, find_expansions, variant_queries
from search_app.results import QueryError

MAX_EXPANDING_TERMS = 3
MIN_WILDCARD_PREFIX = 2
MAX_FUZZY_DISTANCE = 2
# Words that make a question of a search ("what did we decide about ...", "how many ..."): dropped
# from plain-word queries, as a person asking does not mean the item must hold them.
QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how did does do has have had is are was were been any many "
    "much our we us i me my you there about tell show find give list please".split()
)
# Anything but bare words: quotes, brackets, field:value, wildcards, fuzzy words, boosts, operators.
SYNTAX = re.compile(r'["():*?~^]|\b(?:AND|OR|NOT)\b')
FIELD_ALIASES = {"topic": "topics"}
# Facet values are lower-case slugs; people type "council:Kent".
SLUG_FIELDS = {"council", "committee", "doc_type", "year", "topics"}
TOKEN = re.compile(
    r'(?P<space>\s+)|(?P<phrase>"[^"]*"?)(?:~(?P<slop>\d+))?(?:\^(?P<pboost>\d+(?:\.\d+)?))?'
    r"|(?P<open>\()|(?P<close>\)(?:\^(?P<gboost>\d+(?:\.\d+)?))?)"
    r"|(?P<field>[A-Za-z_]\w*):(?=\S)"
    r"|(?P<range>[\[{][^\]}]*[\]}]?)"
    r'|(?P<word>[^\s"()]+)'
)
OPERATORS = {"AND", "OR", "NOT", "ANDNOT"}


@dataclass(frozen=True)
class Term:
    """Items holding a term: a stem in the searched text fields (field None) or one field's exact value."""

    text: str
    field: str | None = None
    boost: float = 1.0


@dataclass(frozen=True)
class Phrase:
    """Items where the stems stand in order, each within slop positions of the one before."""

    words: tuple[str, ...]
    field: str | None = None
    slop: int = 1
    boost: float = 1.0


@dataclass(frozen=True)
class Pattern:
    """A wildcard (kind "wildcard": * and ?) or fuzzy word (kind "fuzzy", within distance edits), expanded
    into the terms of the index's dictionary that it matches."""

    text: str
    kind: str
    field: str | None = None
    distance: int = 0
    boost: float = 1.0


@dataclass(frozen=True)
class Range:
    """Items whose value in a field lies between low and high ("" for open), a weightless filter."""

    field: str
    low: str
    high: str
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]
    boost: float = 1.0


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]
    boost: float = 1.0


@dataclass(frozen=True)
class Not:
    """Every item but those matching part; weightless."""

    part: Node


@dataclass(frozen=True)
class Every:
    """Every item (the empty query)."""


Node = Term | Phrase | Pattern | Range | And | Or | Not | Every


@dataclass(frozen=True)
class Variant:
    """The query with a glossary equivalent in place of the form typed: what it matches, and what to score
    it by (the other words typed, and the equivalent's words counting for as many as the form had)."""

    root: Node
    other_words: tuple[str, ...]
    equivalent_words: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class QueryPlan:
    """What a search runs: the tree to match, the words typed, and the glossary variants."""

    text: str
    """The text searched: as typed, question words dropped from plain words."""
    root: Node
    plain: bool
    """Bare words: an item holding any of them matches, ranked by BM25F (docs/relevance.md)."""
    words: tuple[str, ...]
    """The stems typed outside NOT, in order: their standing together earns the phrase bonus."""
    expansions: tuple[Expansion, ...] = ()
    variants: tuple[Variant, ...] = field(default=())
    pairs: tuple[tuple[str, str], ...] = ()
    """Plain words only: the pairs of stems typed side by side, for the specific-match rule (ranking.py)."""
    typed: str = ""
    """The text as typed, question marks that end a question dropped: what meaning encodes."""

    @property
    def close_words(self) -> tuple[str, ...]:
        """The distinct stems the close-words rule looks for together (ranking.py): plain words, two or more;
        else none."""
        stems = tuple(dict.fromkeys(self.words))
        return stems if self.plain and len(stems) > 1 else ()


# A question mark that ends a word ("what did we decide about Staying Put?") closes a question: it is dropped,
# where inside a word ("leav?rs") it stands for one letter. Typed as a wildcard, "put?" found "puts" alone.
QUESTION_MARK = re.compile(r"(?<![*?~^])\?+(?![\w*?])")
# What a typed word may carry that is not part of it: "LGBTQ+?" is missing as "LGBTQ+", "(LCWIP)" as "LCWIP".
EDGE_PUNCTUATION = "?!.,;:\"'()[]\u201c\u201d\u2018\u2019\uff1f\u00bf\u00a1\u00ab\u00bb"


def question_marks_dropped(text: str) -> str:
    """Returns text without the question marks that end its words or stand alone."""
    return QUESTION_MARK.sub("", text)


def is_bare_words(text: str) -> bool:
    """Returns whether text is one or more words with no quotes, operators or field:value: the one check."""
    return bool(text.strip()) and not SYNTAX.search(text)


def question_words_removed(text: str) -> str:
    """Returns plain words without the words of a question ("what did we decide about ..."), else text."""
    if not (len(text.split()) > 1 and is_bare_words(text)):
        return text
    kept = [word for word in text.split() if word.lower().strip("?,.!") not in QUESTION_WORDS]
    return " ".join(kept) if kept else text


def plan_query(typed: str, expand: bool = True) -> QueryPlan:
    """Returns the plan of a query: its tree, words and, when expand, the glossary's variants."""
    typed = question_marks_dropped(typed)
    text = question_words_removed(typed)
    expansions = tuple(find_expansions(text)) if expand else ()
    if not text.strip():
        return QueryPlan(text, Every(), False, (), typed=typed)
    if is_bare_words(text):
        stems = tuple(dict.fromkeys(stems_of(text)))
        root: Node = Or(tuple(Term(stem) for stem in stems))
        plan = QueryPlan(text, root, True, tuple(stems_of(text)), expansions, pairs=typed_pairs(typed))
    else:
        root = parse(text)
        check_limits(root)
        plan = QueryPlan(text, root, False, tuple(positive_words(root)), expansions)
    return replace(plan, variants=tuple(glossary_variants(plan)), typed=typed)


def glossary_phrases(plan: QueryPlan) -> tuple[Phrase, ...]:
    """Returns the glossary's terms of two or more words typed in plain words ("staying put"), each as the
    phrase quotes would make of it, whether or not equivalents are searched: a count of the items on a thing
    (the council comparison) asks for the term, not its words apart anywhere in a 20,000-word budget report."""
    if not plan.plain:
        return ()
    phrases = (tuple(stems_of(expansion.term)) for expansion in find_expansions(plan.text))
    return tuple(Phrase(words) for words in phrases if len(words) > 1)


def glossary_variants(plan: QueryPlan) -> list[Variant]:
    """Returns the query once per glossary equivalent of each form typed ("looked after children" for "LAC").

    The equivalent counts for as many words as the form it stands for: "not in education, employment or
    training" for "NEET" is one word's worth (the mean of its five), "LAC" for "children in care" two.
    """
    variants = []
    for expansion in plan.expansions:
        typed = stems_of(expansion.term)
        others = tuple(stem for stem in dict.fromkeys(plan.words) if stem not in typed)
        # "care leaver" adds nothing to "care leavers": the stemmer already matches it.
        for added in (a for a in expansion.added if stems_of(a) != typed):
            phrase = tuple(dict.fromkeys(stems_of(added)))
            if not phrase:
                continue
            for variant in variant_queries(plan.text, replace(expansion, added=(added,))):
                variants.append(Variant(parse(variant), others, phrase, len(typed) / len(phrase)))
    return variants


def scored_word(word: str) -> bool:
    """Returns whether a word (in lower case) is one a query is scored by: not a stop word, a question word or
    too short."""
    return len(word) >= MIN_WORD and word not in STOP_WORDS and word not in QUESTION_WORDS


def typed_pairs(typed: str) -> tuple[tuple[str, str], ...]:
    """Returns the pairs of stems that stand side by side as typed: "Ofsted focused visit" gives (ofst, focus)
    and (focus, visit); "awards for children" gives none, as a dropped word between two words does not make
    them a name."""
    kept = [stem(word) if scored_word(word) else None for word in (raw.lower() for raw in WORDS.findall(typed))]
    return tuple(dict.fromkeys((a, b) for a, b in zip(kept, kept[1:], strict=False) if a and b and a != b))


def positive_words(node: Node) -> list[str]:
    """Returns the stems of the terms and phrases searched in the text fields, outside NOT, in order."""
    if isinstance(node, Term) and node.field is None:
        return [node.text]
    if isinstance(node, Phrase) and node.field is None:
        return list(node.words)
    if isinstance(node, And | Or):
        return [word for part in node.parts for word in positive_words(part)]
    return []


def check_limits(node: Node) -> None:
    """Raises QueryError for wildcards and fuzzy words that would expand too far."""
    patterns = [leaf for leaf in leaves(node) if isinstance(leaf, Pattern)]
    if len({p.text for p in patterns}) > MAX_EXPANDING_TERMS:
        raise QueryError(f"at most {MAX_EXPANDING_TERMS} wildcard or fuzzy words can be used in one search")
    for pattern in patterns:
        if pattern.kind == "wildcard" and len(re.split(r"[*?]", pattern.text)[0]) < MIN_WILDCARD_PREFIX:
            raise QueryError(f"{pattern.text!r}: a wildcard needs at least {MIN_WILDCARD_PREFIX} letters before * or ?")


def leaves(node: Node) -> list[Node]:
    """Returns the leaves of a tree, left to right."""
    if isinstance(node, And | Or):
        return [leaf for part in node.parts for leaf in leaves(part)]
    if isinstance(node, Not):
        return leaves(node.part)
    return [node]


def parse(text: str) -> Node:
    """Returns the tree of a query with operators; never raises."""
    tokens = [m for m in TOKEN.finditer(text) if not m.group("space")]
    parser = Parser(tokens)
    node = parser.disjunction()
    while parser.more():  # a stray ")" ends a group that was never opened: go on after it
        parser.position += 1
        node = And((node, parser.disjunction())) if parser.more() else node
    return simplify(node)


class Parser:
    """Recursive descent over the tokens: OR binds loosest, then AND (written or implied), then NOT."""

    def __init__(self, tokens: list[re.Match[str]]) -> None:
        self.tokens = tokens
        self.position = 0
        self.field: str | None = None
        """The field of the group being read (title:(a b)), or None."""

    def more(self) -> bool:
        return self.position < len(self.tokens)

    def peek(self) -> re.Match[str] | None:
        return self.tokens[self.position] if self.more() else None

    def is_operator(self, name: str) -> bool:
        token = self.peek()
        return token is not None and token.group("word") == name

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.is_operator("OR"):
            self.position += 1
            parts.append(self.conjunction())
        return Or(tuple(parts)) if len(parts) > 1 else parts[0]

    def conjunction(self) -> Node:
        parts: list[Node] = []
        while self.more() and not self.is_operator("OR") and not self.peek_close():
            if self.is_operator("AND"):
                self.position += 1
                continue
            if self.is_operator("ANDNOT"):
                self.position += 1
                if self.more() and not self.peek_close():  # "care ANDNOT " leaves nothing to leave out
                    parts.append(Not(self.unary()))
                continue
            parts.append(self.unary())
        return And(tuple(parts)) if len(parts) != 1 else parts[0]

    def peek_close(self) -> bool:
        token = self.peek()
        return token is not None and token.group("close") is not None

    def unary(self) -> Node:
        if self.is_operator("NOT"):
            self.position += 1
            return Not(self.unary()) if self.more() and not self.peek_close() else And(())
        return self.primary(None)

    def primary(self, field_name: str | None) -> Node:
        token = self.tokens[self.position]
        self.position += 1
        field_name = field_name or self.field
        if token.group("open"):
            outer, self.field = self.field, field_name
            inner = self.disjunction()
            self.field = outer
            boost = 1.0
            if self.peek_close():
                closing = self.tokens[self.position]
                self.position += 1
                boost = float(closing.group("gboost") or 1.0)
            return boosted(inner, boost)
        if token.group("close"):
            return And(())
        if token.group("field"):
            name = FIELD_ALIASES.get(token.group("field").lower(), token.group("field").lower())
            if not self.more():
                return And(())
            if name not in FIELD_KINDS or FIELD_KINDS[name] == "stored":
                # Not a field of the record: "foo:bar" is two words.
                return And((word_node(token.group("field"), None), self.primary(field_name)))
            return self.primary(name)
        if token.group("phrase") is not None:
            words = tuple(stems_of(token.group("phrase").strip('"')))
            boost = float(token.group("pboost") or 1.0)
            slop = max(1, int(token.group("slop") or 1))
            if field_name is not None and FIELD_KINDS.get(field_name) != "text":
                return word_node(token.group("phrase").strip('"'), field_name)
            if not words:
                return And(())
            if len(words) == 1:
                return Term(words[0], field_name, boost)
            return Phrase(words, field_name, slop, boost)
        if token.group("range") is not None:
            return range_node(token.group("range"), field_name)
        return word_node(token.group("word"), field_name)


def word_node(word: str, field_name: str | None) -> Node:
    """Returns the node of one word as typed: a term, a wildcard, a fuzzy word, with any ^boost."""
    boost = 1.0
    boosted_word = re.fullmatch(r"(.+?)\^(\d+(?:\.\d+)?)", word)
    if boosted_word:
        word, boost = boosted_word.group(1), float(boosted_word.group(2))
    fuzzy = re.fullmatch(r"(.+?)~(\d?)", word)
    kind = FIELD_KINDS.get(field_name, "text") if field_name else "text"
    if kind == "datetime":
        return Range(field_name or "date", word, word)
    if fuzzy:
        distance = min(int(fuzzy.group(2) or 1), MAX_FUZZY_DISTANCE)
        stems = stems_of(fuzzy.group(1)) if kind == "text" else [fuzzy.group(1).lower()]
        return Pattern(stems[0], "fuzzy", field_name, distance, boost) if stems else And(())
    if "*" in word or "?" in word:
        # Stemmed as one word, as the index's terms are: "leav?rs" looks for "leav?r" (so finds "leaver").
        pattern = stem(word.lower()) if kind == "text" else word.lower()
        return Pattern(pattern, "wildcard", field_name, 0, boost)
    if kind != "text":
        return Term(word.lower() if field_name in SLUG_FIELDS else word, field_name, boost)
    stems = stems_of(word)
    if not stems:
        return And(())
    terms = tuple(Term(stem, field_name, boost) for stem in stems)
    return terms[0] if len(terms) == 1 else And(terms)


def range_node(text: str, field_name: str | None) -> Node:
    """Returns a Range from "[low TO high]" ("{...}" leaves the ends out); open ends are empty or *."""
    if field_name is None:
        return word_node(text.strip("[]{}"), None)
    inner = text[1:].rstrip("]}")
    low, _, high = split_range(inner)
    return Range(field_name, low, high, text.startswith("["), not text.endswith("}"))


def split_range(inner: str) -> tuple[str, str, str]:
    """Returns (low, "TO", high) of a range's inside; a missing end is empty."""
    parts = re.split(r"\s*\bTO\b\s*", inner.strip(), maxsplit=1)
    low = parts[0].strip()
    high = parts[1].strip() if len(parts) > 1 else ""
    return ("" if low == "*" else low), "TO", ("" if high == "*" else high)


def boosted(node: Node, boost: float) -> Node:
    """Returns a node with its boost multiplied."""
    if boost == 1.0 or isinstance(node, Range | Not | Every):
        return node
    return replace(node, boost=node.boost * boost)


def simplify(node: Node) -> Node:
    """Returns the tree with empty groups dropped and one-part groups unwrapped."""
    if isinstance(node, And | Or):
        parts = tuple(p for p in (simplify(part) for part in node.parts) if not (isinstance(p, And) and not p.parts))
        if not parts:
            return And(())
        if len(parts) == 1:
            return boosted(parts[0], node.boost)
        return replace(node, parts=parts)
    if isinstance(node, Not):
        inner = simplify(node.part)
        return And(()) if isinstance(inner, And) and not inner.parts else Not(inner)
    return node


def search_fields(node_field: str | None) -> list[str]:
    """Returns the text fields a term or phrase is looked for in."""
    return [node_field] if node_field else list(SEARCH_FIELDS)
