"""Blueprint for the JSON API: GET /api/search and GET /api/items/<id>, from the same SearchResults as the
pages, and the OpenAPI document that describes every API route (GET /api/openapi.json)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from flask import Response, current_app, jsonify, url_for
from flask_openapi3 import APIBlueprint

from search_app.contract import ITEM_RESPONSES, SEARCH_RESPONSES, SEARCH_TAG, ItemPath
from search_app.errors import ApiError
from search_app.params import SearchParams
from search_app.results import SearchHit, SearchResults
from search_app.views import search_index, source_link

api = APIBlueprint("api", __name__, url_prefix="/api", abp_tags=[SEARCH_TAG])


def hit_json(hit: SearchHit) -> dict[str, Any]:
    """Returns one result as the API contract writes it."""
    # A shallow copy: asdict's deep copy of every list was a fifth of an API request's time.
    data = {f.name: getattr(hit, f.name) for f in fields(hit)}
    data["url"] = url_for("pages.item", item_id=hit.id)
    data["source_link"] = source_link(hit.source, hit.passage_page, hit.format)
    return data


def results_json(results: SearchResults) -> dict[str, Any]:
    """Returns search results in the shape of the JSON API contract."""
    req = results.request
    return {
        "query": req.q,
        "total": results.total,
        "estimated": results.estimated,
        "page": req.page,
        "per_page": req.per_page,
        "sort": req.sort,
        "filters": req.filters,
        "from": req.date_from.isoformat() if req.date_from else None,
        "to": req.date_to.isoformat() if req.date_to else None,
        "results": [hit_json(h) for h in results.hits],
        "facets": results.facets,
        "suggestion": results.suggestion,
        "showing_results_for": results.showing_for,
        "expand": req.expand,
        "semantic": req.semantic,
        "meaning": meaning_json(results),
        "expansions": [{"term": e.term, "added": list(e.added)} for e in results.expansions],
        "missing_words": results.missing_words,
        "councils_named": results.councils_named,
    }


def meaning_json(results: SearchResults) -> dict[str, Any]:
    """Returns whether matching by meaning was ready for this search, and how far it has got."""
    status = results.meaning_status
    items = status.items if status else 0
    ready = status.ready if status else 0
    state = "ready" if status and status.complete and items else "preparing" if status and status.running else "off"
    return {"status": state, "items": items, "items_ready": ready, "used": results.meaning_used}


@api.get(
    "/search",
    responses=SEARCH_RESPONSES,
    operation_id="search",
    description=(
        "Best first by default: the words typed (BM25F over title, decisions and text) fused with items close "
        "in meaning. Filters of one facet are ORed, different facets ANDed. Facet counts cover every match."
    ),
)
def search(query: SearchParams) -> Response:
    """Search agenda items."""
    return jsonify(results_json(search_index().search(query.to_request())))


@api.get(
    "/items/<item_id>",
    responses=ITEM_RESPONSES,
    operation_id="item",
    description=("Its metadata, decisions and full text, with where each field's value came from."),
)
def item(path: ItemPath) -> Response:
    """One agenda item whole."""
    item_id = path.item_id
    found = search_index().get_item(item_id)
    if found is None:
        raise ApiError(404, "not found", f"no agenda item has the id {item_id[:80]!r}")
    found["url"] = url_for("pages.item", item_id=item_id)
    found["source_link"] = source_link(found["source"], found["page"], found["format"])
    return jsonify(found)


@api.get("/openapi.json", doc_ui=False)
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of every API route."""
    return jsonify(openapi_dict(current_app.api_doc))  # type: ignore[attr-defined]


def openapi_dict(document: dict[str, Any]) -> dict[str, Any]:
    """Returns flask-openapi3's document without the empty sections it writes as null (invalid in 3.1)."""
    components = {k: v for k, v in document.get("components", {}).items() if v is not None}
    return {**document, "components": components}
