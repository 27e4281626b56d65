"""Blueprint for what a browser or crawler asks of the site itself: the favicon, robots.txt, and /api, the
API's documentation for people, rendered from the same OpenAPI document programs read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, send_from_directory
from flask.typing import ResponseReturnValue

from search_app.contract import EXAMPLES

site = Blueprint("site", __name__)
STATIC = Path(__file__).resolve().parent / "static"
A_YEAR = 365 * 24 * 3600
ROBOTS = """# Pages are for crawling, searches included (a search page is how a reader lands on a topic); the
# exports, the API and alert links are not.
User-agent: *
Disallow: /search.csv
Disallow: /search.atom
Disallow: /compare.csv
Disallow: /api/
Disallow: /alerts/
"""
# A request shown for each documented operation, with arguments a reader can try on this corpus.
EXAMPLE_ARGUMENTS = {
    "search": {"q": "Staying Put", "council": "croydon", "per_page": "1", "semantic": "0"},
    "search_csv": {"q": "Staying Put", "council": "croydon", "semantic": "0"},
    "search_atom": {"q": "Staying Put", "council": "croydon", "semantic": "0"},
    "compare_csv": {"q": "Staying Put"},
}


@site.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The site's icon, cached for a year (it changes only with a new file name's worth of design)."""
    return send_from_directory(STATIC, "favicon.ico", max_age=A_YEAR, mimetype="image/vnd.microsoft.icon")


@site.get("/favicon.svg")
def favicon_svg() -> ResponseReturnValue:
    """The same icon drawn as SVG, for browsers that prefer it."""
    return send_from_directory(STATIC, "favicon.svg", max_age=A_YEAR, mimetype="image/svg+xml")


@site.get("/robots.txt")
def robots() -> ResponseReturnValue:
    """Tells crawlers to read items and papers but not to walk every search."""
    return Response(ROBOTS, mimetype="text/plain")


@site.get("/api")
def api_docs() -> ResponseReturnValue:
    """The API's documentation page: every route, its arguments, and a real request and answer."""
    document = current_app.api_doc  # type: ignore[attr-defined]
    return render_template("api.html", operations=documented_operations(document), version=document["info"]["version"])


def documented_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Returns each operation of the document with its arguments and one example request and answer."""
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            example_path = path.replace("{item_id}", EXAMPLES["item"]["id"])
            arguments = EXAMPLE_ARGUMENTS.get(operation["operationId"])
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation["summary"].rstrip("."),
                    "description": operation.get("description", ""),
                    "parameters": [describe_parameter(p) for p in operation.get("parameters", [])]
                    + body_fields(document, operation),
                    "body": request_body(document, operation),
                    "example_request": f"{example_path}?{urlencode(arguments)}" if arguments else example_path,
                    "responses": [
                        {
                            "status": status,
                            "description": answer["description"],
                            "example": example_of(document, answer),
                        }
                        for status, answer in operation["responses"].items()
                    ],
                }
            )
    return operations


def describe_parameter(parameter: dict[str, Any]) -> dict[str, str]:
    """Returns a parameter's name, where it goes, what values it takes, its default and meaning."""
    schema = parameter["schema"]
    return {
        "name": parameter["name"],
        "accepts": schema_values(schema),
        "default": "" if schema.get("default") in (None, "", []) else json.dumps(schema["default"]).strip('"'),
        "description": parameter.get("description", ""),
    }


def schema_values(schema: dict[str, Any]) -> str:
    """Returns a schema's values in words: an enum, a range, a pattern or a format."""
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    if schema.get("type") == "array":
        return (
            f"repeatable, up to {schema.get('maxItems', 'any number of')} values; each {schema_values(schema['items'])}"
        )
    if "anyOf" in schema:
        return " or ".join(schema_values(s) for s in schema["anyOf"])
    if schema.get("type") == "integer":
        return f"whole number from {schema['minimum']:g} to {schema['maximum']:g}"
    if schema.get("format") == "date":
        return "a date, YYYY-MM-DD"
    if schema.get("maxLength") == 0:
        return "empty"
    if schema.get("pattern", "").startswith("^[^@"):
        return "an email address"
    if "pattern" in schema:
        return "a slug such as croydon (letters, digits, hyphens)"
    return f"text, up to {schema['maxLength']} characters" if "maxLength" in schema else "text"


def body_fields(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, str]]:
    """Returns the fields of a JSON request body, described like the query's arguments."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    schema = resolve(document, content["schema"])
    required = set(schema.get("required", []))
    return [
        describe_parameter(
            {
                "name": name,
                "schema": prop,
                "description": ("required. " if name in required else "") + prop.get("description", ""),
            }
        )
        for name, prop in schema["properties"].items()
    ]


def request_body(document: dict[str, Any], operation: dict[str, Any]) -> str:
    """Returns an example JSON request body, or an empty string."""
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return ""
    schema = resolve(document, content["schema"])
    example = {name: prop.get("example", prop.get("default")) for name, prop in schema["properties"].items()}
    return json.dumps(example, indent=2)


def example_of(document: dict[str, Any], answer: dict[str, Any]) -> str:
    """Returns an answer's example as text: a real JSON body, CSV or Atom document."""
    for content in answer.get("content", {}).values():
        if isinstance(content.get("example"), str):
            return str(content["example"])
        if "example" in content:
            return json.dumps(content["example"], indent=2, ensure_ascii=False)
    return ""


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Returns the schema a $ref points to within the document."""
    ref = schema.get("$ref", "")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema
