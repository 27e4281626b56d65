"""ApiError and the handlers: {"error", "detail"} JSON under /api, error.html elsewhere."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from indexer.xapian_backend import ShardDown
from search_app.results import QueryError


class ApiError(Exception):
    """An error answered to the client with a status, a short error and a detail it can act on."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


# Programs read these: the exports answer errors as JSON like the API does.
JSON_PATHS = ("/api/", "/search.csv", "/search.atom", "/compare.csv")


def error_response(status: int, error: str, detail: str) -> tuple[Response | str, int]:
    """Returns JSON for the API and the exports, and the error page for everything else."""
    if request.path.startswith(JSON_PATHS):
        return jsonify({"error": error, "detail": detail}), status
    return render_template("error.html", status=status, error=error, detail=detail), status


def register_error_handlers(app: Flask) -> None:
    """Installs one handler per kind of failure; none of them shows a stack trace."""

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> tuple[Response | str, int]:
        return error_response(exc.status, exc.error, exc.detail)

    @app.errorhandler(QueryError)
    def handle_query_error(exc: QueryError) -> tuple[Response | str, int]:
        return error_response(400, "invalid query", str(exc))

    @app.errorhandler(ShardDown)
    def handle_shard_down(exc: ShardDown) -> tuple[Response | str, int, dict[str, str]]:
        # Never an answer with some councils silently missing: say which shards did not answer.
        detail = f"these shards of the index are not answering: {', '.join(exc.shards)}; try again shortly"
        if request.path.startswith(JSON_PATHS):
            body = jsonify({"error": "shards unavailable", "detail": detail, "shards": exc.shards})
            return body, 503, {"Retry-After": "30"}
        page = render_template("error.html", status=503, error="part of the index is unavailable", detail=detail)
        return page, 503, {"Retry-After": "30"}

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> tuple[Response | str, int, dict[str, str]]:
        # Keep what the exception says about the resource, such as a 405's Allow header.
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        body, status = error_response(exc.code or 500, (exc.name or "error").lower(), exc.description or "")
        return body, status, headers

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> tuple[Response | str, int]:
        app.logger.exception("unhandled error on %s", request.path)
        return error_response(500, "internal error", "the server could not answer; the error has been logged")
