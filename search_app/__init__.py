"""The read side: index -> query -> pages and JSON. create_app() is the Flask app factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_openapi3 import OpenAPI

from search_app.alerts import alerts, alerts_api
from search_app.api import api
from search_app.contract import INFO, SERVERS, ErrorBody
from search_app.errors import JSON_PATHS, register_error_handlers
from search_app.exports import exports
from search_app.pages import pages
from search_app.params import refused_arguments
from search_app.service import SearchIndex
from search_app.site import site
from search_app.xapian_service import XapianIndex, open_cluster

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "INDEX_DIR": str(ROOT / "var" / "index"),
    "CORPUS_DIR": str(ROOT / "corpus"),
    # Email alerts: saved searches and what was sent (search_app/alert_store.py); the key signing their links
    # is CPSEARCH_SECRET_KEY, else one made once beside this file.
    "ALERTS_DB": str(ROOT / "var" / "alerts.sqlite"),
    "JSON_SORT_KEYS": False,
    # "whoosh" (the embedded index in INDEX_DIR) or "xapian" (the shards CLUSTER_FILE names; issue 21).
    "BACKEND": "whoosh",
    "CLUSTER_FILE": str(ROOT / "var" / "cluster.json"),
}
BACKENDS = ("whoosh", "xapian")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def open_search_index(config: dict[str, Any]) -> SearchIndex | XapianIndex:
    """Returns the search service of the configured backend; ValueError naming the choices otherwise."""
    if config["BACKEND"] == "xapian":
        return open_cluster(Path(config["CLUSTER_FILE"]), Path(config["INDEX_DIR"]))
    if config["BACKEND"] != "whoosh":
        raise ValueError(f"unknown backend {config['BACKEND']!r}: choose one of {', '.join(BACKENDS)}")
    return SearchIndex(Path(config["INDEX_DIR"]))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Returns the app: defaults, then CPSEARCH_INDEX_DIR, _CORPUS_DIR, _ALERTS_DB, _SECRET_KEY, _BACKEND,
    _CLUSTER_FILE, then config."""
    # flask-openapi3's Flask: the API blueprints' routes declare their arguments and answers as pydantic
    # models, validated on each request and described in /api/openapi.json. Its own UI pages are off:
    # /api is this app's page, with no script from elsewhere.
    app = OpenAPI(
        __name__,
        info=INFO,
        servers=SERVERS,
        doc_ui=False,
        validation_error_status=400,
        validation_error_model=ErrorBody,
        validation_error_callback=refused_arguments,
    )
    app.config.update(DEFAULTS)
    for key in ("INDEX_DIR", "CORPUS_DIR", "ALERTS_DB", "SECRET_KEY", "BACKEND", "CLUSTER_FILE"):
        if os.environ.get(f"CPSEARCH_{key}"):
            app.config[key] = os.environ[f"CPSEARCH_{key}"]
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["search_index"] = open_search_index(app.config)
    app.register_blueprint(pages)
    app.register_api(api)
    app.register_api(exports)
    app.register_blueprint(alerts)
    app.register_blueprint(site)
    app.register_api(alerts_api)
    register_error_handlers(app)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.after_request
    def answer_repeated_fetches(response: Response) -> Response:
        """API and export answers carry an ETag; a client that sends it back gets a 304 with no body."""
        if request.method in ("GET", "HEAD") and response.status_code == 200 and request.path.startswith(JSON_PATHS):
            response.add_etag()
            response.headers.setdefault("Cache-Control", "no-cache")
            response.make_conditional(request)
        return response

    return app
