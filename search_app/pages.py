"""Blueprint for the pages people use: search, an agenda item, a paper's items, and the source files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from indexer.items import PAGE_BREAK
from indexer.metadata import DOC_TYPE_LABELS
from indexer.topics import topic_labels
from search_app.errors import ApiError
from search_app.params import parse_search_args
from search_app.results import SearchRequest
from search_app.snippets import query_words, word_pattern
from search_app.views import search_index, source_link

pages = Blueprint("pages", __name__)
FACET_TITLES = {
    "council": "Council",
    "topic": "Topic",
    "year": "Year",
    "committee": "Committee",
    "doc_type": "Document type",
}


def facet_label(facet: str, value: str, names: dict[str, dict[str, str]]) -> str:
    """Returns the display name of a facet value."""
    if facet == "topic":
        return topic_labels().get(value, value)
    if facet == "doc_type":
        return DOC_TYPE_LABELS.get(value, value)
    return names.get(facet, {}).get(value, value)


def facet_names() -> dict[str, dict[str, str]]:
    """Returns slug -> display name for councils and committees, read once per index generation."""
    return search_index().display_names()


def link_with(req: SearchRequest, endpoint: str = "pages.search", **changes: Any) -> str:
    """Returns the URL of a search (page, CSV or feed) with some arguments changed (None removes one)."""
    args: dict[str, Any] = {"q": req.q or None, "sort": req.sort if req.sort != "relevance" else None}
    args["from"] = req.date_from.isoformat() if req.date_from else None
    args["to"] = req.date_to.isoformat() if req.date_to else None
    args["decisions"] = "1" if req.decisions_only else None
    args["expand"] = None if req.expand else "0"
    args["respell"] = None if req.respell else "0"
    args["semantic"] = None if req.semantic else "0"
    for facet, values in req.filters.items():
        args[facet] = list(values)
    args.update(changes)
    return url_for(endpoint, **{k: v for k, v in args.items() if v not in (None, "", [])})


def toggle_filter(req: SearchRequest, facet: str, value: str) -> str:
    """Returns the URL that adds a facet value to the request, or removes it if present."""
    values = list(req.filters.get(facet, []))
    values = [v for v in values if v != value] if value in values else values + [value]
    changes: dict[str, Any] = {facet: values or None, "page": None}
    return link_with(req, "pages.search", **changes)


def highlight_text(text: str, query: str) -> Markup:
    """Returns escaped text with the query's words marked, matched as in result snippets."""
    pattern = word_pattern(query_words([query]))
    if pattern is None:
        return Markup(escape(text))
    marked = pattern.sub(lambda m: "\0" + m.group(0) + "\1", text)
    return Markup(str(escape(marked)).replace("\0", "<mark>").replace("\1", "</mark>"))


def marked_pages(body: str, first_page: int) -> str:
    """Returns an item's text with each page break shown as the page that starts there."""
    pieces = body.split(PAGE_BREAK)
    return pieces[0] + "".join(f"\n[page {first_page + k}]\n{piece}" for k, piece in enumerate(pieces[1:], 1))


@pages.app_context_processor
def template_helpers() -> dict[str, Any]:
    return {
        "facet_titles": FACET_TITLES,
        "doc_type_labels": DOC_TYPE_LABELS,
        "topic_labels": topic_labels(),
        "link_with": link_with,
        "toggle_filter": toggle_filter,
        "source_link": source_link,
    }


@pages.get("/")
def search() -> ResponseReturnValue:
    """The search page; with no query it shows what the index covers."""
    req = parse_search_args(request.args)
    index = search_index()
    searched = bool(req.q or req.filters or req.date_from or req.date_to or req.decisions_only)
    results = index.search(req) if searched else None
    names = facet_names()
    return render_template(
        "search.html",
        req=req,
        results=results,
        stats=index.stats(),
        names=names,
        label=lambda facet, value: facet_label(facet, value, names),
    )


@pages.get("/items/<item_id>")
def item(item_id: str) -> ResponseReturnValue:
    """One agenda item: metadata, decisions, full text with the query's words marked, and its source."""
    index = search_index()
    found = index.get_item(item_id)
    if found is None:
        raise ApiError(404, "not found", "There is no agenda item at this address. It may have been re-indexed.")
    siblings = index.document_items(found["doc_id"])
    query = request.args.get("q", "")[:200]
    found["passage_page"] = index.passage_page(found, query)
    return render_template(
        "item.html",
        item=found,
        body=highlight_text(marked_pages(found["body"], found["page"]), query),
        siblings=siblings,
        q=request.args.get("q", "")[:200],
        more_like=index.more_like(item_id),
        other_sources=index.other_sources(item_id),
        same_topic=index.same_topic_elsewhere(found["topics"][0], found["council"]) if found["topics"] else [],
    )


@pages.get("/compare")
def compare() -> ResponseReturnValue:
    """Councils side by side for a query or topic: items by year, first and latest mention, latest decision."""
    req = parse_search_args(request.args)
    comparison = search_index().compare(req) if (req.q or req.filters) else None
    chart_counts = []
    if comparison:
        years = [y for y in comparison.years if y != "undated"]
        chart_counts = [[row.counts.get(y, 0) for y in years] for row in comparison.rows[:8]]
    return render_template(
        "compare.html", req=req, comparison=comparison, topics=topic_labels(), chart_counts=chart_counts
    )


@pages.get("/papers/<path:relpath>")
def paper(relpath: str) -> ResponseReturnValue:
    """One paper (a meeting's agenda, minutes or pack): its items in order and its source."""
    items = search_index().document_items(relpath)
    if not items:
        raise ApiError(404, "not found", "That paper is not in the index.")
    return render_template("paper.html", items=items, first=items[0])


@pages.get("/source/<path:relpath>")
def source_file(relpath: str) -> ResponseReturnValue:
    """Serves a source paper, only if it is in the index: no other path under or outside corpus/ is readable.

    The index is asked first: a path it does not hold never reaches the file system (a NUL byte in the path
    made resolving it raise, a 500)."""
    missing = ApiError(404, "not found", "That file is not one of the indexed papers.")
    if "\x00" in relpath or not search_index().has_source(relpath):
        raise missing
    corpus = Path(current_app.config["CORPUS_DIR"]).resolve()
    target = (corpus / relpath).resolve()
    if not target.is_relative_to(corpus) or not target.is_file():
        raise missing
    response = send_from_directory(corpus, relpath, max_age=3600)
    if target.suffix.lower() in (".html", ".htm", ".xml"):
        # A council web page may carry its own scripts: show it without letting them run.
        response.headers["Content-Security-Policy"] = "sandbox"
    if target.suffix.lower() in (".txt", ".md"):
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
    return response
