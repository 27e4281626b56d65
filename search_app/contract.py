"""What the JSON API answers, as pydantic models, and the OpenAPI document's frame (version, tags, the
one error shape, the CSV and Atom bodies). flask-openapi3 builds /api/openapi.json from these and from
the routes' own declarations; examples are real answers on the corpus, kept in api_examples.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from flask_openapi3 import Info, Server, Tag
from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "1.1.0"
"""The contract's version: the minor part grows with additions, the major part with anything that
could break a client (README, "Versioning")."""
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f<>()\[\],;:\\\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$"
"""An address an alert can be sent to: one @, no spaces or characters that need quoting, a domain with a dot."""
EXAMPLES: dict[str, Any] = json.loads((Path(__file__).with_name("api_examples.json")).read_text())
INFO = Info(
    title="Council Papers Search API",
    version=API_VERSION,
    description="Agenda items from UK councils' committee papers: search with filters and facets, one item "
    "whole, council-by-year counts, CSV and Atom exports, and email alerts. No key is needed. Errors are "
    'JSON: {"error", "detail"}. Human-readable documentation: /api.',
)
SERVERS = [Server(url="/", description="This server")]
SEARCH_TAG = Tag(name="search", description="Searching agenda items and reading one whole")
EXPORT_TAG = Tag(name="exports", description="The same searches as CSV and Atom, for spreadsheets and feed readers")
ALERT_TAG = Tag(name="alerts", description="Email alerts on a saved search")


# Every GET answer of the API and the exports can be fetched again for nothing (search_app/__init__.py).
CONDITIONAL_HEADERS = {
    "ETag": {
        "description": "Send it back as If-None-Match: an unchanged answer is a 304.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {"description": "no-cache: ask again, with the ETag.", "schema": {"type": "string"}},
}
NOT_MODIFIED = {"description": "Not modified: the If-None-Match ETag is still this answer's. No body."}


def answered_with(name: str) -> ConfigDict:
    """Returns the model_config that gives an answer's model its real example and the conditional-request
    headers (flask-openapi3 writes them beside the answer's media type)."""
    extra = {"example": EXAMPLES[name], "headers": CONDITIONAL_HEADERS}
    return ConfigDict(openapi_extra=extra)  # type: ignore[typeddict-unknown-key]


class ErrorBody(BaseModel):
    """Every error the API answers: a short error and a detail a person or program can act on."""

    error: str = Field(description="What went wrong, such as 'invalid parameter: page' or 'not found'.")
    detail: str = Field(description="What to do about it.")


class OtherSource(BaseModel):
    """Another paper holding the same agenda item (its minutes, its item page, a later pack)."""

    id: str
    source: str
    page: int
    doc_type: str
    format: str
    title: str
    earlier_minutes: bool


class ItemFields(BaseModel):
    """What an item's result and its whole record share."""

    id: str = Field(description="The item's id; stable across rebuilds of the same paper.")
    doc_id: str = Field(description="The paper the item comes from, as a path under the corpus.")
    council: str
    council_name: str
    committee: str
    committee_name: str
    date: str | None = Field(description="The meeting's date, YYYY-MM-DD, or null when the paper gives none.")
    doc_type: str
    title: str = Field(description="The paper's title.")
    item_number: str
    item_title: str
    topics: list[str] = Field(description="Topic slugs, most telling first.")
    decisions: list[str] = Field(description="Decision wording as the minutes record it.")
    figures: list[str]
    source: str = Field(description="The source file, under /source/.")
    page: int = Field(description="The page of the source where the item starts.")
    source_url: str = Field(description="Where the council publishes the paper, when known.")
    format: str = Field(description="pdf, html or text.")
    earlier_minutes: bool = Field(description="Minutes of an earlier meeting printed in a later pack.")
    url: str = Field(description="The item's page on this site.")
    source_link: str = Field(description="The source file on this site, opened at the page for a PDF.")


class Hit(ItemFields):
    """One result of a search."""

    snippet: str = Field(description="HTML: the passage that matched, the query's words in <mark>.")
    score: float
    other_sources: list[OtherSource]
    passage_page: int = Field(description="The page of the source where the snippet's passage stands.")


class Meaning(BaseModel):
    """Whether matching by meaning was used, and how far preparing it has got."""

    status: Literal["off", "preparing", "ready"]
    items: int
    items_ready: int
    used: bool


class Expansion(BaseModel):
    """A glossary equivalent added to the query (LAC -> looked after children)."""

    term: str
    added: list[str]


class SearchBody(BaseModel):
    """A page of results with the total, facet counts and spelling help."""

    model_config = answered_with("search")
    query: str
    total: int = Field(description="Items matching, copies of one item counted once.")
    estimated: bool = Field(
        description="Whether total and facets are estimates (the Xapian backend past 20,000 matches; never Whoosh)."
    )
    page: int
    per_page: int
    sort: Literal["relevance", "date", "oldest"]
    filters: dict[str, list[str]]
    date_from: str | None = Field(alias="from")
    date_to: str | None = Field(alias="to")
    results: list[Hit]
    facets: dict[str, dict[str, int]] = Field(description="Facet -> value -> items, for every facet.")
    suggestion: str | None = Field(description="A spelling that finds more, when the words look misspelt.")
    showing_results_for: str | None = Field(description="The corrected query whose results are shown, or null.")
    expand: bool
    semantic: bool
    meaning: Meaning
    expansions: list[Expansion]
    missing_words: list[str] = Field(
        description="Words typed (plain words only) that no item holds, nor a glossary equivalent of them: the "
        "results hold the other words, or are close in meaning. A word typed in capitals beside words that are not "
        "(an acronym) is kept as typed in a suggestion; in a query all in capitals, a suggestion changing a short "
        "word is offered but not searched instead."
    )
    councils_named: list[str] = Field(
        description="Councils (slugs) whose place name the query types, not already chosen in the council filter: "
        "their items may never name them, so the query is scored by its other words and their matches are raised "
        "by half the best score if they score a quarter of the best or more, in proportion below (one matching the "
        "other words half as well as the best comes level with the best of any other council), and a client can "
        "offer the filter (council=<slug>)."
    )


class ItemBody(ItemFields):
    """One agenda item whole."""

    model_config = answered_with("item")
    body: str = Field(description="The item's full text; a form feed marks where each page of the source begins.")
    provenance: dict[str, str] = Field(description="Field -> where its value came from (sidecar, text, folder...).")


class ItemPath(BaseModel):
    """The item's id."""

    item_id: str = Field(max_length=200, json_schema_extra={"example": EXAMPLES["item"]["id"]})


class AlertRequest(BaseModel):
    """A sign-up for email alerts on a search."""

    model_config = ConfigDict(extra="ignore")
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN, json_schema_extra={"example": "officer@example.org"})
    frequency: Literal["daily", "weekly"] = "daily"
    search: str = Field(
        max_length=2000,
        description="The search as a query string, such as q=Staying+Put&council=croydon: words or a filter.",
        json_schema_extra={"example": "q=Staying+Put&council=croydon"},
    )


