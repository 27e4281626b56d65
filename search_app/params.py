"""Query-string arguments -> SearchRequest, with one clear message per bad parameter; shared by pages and API."""

from __future__ import annotations

import re
from datetime import date

from werkzeug.datastructures import MultiDict

from indexer.schema import FACET_FIELDS
from search_app.errors import ApiError
from search_app.results import SORTS, SearchRequest

MAX_QUERY_CHARS = 500
MAX_PAGE = 500
MAX_PER_PAGE = 100
MAX_FILTER_VALUES = 20
FILTER_VALUE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
TRUE_WORDS = {"1", "true", "yes", "on"}


def bad_parameter(name: str, detail: str) -> ApiError:
    """Returns the 400 error for one parameter."""
    return ApiError(400, f"invalid parameter: {name}", detail)


def parse_int(args: MultiDict[str, str], name: str, default: int, low: int, high: int) -> int:
    """Returns an integer argument within [low, high]."""
    raw = args.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"\d{1,6}", raw):
        raise bad_parameter(name, f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    value = int(raw)
    if not low <= value <= high:
        raise bad_parameter(name, f"{name} must be from {low} to {high}, not {value}")
    return value


def parse_date(args: MultiDict[str, str], name: str) -> date | None:
    """Returns a YYYY-MM-DD argument as a date."""
    raw = args.get(name, "").strip()
    if not raw:
        return None
    problem = bad_parameter(
        name, f"{name} must be a real date written YYYY-MM-DD, such as 2021-03-03, not {raw[:40]!r}"
    )
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise problem
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise problem from None


def parse_filters(args: MultiDict[str, str]) -> dict[str, list[str]]:
    """Returns facet -> values; values are slugs such as croydon, staying-put or 2021."""
    filters = {}
    for facet in FACET_FIELDS:
        values = [v.strip().lower() for v in args.getlist(facet) if v.strip()]
        if len(values) > MAX_FILTER_VALUES:
            raise bad_parameter(facet, f"at most {MAX_FILTER_VALUES} values of {facet} may be combined")
        for value in values:
            if not FILTER_VALUE.match(value):
                raise bad_parameter(
                    facet, f"{facet} values are slugs of letters, digits and hyphens, not {value[:40]!r}"
                )
        if values:
            filters[facet] = list(dict.fromkeys(values))
    return filters


def parse_search_args(args: MultiDict[str, str]) -> SearchRequest:
    """Returns the SearchRequest a query string asks for; raises ApiError(400) naming a bad parameter."""
    q = args.get("q", "")
    if len(q) > MAX_QUERY_CHARS:
        raise bad_parameter("q", f"the query is {len(q)} characters long; at most {MAX_QUERY_CHARS} are searched")
    sort = args.get("sort", "relevance").strip() or "relevance"
    if sort not in SORTS:
        raise bad_parameter("sort", f"sort must be one of {', '.join(SORTS)}, not {sort[:40]!r}")
    date_from, date_to = parse_date(args, "from"), parse_date(args, "to")
    if date_from and date_to and date_from > date_to:
        raise bad_parameter("from", f"from ({date_from}) is after to ({date_to})")
    return SearchRequest(
        q=q.strip(),
        filters=parse_filters(args),
        date_from=date_from,
        date_to=date_to,
        decisions_only=args.get("decisions", "").strip().lower() in TRUE_WORDS,
        expand=args.get("expand", "1").strip().lower() not in {"0", "false", "no", "off"},
        semantic=args.get("semantic", "1").strip().lower() not in {"0", "false", "no", "off"},
        respell=args.get("respell", "1").strip().lower() not in {"0", "false", "no", "off"},
        sort=sort,
        page=parse_int(args, "page", 1, 1, MAX_PAGE),
        per_page=parse_int(args, "per_page", 20, 1, MAX_PER_PAGE),
    )
