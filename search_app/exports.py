"""Blueprint for every search as CSV (researchers) and as an Atom feed, newest first (councillors)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from flask import Response, request, url_for
from flask_openapi3 import APIBlueprint

from indexer.metadata import DOC_TYPE_LABELS
from search_app.contract import ATOM_RESPONSES, COMPARE_RESPONSES, CSV_RESPONSES, EXPORT_TAG
from search_app.pages import link_with
from search_app.params import SearchParams
from search_app.results import SearchHit
from search_app.views import search_index

exports = APIBlueprint("exports", __name__, abp_tags=[EXPORT_TAG])
EXPORT_LIMIT = 2000
FEED_ENTRIES = 50
ATOM = "http://www.w3.org/2005/Atom"
CSV_COLUMNS = [
    "council", "council_name", "committee_name", "date", "doc_type", "item_number", "item_title", "title",
    "decisions", "figures", "topics", "source", "page", "source_url", "url", "other_sources",
]  # fmt: skip


def csv_row(hit: SearchHit) -> list[str]:
    """Returns one result as a CSV row, lists joined with ' | '."""
    values = {
        **hit.__dict__,
        "doc_type": DOC_TYPE_LABELS.get(hit.doc_type, hit.doc_type),
        "decisions": " | ".join(hit.decisions),
        "figures": " | ".join(hit.figures),
        "topics": " | ".join(hit.topics),
        "url": url_for("pages.item", item_id=hit.id, _external=True),
        "other_sources": " | ".join(o["source"] for o in hit.other_sources),
    }
    return [str(values.get(column) or "") for column in CSV_COLUMNS]


@exports.get(
    "/search.csv",
    responses=CSV_RESPONSES,
    operation_id="search_csv",
    description=(
        "Every result (up to 2,000 items) in the order the page shows them; page and per_page are ignored. "
        "Lists (decisions, topics, other sources) are joined with ' | '."
    ),
)
def search_csv(query: SearchParams) -> Response:
    """A search as CSV."""
    req = replace(query.to_request(), page=1, per_page=EXPORT_LIMIT)
    results = search_index().search(req)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(hit) for hit in results.hits)
    name = re.sub(r"[^a-z0-9]+", "-", (req.q or "all-items").lower()).strip("-")[:60] or "search"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="council-papers-{name}.csv"'},
    )


@exports.get(
    "/search.atom",
    responses=ATOM_RESPONSES,
    operation_id="search_atom",
    description=(
        "The newest 50 items of the search, to follow new papers in a feed reader; sort and paging are ignored."
    ),
)
def search_atom(query: SearchParams) -> Response:
    """A search as an Atom feed."""
    req = replace(query.to_request(), page=1, per_page=FEED_ENTRIES, sort="date")
    results = search_index().search(req)
    feed = ET.Element("feed", xmlns=ATOM)
    ET.SubElement(feed, "title").text = f"Council papers: {req.q or 'all items'}"
    ET.SubElement(feed, "id").text = request.url
    ET.SubElement(feed, "link", rel="self", href=request.url)
    ET.SubElement(feed, "link", rel="alternate", href=link_with(query.to_request(), page=None, _external=True))
    newest = max((h.date for h in results.hits if h.date), default=None)
    ET.SubElement(feed, "updated").text = atom_time(newest)
    for hit in results.hits:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "title").text = f"{hit.council_name}: {hit.item_title}"
        link = url_for("pages.item", item_id=hit.id, _external=True)
        ET.SubElement(entry, "id").text = link
        ET.SubElement(entry, "link", href=link)
        ET.SubElement(entry, "updated").text = atom_time(hit.date)
        summary = " ".join(hit.decisions) or re.sub(r"<[^>]+>", "", hit.snippet)
        ET.SubElement(entry, "summary").text = f"{hit.committee_name}, {hit.date or 'undated'}. {summary}"
        author = ET.SubElement(entry, "author")
        ET.SubElement(author, "name").text = hit.council_name
    body = ET.tostring(feed, encoding="unicode", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml")


@exports.get(
    "/compare.csv",
    responses=COMPARE_RESPONSES,
    operation_id="compare_csv",
    description=(
        "The compare page's grid: items holding every word typed (or a glossary equivalent), by council and "
        "year, with the first and latest mention and the latest decision."
    ),
)
def compare_csv(query: SearchParams) -> Response:
    """Councils compared, as CSV."""
    comparison = search_index().compare(query.to_request())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["council", "council_name", *comparison.years, "total", "first_mention", "latest_mention", "latest_decision"]
    )
    for row in comparison.rows:
        decision = row.latest_decision or {}
        writer.writerow(
            [row.council, row.council_name, *(row.counts.get(y, 0) for y in comparison.years), row.total]
            + [row.first or "", row.latest or "", decision.get("decision", "")]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="council-papers-compare.csv"'},
    )


def atom_time(day: str | None) -> str:
    """Returns an RFC 3339 time for a meeting date, or now for undated items."""
    if day:
        return f"{day}T00:00:00Z"
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
