"""Query-string arguments -> SearchRequest, shared by pages, exports and API: one pydantic model that
validates them with one clear message per bad argument, and that flask-openapi3 describes in
/api/openapi.json, so the document cannot drift from what the routes accept."""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Annotated, Any, Literal

from flask import Response, jsonify
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema
from werkzeug.datastructures import MultiDict

from indexer.schema import FACET_FIELDS
from search_app.errors import ApiError
from search_app.results import SearchRequest

MAX_QUERY_CHARS = 500
MAX_PAGE = 500
MAX_PER_PAGE = 100
MAX_FILTER_VALUES = 20
SLUG = r"^([A-Za-z0-9][A-Za-z0-9-]{0,79})?$"
ON_WORDS = ("1", "true", "yes", "on")
OFF_WORDS = ("0", "false", "no", "off")
# JSON schemas of the arguments already built, by model and model_json_schema's arguments.
SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


def whole_number(name: str, low: int, high: int) -> BeforeValidator:
    """Returns a validator of an integer argument within [low, high], with a message naming it."""

    def check(raw: Any) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and re.fullmatch(r"[0-9]{1,6}", raw):
            value = int(raw)
        else:
            raise ValueError(f"must be a whole number from {low} to {high}, not {str(raw)[:40]!r}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, not {value}")
        return value

    return BeforeValidator(check)


def day_or_empty(raw: Any) -> date | None:
    """Returns a YYYY-MM-DD argument as a date; an empty one (a date box left blank) is no date."""
    if raw is None or raw == "" or isinstance(raw, date):
        return raw or None
    problem = ValueError(f"must be a real date written YYYY-MM-DD, such as 2021-03-03, not {str(raw)[:40]!r}")
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise problem
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise problem from None


def filter_values(raw: Any) -> list[str]:
    """Returns the slugs of one facet, lower-cased, without blanks (a select's "any") or repeats."""
    values = [raw] if isinstance(raw, str) else list(raw or [])
    if len(values) > MAX_FILTER_VALUES:
        raise ValueError(f"takes at most {MAX_FILTER_VALUES} values")
    for value in values:
        if not isinstance(value, str) or not re.fullmatch(SLUG, value):
            raise ValueError(f"values are slugs of letters, digits and hyphens, not {str(value)[:40]!r}")
    return list(dict.fromkeys(v.lower() for v in values if v))


def flag(default: bool) -> BeforeValidator:
    """Returns a validator of an on/off argument (1/0, true/false, yes/no, on/off)."""

    def check(raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        if raw in ON_WORDS:
            return True
        if raw in OFF_WORDS:
            return False
        raise ValueError(f"must be 1 or 0 (or true/false, yes/no, on/off), not {str(raw)[:40]!r}")

    return BeforeValidator(check)


def no_default(schema: dict[str, Any]) -> None:
    """Leaves an argument's default out of the document: "no date" is not a value a client can send."""
    schema.pop("default", None)


Day = Annotated[
    date | None,
    BeforeValidator(day_or_empty),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}),
]
Flag = Annotated[bool, WithJsonSchema({"type": "string", "enum": [*ON_WORDS, *OFF_WORDS]})]
Filter = Annotated[
    list[str],
    BeforeValidator(filter_values),
    WithJsonSchema({"type": "array", "items": {"type": "string", "pattern": SLUG}, "maxItems": MAX_FILTER_VALUES}),
]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE), whole_number("page", 1, MAX_PAGE)]
PerPage = Annotated[int, Field(ge=1, le=MAX_PER_PAGE), whole_number("per_page", 1, MAX_PER_PAGE)]


