"""The API's OpenAPI 3.1 document: valid, equal to the copy kept in docs/, with real examples, and honoured by
the app under Schemathesis's fuzzing with every check on."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import Case, CheckContext, GenerationMode, Response

from search_app import create_app
from search_app.contract import EXAMPLES, ErrorBody, ItemBody, SearchBody

KEPT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
# Examples per operation and generation mode (valid and invalid data): seven operations, within CI's time.
EXAMPLES_PER_OPERATION = int(os.environ.get("CPSEARCH_FUZZ_EXAMPLES", "40"))


def served_document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def test_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    document = served_document(client)
    validate(document)  # openapi-spec-validator: raises on anything the 3.1 schema refuses
    assert document["openapi"] == "3.1.0" and document["info"]["version"]
    routes = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == {
        ("/api/search", "get"),
        ("/api/items/{item_id}", "get"),
        ("/api/alerts", "post"),
        ("/search.csv", "get"),
        ("/search.atom", "get"),
        ("/compare.csv", "get"),
    }
    search = document["paths"]["/api/search"]["get"]
    parameters = {p["name"]: p["schema"] for p in search["parameters"]}
    assert parameters["page"]["minimum"] == 1 and parameters["page"]["maximum"] == 500
    assert parameters["per_page"]["maximum"] == 100
    assert parameters["sort"]["enum"] == ["relevance", "date", "oldest"]
    assert set(parameters) >= {"q", "council", "topic", "year", "committee", "doc_type", "from", "to", "expand"}
    assert parameters["semantic"]["enum"] == parameters["respell"]["enum"] and parameters["semantic"]["default"] == "1"


def test_served_document_matches_the_kept_copy(client: FlaskClient) -> None:
    """A change to the contract shows in review as a diff of docs/openapi.json."""
    document = served_document(client)
    kept = json.loads(KEPT.read_text(encoding="utf-8"))
    assert document == kept, "the API changed: run `cpsearch openapi --out docs/openapi.json` and review the diff"


def test_examples_are_real_answers_of_the_corpus(full_client: FlaskClient) -> None:
    """The document's examples validate against their own models and are what the app answers on corpus/."""
    SearchBody.model_validate(EXAMPLES["search"])
    ItemBody.model_validate(EXAMPLES["item"])
    ErrorBody.model_validate(EXAMPLES["error"])
    example = EXAMPLES["item"]
    item = full_client.get(f"/api/items/{example['id']}").get_json()
    assert item["title"] == example["title"] and item["body"].startswith(example["body"].rstrip("…"))
    search = full_client.get("/api/search?q=Staying+Put&council=croydon&per_page=1&semantic=0").get_json()
    assert search["results"][0]["id"] == EXAMPLES["search"]["results"][0]["id"]
    assert full_client.get("/api/search?page=0").get_json() == EXAMPLES["error"]


def test_api_page_documents_every_route_and_parameter(client: FlaskClient) -> None:
    page = client.get("/api")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    document = served_document(client)
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["summary"].rstrip(".") in html
            for parameter in operation.get("parameters", []):
                assert f"<code>{parameter['name']}</code>" in html
    for field in ("email", "frequency", "search"):  # the alert sign-up's body
        assert f"<code>{field}</code>" in html
    assert "one of daily, weekly" in html and "an email address" in html
    assert "whole number from 1 to 500" in html and "one of relevance, date, oldest" in html
    assert "/api/openapi.json" in html and "<script" not in html
    assert 'href="/api"' in client.get("/").get_data(as_text=True)


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    """An SMTP server on loopback that accepts and drops every message, so sign-ups reach their 202."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture(scope="module")
def fuzzed_app(index_dir: Path, corpus_subset: Path, smtp_port: int, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    mail = {
        "CPSEARCH_SMTP_HOST": "127.0.0.1",
        "CPSEARCH_SMTP_PORT": str(smtp_port),
        "CPSEARCH_SMTP_TLS": "none",
        "CPSEARCH_MAIL_FROM": "alerts@papers.test",
        "CPSEARCH_BASE_URL": "http://papers.test",
    }
    config = {"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset), "TESTING": True, "MAIL_ENV": mail}
    alerts_db = tmp_path_factory.mktemp("fuzz") / "alerts.sqlite"
    return create_app({**config, "SECRET_KEY": "fuzz", "ALERTS_DB": str(alerts_db)})


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: Flask) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": EXAMPLES_PER_OPERATION},
            # 400 is accepted for valid data only where the contract says the schema cannot judge it; the
            # check below holds the app to exactly those cases.
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "429"]}},
        }
    )
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed_app, config=config)


SEMANTIC_REFUSALS = {
    "GET /api/search": {"invalid query", "invalid parameter: from"},
    "GET /search.csv": {"invalid query", "invalid parameter: from"},
    "GET /search.atom": {"invalid query", "invalid parameter: from"},
    "GET /compare.csv": {"invalid query", "invalid parameter: from"},
    # The alert's search is a query string inside the body: its own arguments are judged like /api/search's.
    "POST /api/alerts": {"invalid query", "invalid parameter: q", "invalid parameter: from"},
}


@schemathesis.check
def valid_data_refused_only_as_documented(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 400 for data the schema allows must be one of the refusals its 400 response describes."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 400:
        return None
    error = json.loads(response.content)["error"]
    allowed = SEMANTIC_REFUSALS.get(case.operation.label, set())
    if error not in allowed:
        raise AssertionError(f"valid data refused with {error!r}: {json.loads(response.content)['detail']}")
    return True


OPERATIONS = [label.split(" ", 1) for label in SEMANTIC_REFUSALS] + [["GET", "/api/items/{item_id}"]]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(op) for op in OPERATIONS])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_api_fuzzed_with_every_check(api_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    """Schemathesis: no 5xx, statuses and content types as documented, bodies as the schemas say, valid data
    accepted and invalid data refused. A failure prints the request that reproduces it."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def call(case: Case) -> None:
        case.call_and_validate()

    call()
