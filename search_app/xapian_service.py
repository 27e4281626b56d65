"""The index served from Xapian shards (issue 21; `cpsearch serve --backend xapian`): the same pages and API
as search_app/service.py, with matching, word ranking, folding and counting done by the shards.

A search asks the shards for the best POOL word matches with their counts, over connections each thread
keeps (indexer/xapian_backend.py); for plain words ranked by relevance the web server then fuses meaning
and the pair rule over them (search_app/xapian_fusion.py), from the vectors of the index the shards were
synced from, memory-mapped. Then the words' frequencies for the snippets and the page's copies in other
papers. Shards that do not answer raise ShardDown, which the app answers with a 503 naming them
(docs/design.md).

Spelling suggestions come from the vocabulary the build counted, in --index (the remote backend has no
spelling data). Fuzzy words are refused with a 400 (the shards do not send their term dictionary).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import xapian
from rapidfuzz.distance import Levenshtein

from indexer.analysis import stems_of
from indexer.cluster import load_cluster
from indexer.embeddings import query_vector
from indexer.models import MeaningStatus
from indexer.records import read_item, read_other_source
from indexer.store import Vocabulary, current_generation
from indexer.xapian_backend import (
    DECISIONS_TERM,
    FILTER_PREFIXES,
    ID_PREFIX,
    Held,
    Shard,
    ShardDown,
    T,
    XapianHits,
    XapianSearch,
    copy_term,
    filtered,
    items_query,
    paper_term,
    record_of,
)
from search_app.expansion import meaning_text
from search_app.pipeline import (
    ORDINARY_NAME_SHARE,
    councils_named,
    councils_typed,
    hit_of,
    missing_words,
    page_at,
    request_plan,
)
from search_app.postings import MAX_EXPANSIONS
from search_app.query import Pattern, QueryPlan, glossary_phrases, plan_query
from search_app.results import Comparison, CouncilRow, QueryError, SearchRequest, SearchResults
from search_app.snippets import STEM_CHARS, find_passage, query_words, word_pattern
from search_app.spelling import Speller, offered_only, rescues, suggest
from search_app.xapian_engine import Expand, node_query, phrase_query, xapian_plan
from search_app.xapian_fusion import POOL, PairRarity, ServedVectors, VectorSource, rank_pool, without_keys

MAX_COPIES = 50
# A spelling is suggested when fewer items than this hold every word typed (as on Whoosh: pipeline.run_search).
RESPELL_BELOW = 3
NAMES_SECONDS = 600


def open_cluster(cluster_file: Path, index_dir: Path | None = None) -> XapianIndex:
    """Returns the shards a cluster file names (each its master, else a replica), searched as one, with
    the meaning vectors of the index in index_dir (the one the shards were synced from)."""
    return XapianIndex([spec.served() for spec in load_cluster(cluster_file).shards], index_dir)


class XapianIndex:
    """The shards of a cluster file, searched as one index, with the vectors that meaning is fused from."""

    def __init__(self, shards: Sequence[Shard], index_dir: Path | None = None) -> None:
        self.engine = XapianSearch(shards)
        self.index_dir = index_dir
        self.vectors = VectorSource(index_dir)
        self.rarity = PairRarity(self.engine)
        self._speller: tuple[Path, Speller] | None = None
        self._stems: tuple[Speller, dict[str, list[str]]] | None = None
        self._vocabulary_lock = threading.Lock()
        self._stats: tuple[float, dict[str, Any]] | None = None
        self._names: tuple[float, dict[str, dict[str, str]]] | None = None
        self._names_lock = threading.Lock()
        self._ordinary: dict[str, tuple[float, bool]] = {}

    def warm(self) -> None:
        """Connects to the shards and reads the display names, as each server worker does before it takes
        requests; shards that are down are logged, not fatal: searches then answer 503 naming them.

        The connection it made is closed again: it belongs to the thread that warms (a server worker's main
        thread), which answers no searches, so it would only idle until each shard's server timed it out and
        logged "Connection timed out" (8 such lines in every HTTP benchmark: 2 workers, 4 shards)."""
        try:
            self.display_names()
        except ShardDown as down:
            logging.getLogger(__name__).warning("starting with shards down: %s", down)
        finally:
            self.engine.forget()

    def search(self, request: SearchRequest) -> SearchResults:
        """Returns a page of results with facet counts, copies of one item folded into one: ranked by the
        shards' words, then (plain words by relevance) fused with meaning and the pair rule at the web
        server over the shards' best matches (search_app/xapian_fusion.py); with a spelling suggestion
        when the words typed find almost nothing, and the suggestion's results where they find more."""
        request = self.with_councils(request)
        return councils_named(self.whole(lambda: self.answer(request)))

    def whole(self, work: Callable[[], T]) -> T:
        """Returns work that makes several requests of the shards, done again from the start once if a sync
        changed them between two of its requests (a document read late is then gone); a shard that stops
        answering part-way is named (ShardDown), as one that does not answer at first is."""
        for attempt in range(2):
            try:
                return work()
            except (xapian.DatabaseModifiedError, xapian.DocNotFoundError):
                self.engine.forget()
                if attempt:
                    raise
            except xapian.NetworkError:
                self.engine.forget()
                raise ShardDown(self.engine.down_shards() or [s.name for s in self.engine.shards]) from None
        raise AssertionError("unreachable")

    def answer(self, request: SearchRequest) -> SearchResults:
        """Returns what search returns, in one attempt, with the words no item holds named for the plan whose
        results are shown (asked of the shards once, and not for an alert's new items: search_among)."""
        results, plan = self.respelt(request)
        missing, held = missing_words(plan, lambda stems: self.engine.term_counts(stems)[0])
        return replace(results, missing_words=missing, words_held=held)

    def respelt(self, request: SearchRequest) -> tuple[SearchResults, QueryPlan]:
        """Returns the results of a request, or of its corrected spelling where the words typed find almost
        nothing and it finds more, with the plan they are the results of."""
        plan = request_plan(request)
        restrict = restriction(request)
        results = self.ranked(request, plan, restrict)
        speller = self.speller()
        if speller is None or not request.q.strip():
            return results, plan
        # As on Whoosh: judged by the items holding every word typed, or a glossary equivalent.
        every = every_word(plan, self.fuzzy_stems, self.engine.held())
        typed = self.engine.count(restrict(every), RESPELL_BELOW)
        if typed >= RESPELL_BELOW:
            return results, plan
        known = {word.lower() for expansion in plan.expansions for word in expansion.term.split()}
        suggestion = suggest(self, request.q, speller, known)
        if suggestion is None:
            return results, plan
        if request.respell and not offered_only(request.q, suggestion):
            # As on Whoosh: the councils the corrected words name are lifted.
            corrected = self.with_councils(replace(request, q=suggestion))
            corrected_plan = request_plan(corrected)
            rescued = self.ranked(corrected, corrected_plan, restrict)
            if rescues(typed, rescued.total):
                shown = replace(request, councils_typed=corrected.councils_typed)
                return replace(rescued, request=shown, suggestion=suggestion, showing_for=suggestion), corrected_plan
        return replace(results, suggestion=suggestion), plan

    def search_among(self, request: SearchRequest, item_ids: list[str]) -> SearchResults:
        """Returns the results of a request among these items only (an alert's new items), by their words and the
        councils they name, as a search ranks them."""
        request = self.with_councils(replace(request, semantic=False, respell=False))
        wanted = items_query(item_ids)
        filters = restriction(request)

        def restrict(query: xapian.Query) -> xapian.Query:
            return xapian.Query(xapian.Query.OP_FILTER, filters(query), wanted)

        plan = request_plan(request)
        return self.whole(lambda: self.ranked(request, plan, restrict, filtering=True))

    def with_councils(self, request: SearchRequest) -> SearchRequest:
        """Returns the request with the councils its words name (pipeline.councils_typed)."""
        return councils_typed(request, self.display_names()["council"], self.ordinary_name)

    def ordinary_name(self, slug: str) -> bool:
        """Returns whether a council's one-word name is an ordinary word of the other councils' papers
        (pipeline.ORDINARY_NAME_SHARE, as on Whoosh), asked of the shards at most every NAMES_SECONDS."""
        with self._names_lock:
            held = self._ordinary.get(slug)
        if held is not None and time.monotonic() - held[0] <= NAMES_SECONDS:
            return held[1]
        stems = stems_of(slug)
        known = False
        if stems:
            size = self.engine.size()
            council = xapian.Query(FILTER_PREFIXES["council"] + slug)
            others = size - self.engine.count(council, size)
            elsewhere = self.engine.count(xapian.Query(xapian.Query.OP_AND_NOT, xapian.Query(stems[0]), council), size)
            known = elsewhere / max(others, 1) >= ORDINARY_NAME_SHARE
        with self._names_lock:
            self._ordinary[slug] = (time.monotonic(), known)
        return known

    def speller(self) -> Speller | None:
        """Returns the spelling suggester of the vocabulary the build counted (in --index), or None."""
        generation = current_generation(self.index_dir) if self.index_dir else None
        if generation is None:
            return None
        with self._vocabulary_lock:
            if self._speller is None or self._speller[0] != generation:
                self._speller = (generation, Speller(Vocabulary.load(generation)))
            return self._speller[1]

    def fuzzy_stems(self, node: Pattern) -> list[str]:
        """Returns the stems a fuzzy word stands for: those of the build's vocabulary with its first letter
        within its distance (Levenshtein), as the Whoosh pipeline expands it from its term dictionary."""
        speller = self.speller()
        if speller is None:
            raise QueryError(f"{node.text}~: fuzzy words need the build's vocabulary (serve with --index)")
        with self._vocabulary_lock:
            if self._stems is None or self._stems[0] is not speller:
                stems: dict[str, set[str]] = {}
                for word in speller.counts:
                    for stem in stems_of(word)[:1]:
                        stems.setdefault(stem[:1], set()).add(stem)
                self._stems = (speller, {letter: sorted(found) for letter, found in stems.items()})
            by_letter = self._stems[1]
        found = [
            stem
            for stem in by_letter.get(node.text[:1], [])
            if Levenshtein.distance(node.text, stem, score_cutoff=node.distance) <= node.distance
        ]
        if len(found) > MAX_EXPANSIONS:
            raise QueryError(f"{node.text!r} matches more than {MAX_EXPANSIONS} different words; add letters")
        return found

    def has_term(self, field: str, term: str) -> bool:
        """Returns whether any item holds the word (in any searched field: the shards' unprefixed terms)."""
        return bool(self.engine.term_counts([term])[0][term])

    def ranked(
        self,
        request: SearchRequest,
        plan: QueryPlan,
        restrict: Callable[[xapian.Query], xapian.Query],
        filtering: bool | None = None,
    ) -> SearchResults:
        """Returns a page of results ranked as `search` says, the request's filters applied by `restrict`."""
        if filtering is None:
            filtering = bool(request.filters or request.date_from or request.date_to or request.decisions_only)
        words = xapian_plan(plan, self.fuzzy_stems, self.engine.held())
        query = restrict(words)
        start = (request.page - 1) * request.per_page
        relevance = request.sort == "relevance"
        meaning = self.meaning(meaning_text(plan.typed, plan.expansions)) if request.semantic and plan.plain else None
        if not relevance:
            return self.by_date(request, plan, words, query, restrict if filtering else None, meaning)
        if not (plan.pairs or meaning or plan.close_words or request.councils_typed):
            found = self.engine.search_query(query, limit=request.per_page, offset=start, order=request.sort)
            page = list(zip(found.hits, found.records, strict=True))
            return self.results(request, plan, found, page, meaning_used=False)
        first = self.engine.search_query(query, limit=POOL)
        ranked = rank_pool(
            self.engine,
            words,
            restrict if filtering else None,
            plan,
            first,
            self.rarity,
            meaning,
            councils=request.councils_typed,
        )
        shown = ranked.ids[start : start + request.per_page]
        page = [((i, ranked.scores[i]), ranked.pool.record(i)) for i in shown]
        wanted = start + request.per_page - len(ranked.ids)
        if wanted > 0 and first.total > len(first.hits):
            # Past the pool: the shards' order, after their first POOL matches, less the pool's other items.
            # The first matches whose copy keys are left out are not in that order either.
            left_out = set(ranked.extra_keys)
            kept = sum(key not in left_out for key in first.keys)
            deeper = self.engine.search_query(
                without_keys(query, ranked.extra_keys),
                limit=min(wanted, request.per_page),
                offset=kept + max(0, start - len(ranked.ids)),
                counts=False,
            )
            page += list(zip(deeper.hits, deeper.records, strict=True))
        counted = self.with_meaning_counts(first, ranked.meaning_only)
        return self.results(request, plan, counted, page, ranked.meaning_used)

    def by_date(
        self,
        request: SearchRequest,
        plan: QueryPlan,
        words: xapian.Query,
        query: xapian.Query,
        restrict: Callable[[xapian.Query], xapian.Query] | None,
        meaning: tuple[ServedVectors, np.ndarray] | None,
    ) -> SearchResults:
        """Returns a page of results by meeting date: the items the words match and, as on Whoosh, those
        meaning alone brings in (the same as a search by relevance counts), sorted and counted together on
        the shards."""
        meaning_used = False
        if meaning is not None:
            first = self.engine.search_query(query, limit=POOL, counts=False)
            ranked = rank_pool(self.engine, words, restrict, plan, first, self.rarity, meaning, close=False)
            meaning_used = ranked.meaning_used
            if ranked.meaning_only:
                brought = items_query(ranked.meaning_only)
                query = xapian.Query(
                    xapian.Query.OP_OR, [query, xapian.Query(xapian.Query.OP_SCALE_WEIGHT, brought, 0.0)]
                )
        start = (request.page - 1) * request.per_page
        found = self.engine.search_query(query, limit=request.per_page, offset=start, order=request.sort)
        page = list(zip(found.hits, found.records, strict=True))
        return self.results(request, plan, found, page, meaning_used=meaning_used)

    def with_meaning_counts(self, counted: XapianHits, meaning_only: Sequence[str]) -> XapianHits:
        """Returns the shards' total and counts with the items meaning alone brought in counted too (the
        shards counted the word matches only), their counts from the shards' spies in one more request."""
        if not meaning_only:
            return counted
        ids = items_query(meaning_only)
        facets = self.engine.search_query(ids, limit=0, fold=False, exact=True).facets  # a few items: all counted
        summed = {
            facet: dict(Counter(counted.facets.get(facet, {})) + Counter(facets.get(facet, {})))
            for facet in {*counted.facets, *facets}
        }
        ordered = {f: dict(sorted(v.items(), key=lambda p: (-p[1], p[0]))) for f, v in summed.items()}
        return replace(counted, total=counted.total + len(meaning_only), facets=ordered)

    def results(
        self,
        request: SearchRequest,
        plan: QueryPlan,
        counted: XapianHits,
        page: list[tuple[tuple[str, float], dict[str, Any]]],
        meaning_used: bool,
    ) -> SearchResults:
        """Returns a page of results: each record made a hit, with its snippet and its copies elsewhere; the
        total and counts are `counted`'s."""
        expansions = list(plan.expansions)
        pattern = word_pattern(query_words([request.q, *(v for e in expansions for v in e.added)]))
        weights = self.word_weights(request.q)
        copies = self.copies([record for _, record in page])
        hits = [
            hit_of(read_item(record), score, pattern, weights, copies.get(str(record["dup_key"]), []))
            for (_, score), record in page
        ]
        return SearchResults(
            request=request,
            total=counted.total,
            hits=hits,
            facets=counted.facets,
            expansions=expansions,
            meaning_used=meaning_used,
            meaning_status=self.meaning_status(),
            estimated=not counted.exact,
        )

    def meaning(self, text: str) -> tuple[ServedVectors, np.ndarray] | None:
        """Returns the served vectors and the query's vector, or None until every item on the shards has its
        vectors (as on the Whoosh backend: a ranking where only some items can be found by meaning favours
        the older) or where this server has none."""
        served = self.vectors.get()
        if served is None or served.ids.size < self.engine.size():
            return None
        return served, query_vector(text)

    def meaning_status(self) -> MeaningStatus:
        """Returns how many items the served vectors cover against the items on the shards."""
        served = self.vectors.get()
        items = self.engine.size()
        held = min(items, served.ids.size) if served is not None else 0
        return MeaningStatus(items=items, ready=held, running=False)

    def copies(self, records: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """Returns copy key -> the other papers holding each of these items, in one query."""
        keys = sorted({str(record["dup_key"]) for record in records})
        if not keys:
            return {}
        query = xapian.Query(xapian.Query.OP_OR, [xapian.Query(copy_term(key)) for key in keys])
        # Uncounted, and the shown items' own documents (a round trip each, the whole text) not read again.
        found = self.engine.search_query(query, limit=MAX_COPIES * len(keys), fold=False, counts=False)
        shown = {str(record["id"]) for record in records}
        others: dict[str, list[dict[str, Any]]] = {}
        for n, (item_id, _) in enumerate(found.hits):
            if item_id not in shown:
                record = record_of(found.document(n))
                others.setdefault(str(record["dup_key"]), []).append(read_other_source(record))
        return others

    def word_weights(self, text: str) -> dict[str, float]:
        """Returns the idf of each word of a query, keyed as snippets match words (search_app/pipeline.py)."""
        words = re.findall(r"\w{2,}", re.sub(r"\b\w+:", " ", text).lower())
        stems = {word: stems_of(word)[:1] for word in words}
        held, size = self.engine.term_counts(sorted({s for found in stems.values() for s in found}))
        weights: dict[str, float] = {}
        for word, found in stems.items():
            for stem in found:
                weight = float(np.log(1 + max(size, 1) / (held[stem] + 1)))
                for key in (word[:STEM_CHARS], stem[:STEM_CHARS]):
                    weights[key] = max(weights.get(key, 0.0), weight)
        return weights

    def records(self, query: xapian.Query, limit: int = 10_000) -> list[dict[str, Any]]:
        """Returns the records of every document a boolean query matches, copies included."""
        return self.engine.search_query(query, limit=limit, fold=False, counts=False).records

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """Returns an item's stored fields with its full body, or None."""
        found = self.records(xapian.Query(ID_PREFIX + item_id), limit=1)
        return read_item(found[0]) if found else None

    def passage_page(self, item: dict[str, Any], query: str) -> int:
        """Returns the page of an item's source where the passage holding the query's words stands."""
        if not query.strip():
            return int(item["page"])
        pattern = word_pattern(query_words([query]))
        return page_at(item["page"], item["body"], find_passage(item["body"], pattern, self.word_weights(query)))

    def document_items(self, doc_id: str) -> list[dict[str, Any]]:
        """Returns every item of one source document in order."""
        found = self.records(xapian.Query(paper_term(doc_id)))
        return [read_item(record) for record in sorted(found, key=lambda r: r.get("position", 0))]

    def other_sources(self, item_id: str) -> list[dict[str, Any]]:
        """Returns the other papers holding the same agenda item."""
        found = self.records(xapian.Query(ID_PREFIX + item_id), limit=1)
        return self.copies(found).get(str(found[0]["dup_key"]), []) if found else []

    def more_like(self, item_id: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns items whose words are most like this one's (Xapian's relevance set and its expand set),
        copies of it left out."""
        try:
            database = self.engine.connected()
            docid = next((p.docid for p in database.postlist(ID_PREFIX + item_id)), None)
            if docid is None:
                return []
            relevant = xapian.RSet()
            relevant.add_document(docid)
            expand = xapian.Enquire(database).get_eset(20, relevant)
            terms = [t.term for t in expand if not t.term[:1].isupper()]
        except xapian.NetworkError:
            self.engine.forget()
            raise ShardDown(self.engine.down_shards() or [s.name for s in self.engine.shards]) from None
        if not terms:
            return []
        dup_key = str(self.records(xapian.Query(ID_PREFIX + item_id), limit=1)[0]["dup_key"])
        query = xapian.Query(
            xapian.Query.OP_AND_NOT, xapian.Query(xapian.Query.OP_OR, terms), xapian.Query(copy_term(dup_key))
        )
        return [read_item(record) for record in self.engine.search_query(query, limit=top).records]

    def same_topic_elsewhere(self, topic: str, council: str, top: int = 5) -> list[dict[str, Any]]:
        """Returns the newest items on a topic from councils other than this one."""
        request = SearchRequest(filters={"topic": [topic]}, sort="date", per_page=top * 4, semantic=False)
        hits = [h for h in self.search(request).hits if h.council != council]
        return [vars(h) for h in hits[:top]]

    def has_source(self, relpath: str) -> bool:
        """Returns whether a source file is in the index (only those may be served)."""
        term = paper_term(relpath)
        return bool(self.engine.term_counts([term])[0][term])

    def display_names(self) -> dict[str, dict[str, str]]:
        """Returns slug -> display name for councils and committees, read again every NAMES_SECONDS."""
        with self._names_lock:
            return self.read_names()

    def read_names(self) -> dict[str, dict[str, str]]:
        """Returns the display names, read from the newest items of each council when older than NAMES_SECONDS
        (a committee seen only in older items keeps its slug)."""
        if self._names is None or time.monotonic() - self._names[0] > NAMES_SECONDS:
            names: dict[str, dict[str, str]] = {"council": {}, "committee": {}}
            for council in self.engine.search_query(xapian.Query.MatchAll, limit=1, exact=True).facets["council"]:
                # The newest items name the council and its committees as they are called now.
                for record in self.engine.search_query(
                    filtered(xapian.Query.MatchAll, {"council": [council]}), limit=200, order="date"
                ).records:
                    names["council"].setdefault(council, str(record.get("council_name") or council))
                    names["committee"].setdefault(str(record.get("committee")), str(record.get("committee_name")))
            self._names = (time.monotonic(), names)
        return self._names[1]

    def stats(self) -> dict[str, Any]:
        """Returns what the index covers: items, councils, first and last year, and every facet's counts
        (every item counted, so worked out again only every NAMES_SECONDS)."""
        with self._names_lock:
            if self._stats is None or time.monotonic() - self._stats[0] > NAMES_SECONDS:
                self._stats = (time.monotonic(), self.coverage())
            return self._stats[1]

    def coverage(self) -> dict[str, Any]:
        """Returns the figures stats returns, counted now."""
        found = self.engine.search_query(xapian.Query.MatchAll, limit=1, exact=True)
        years = sorted(y for y in found.facets["year"] if y != "undated")
        return {
            "items": found.total,
            "councils": len(found.facets["council"]),
            "first_year": years[0] if years else None,
            "last_year": years[-1] if years else None,
            "facets": found.facets,
        }

    def compare(self, request: SearchRequest) -> Comparison:
        """Returns the items matching a request counted by council and year (copies of one item once), with
        each council's first and latest meeting and latest decision: as on Whoosh (search_app/compare.py),
        counted over the items holding every word typed or a glossary equivalent, every match counted."""
        return self.whole(lambda: self.comparison(request))

    def comparison(self, request: SearchRequest) -> Comparison:
        """Returns what compare returns, in one attempt."""
        plan = plan_query(request.q, request.expand)
        query = restriction(request)(every_word(plan, self.fuzzy_stems, self.engine.held(), terms=True))
        by_council: dict[str, dict[str, int]] = {}
        for joined, count in self.engine.council_days(query).items():
            council, day = joined.split("\t")
            by_council.setdefault(council, {})[day] = count
        decided = xapian.Query(xapian.Query.OP_FILTER, query, xapian.Query(DECISIONS_TERM))
        latest = {str(r["council"]): r for r in self.engine.newest_per_council(decided, len(by_council))}
        names = self.display_names()["council"]
        rows = []
        for council, days in by_council.items():
            counts: Counter[str] = Counter()
            for day, count in days.items():
                counts[day[:4] if day else "undated"] += count
            dated = sorted(day for day in days if day)
            rows.append(
                CouncilRow(
                    council=council,
                    council_name=names.get(council, council),
                    counts=dict(counts),
                    total=sum(days.values()),
                    first=iso_day(dated[0]) if dated else None,
                    latest=iso_day(dated[-1]) if dated else None,
                    latest_decision=decision_of(latest[council]) if council in latest else None,
                )
            )
        rows.sort(key=lambda r: (-r.total, r.council_name))
        years = sorted({y for row in rows for y in row.counts}, key=lambda y: (y == "undated", y))
        return Comparison(request=request, years=years, rows=rows, total=sum(r.total for r in rows))


def restriction(request: SearchRequest) -> Callable[[xapian.Query], xapian.Query]:
    """Returns what keeps a query to the request's facets, dates and "has decisions"."""
    filters = {("topic" if facet == "topics" else facet): values for facet, values in request.filters.items()}

    def restrict(query: xapian.Query) -> xapian.Query:
        query = filtered(query, filters, request.date_from, request.date_to)
        if request.decisions_only:
            query = xapian.Query(xapian.Query.OP_FILTER, query, xapian.Query(DECISIONS_TERM))
        return query

    return restrict


def every_word(plan: QueryPlan, expand: Expand, held: Held = Held.POSITIONS, terms: bool = False) -> xapian.Query:
    """Returns the items a count for spelling counts: holding every word typed or a glossary equivalent of
    the query (plain words), else those the query matches. With `terms`, as the council comparison counts
    (compare.compared): each glossary term typed as a phrase."""
    if not plan.plain or not plan.words:
        return xapian_plan(plan, expand, held)
    phrases = [phrase_query(phrase, held) for phrase in glossary_phrases(plan)] if terms else []
    together = xapian.Query(xapian.Query.OP_AND, [*(xapian.Query(w) for w in dict.fromkeys(plan.words)), *phrases])
    variants = [node_query(variant.root, expand, held) for variant in plan.variants]
    return xapian.Query(xapian.Query.OP_OR, [together, *variants])


def iso_day(day: str) -> str:
    """Returns YYYYMMDD as YYYY-MM-DD."""
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def decision_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """Returns a council's latest decision as the comparison shows it (search_app/compare.py)."""
    when = record["date"]
    return {
        "id": record["id"],
        "date": when.date().isoformat() if isinstance(when, datetime) else str(when)[:10],
        "item_title": record["item_title"],
        "decision": str(record.get("decisions") or "").split("\n")[0],
    }