class SearchParams(BaseModel):
    """The arguments of a search, shared by /, /compare, the exports and /api/search."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    q: str = Field(
        "",
        max_length=MAX_QUERY_CHARS,
        description='Words to find. Quotes for a phrase ("staying put"), AND, OR, NOT, field:value '
        "(council:kent, title:fostering, date:[2021 TO 2022]), word* and word~ for spellings.",
        json_schema_extra={"example": "Staying Put"},
    )
    council: Filter = Field(
        [], description="Council slugs; values of one facet are ORed.", json_schema_extra={"example": ["croydon"]}
    )
    topic: Filter = Field(
        [], description="Topic slugs from the taxonomy.", json_schema_extra={"example": ["staying-put"]}
    )
    year: Filter = Field([], description="Meeting years, or undated.", json_schema_extra={"example": ["2021"]})
    committee: Filter = Field(
        [], description="Committee slugs.", json_schema_extra={"example": ["corporate-parenting-panel"]}
    )
    doc_type: Filter = Field(
        [], description="agenda, minutes, report, appendix, agenda-pack, item-page, decision and more."
    )
    date_from: Day = Field(
        None, alias="from", description="Meetings on or after this day; not after `to`.", json_schema_extra=no_default
    )
    date_to: Day = Field(None, alias="to", description="Meetings on or before this day.", json_schema_extra=no_default)
    decisions: Annotated[Flag, flag(False)] = Field(
        False, description="Only items that record a decision.", json_schema_extra={"default": "0"}
    )
    sort: Literal["relevance", "date", "oldest"] = Field("relevance", description="Best first, newest or oldest.")
    page: Page = Field(1, description=f"Page of results, 1 to {MAX_PAGE}.")
    per_page: PerPage = Field(20, description=f"Results a page, 1 to {MAX_PER_PAGE}.")
    expand: Annotated[Flag, flag(True)] = Field(
        True, description="Also match the glossary's equivalents (LAC).", json_schema_extra={"default": "1"}
    )
    semantic: Annotated[Flag, flag(True)] = Field(
        True, description="Also rank in items close in meaning.", json_schema_extra={"default": "1"}
    )
    respell: Annotated[Flag, flag(True)] = Field(
        True, description="Show a corrected spelling's results.", json_schema_extra={"default": "1"}
    )

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Returns pydantic's JSON schema of the arguments, worked out once: flask-openapi3 asks for it on every
        request to see which arguments are lists, and building it took 1.8 ms of CPU each time, against 0.1 ms for
        a copy of the one kept (a copy, so no caller can change it)."""
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in SCHEMAS:
            SCHEMAS[key] = super().model_json_schema(*args, **kwargs)
        return copy.deepcopy(SCHEMAS[key])

    def to_request(self) -> SearchRequest:
        """Returns the SearchRequest these arguments ask for; raises ApiError(400) when from is after to."""
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ApiError(400, "invalid parameter: from", f"from ({self.date_from}) is after to ({self.date_to})")
        return SearchRequest(
            q=self.q.strip(),
            filters={facet: getattr(self, facet) for facet in FACET_FIELDS if getattr(self, facet)},
            date_from=self.date_from,
            date_to=self.date_to,
            decisions_only=self.decisions,
            expand=self.expand,
            semantic=self.semantic,
            respell=self.respell,
            sort=self.sort,
            page=self.page,
            per_page=self.per_page,
        )


def invalid_arguments(exc: ValidationError) -> ApiError:
    """Returns the 400 for a request pydantic refused, naming the first bad argument."""
    first = exc.errors(include_url=False)[0]
    name = ".".join(str(part) for part in first["loc"]) or "body"
    detail = first["msg"].removeprefix("Value error, ")
    if first["type"] == "string_too_long" and name == "q":
        detail = f"the query is {len(str(first['input']))} characters long; at most {MAX_QUERY_CHARS} are searched"
    elif first["type"] == "literal_error":
        detail = f"must be one of {first['ctx']['expected'].replace(chr(39), '')}, not {str(first['input'])[:40]!r}"
    elif first["type"] == "string_pattern_mismatch" and name == "email":
        return bad_parameter("email", "enter an email address such as name@example.org")
    elif first["type"] == "model_type":
        example = '{"email": "...", "frequency": "weekly", "search": "q=Staying+Put"}'
        return ApiError(400, "invalid body", f"send a JSON object such as {example}")
    # The app's own messages read on from the argument's name ("page must be from 1 to 500, not 0");
    # pydantic's ("Field required") follow a colon, as does the query's length.
    own = first["type"] in ("value_error", "literal_error")
    return bad_parameter(name, f"{name} {detail}" if own else f"{name}: {detail}")


def bad_parameter(name: str, detail: str) -> ApiError:
    """Returns the 400 error for one parameter."""
    return ApiError(400, f"invalid parameter: {name}", detail)


def parse_search_args(args: MultiDict[str, str]) -> SearchRequest:
    """Returns the SearchRequest a page's query string (or a saved alert's search) asks for; raises
    ApiError(400) naming a bad argument.

    People's URLs are read as forgivingly as before the API had a contract: values are trimmed (a date
    typed with a space), a blank sort or page is the default, and on/off words are read in any case, an
    unknown word meaning the default. The API's routes validate the exact contract instead.
    """
    values: dict[str, Any] = {}
    for name, field in SearchParams.model_fields.items():
        key = field.alias or name
        if key not in args:
            continue
        if name in FACET_FIELDS:
            values[key] = [value.strip() for value in args.getlist(key)]
        elif name in FORGIVEN_FLAGS:
            values[key] = forgiven_flag(args[key], bool(field.default))
        elif args[key].strip() or name in ("q", "date_from", "date_to"):
            values[key] = args[key].strip() if name != "q" else args[key]
    try:
        return SearchParams.model_validate(values).to_request()
    except ValidationError as exc:
        raise invalid_arguments(exc) from None


# The on/off arguments, read by the pages as they always have been: on unless turned off where the default
# is on (expand, semantic, respell), off unless asked for where it is off (decisions).
FORGIVEN_FLAGS = ("decisions", "expand", "semantic", "respell")


def forgiven_flag(raw: str, default: bool) -> str:
    """Returns an on/off word as 1 or 0, reading it in any case; an unknown word gives the default."""
    word = raw.strip().lower()
    if default:
        return "0" if word in OFF_WORDS else "1"
    return "1" if word in ON_WORDS else "0"


def refused_arguments(exc: ValidationError) -> Response:
    """flask-openapi3's answer to a request its models refused: the API's one error shape, a 400."""
    refused = invalid_arguments(exc)
    response = jsonify({"error": refused.error, "detail": refused.detail})
    response.status_code = refused.status
    return response
