"""The read side: index -> query -> pages and JSON. create_app() is the Flask app factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, Response

from search_app.alerts import alerts
from search_app.api import api
from search_app.errors import register_error_handlers
from search_app.exports import exports
from search_app.pages import pages
from search_app.service import SearchIndex

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "INDEX_DIR": str(ROOT / "var" / "index"),
    "CORPUS_DIR": str(ROOT / "corpus"),
    # Email alerts: saved searches and what was sent (search_app/alert_store.py); the key signing their links
    # is CPSEARCH_SECRET_KEY, else one made once beside this file.
    "ALERTS_DB": str(ROOT / "var" / "alerts.sqlite"),
    "JSON_SORT_KEYS": False,
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Returns the app: defaults, then CPSEARCH_INDEX_DIR, _CORPUS_DIR, _ALERTS_DB, _SECRET_KEY, then config."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    for key in ("INDEX_DIR", "CORPUS_DIR", "ALERTS_DB", "SECRET_KEY"):
        if os.environ.get(f"CPSEARCH_{key}"):
            app.config[key] = os.environ[f"CPSEARCH_{key}"]
    app.config.update(config or {})
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["search_index"] = SearchIndex(Path(app.config["INDEX_DIR"]))
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(exports)
    app.register_blueprint(alerts)
    register_error_handlers(app)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