class AlertAccepted(BaseModel):
    """The sign-up is saved; nothing is sent until the emailed link is used."""

    status: Literal["confirmation sent"]
    detail: str


def error(description: str, example: dict[str, str] | None = None) -> dict[str, Any]:
    """Returns an OpenAPI response of the one error shape."""
    content: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    return {
        "description": description,
        "content": {"application/json": content | ({"example": example} if example else {})},
    }


def text_body(media_type: str, description: str, example: str) -> dict[str, Any]:
    """Returns an OpenAPI response whose body is a CSV or Atom document."""
    content = {media_type: {"schema": {"type": "string"}, "example": example}}
    return {"description": description, "headers": CONDITIONAL_HEADERS, "content": content}


BAD_SEARCH = error(
    "A bad argument, named in error. Also for arguments the schema cannot judge: a query whose syntax cannot "
    "be searched (error 'invalid query') and from after to.",
    EXAMPLES["error"],
)
SEARCH_RESPONSES: dict[Any, Any] = {200: SearchBody, 304: NOT_MODIFIED, 400: BAD_SEARCH}
CSV_RESPONSES: dict[Any, Any] = {
    200: text_body("text/csv", "Every result (up to 2,000) as CSV, in the page's order.", EXAMPLES["search_csv"]),
    304: NOT_MODIFIED,
    400: BAD_SEARCH,
}
COMPARE_RESPONSES: dict[Any, Any] = {
    200: text_body("text/csv", "Matching items by council and year.", EXAMPLES["compare_csv"]),
    304: NOT_MODIFIED,
    400: BAD_SEARCH,
}
ATOM_RESPONSES: dict[Any, Any] = {
    200: text_body("application/atom+xml", "The newest 50 items of the search.", EXAMPLES["search_atom"]),
    304: NOT_MODIFIED,
    400: BAD_SEARCH,
}
ITEM_RESPONSES: dict[Any, Any] = {
    200: ItemBody,
    304: NOT_MODIFIED,
    400: error("An id longer than 200 characters."),
    404: error("No item has this id (it may have been re-indexed)."),
}
ALERT_RESPONSES: dict[Any, Any] = {
    202: AlertAccepted,
    400: error("A bad body, address or search; a search needs words or a filter."),
    429: error("Too many sign-ups from this client in an hour."),
    503: error("This server has no email set up, or the confirmation email could not be sent."),
}
