"""Glossary expansion: both ways, original words first, never inside quotes, switchable off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient

from indexer.topics import load_glossary
from search_app.expansion import find_expansions, meaning_text, variant_queries
from search_app.query import plan_query


def test_glossary_is_data_with_enough_entries() -> None:
    glossary = load_glossary()
    assert len(glossary) >= 60
    forms = {form for entry in glossary for form in entry}
    assert {"EET", "NEET", "UASC", "LAC", "CLA", "CiC", "PEP", "IRO", "IHA", "SDQ", "CAMHS", "SEND", "EHCP"} <= forms
    assert {
        "CSE",
        "CCE",
        "YOS",
        "YJS",
        "MASH",
        "CIN",
        "CP",
        "SGO",
        "IFA",
        "PA",
        "staying put",
        "staying close",
        "PLO",
        "ICPC",
        "MARAC",
        "SEMH",
        "FGC",
    } <= forms


def test_acronym_to_phrase_and_back() -> None:
    [neet] = find_expansions("NEET")
    assert "not in education, employment or training" in neet.added
    [long_form] = find_expansions("not in education, employment or training")
    assert "NEET" in long_form.added


def test_quoted_phrases_are_never_expanded() -> None:
    assert find_expansions('"NEET" figures') == []
    [uasc] = find_expansions('UASC "looked after children"')
    assert uasc.term == "UASC"
    assert all('"looked after children"' in v for v in variant_queries('UASC "looked after children"', uasc))


def test_two_letter_acronyms_only_in_capitals() -> None:
    assert find_expansions("pa support") == []
    assert [e.term for e in find_expansions("PA support")] == ["PA"]


def test_the_meaning_encoder_reads_what_an_acronym_stands_for() -> None:
    assert meaning_text("LADO annual report") == "LADO (local authority designated officer) annual report"
    assert meaning_text("lado referrals") == "lado (local authority designated officer) referrals"
    # An acronym that is one of another entry's forms reads as its own entry's long form.
    assert meaning_text("CiC council") == "CiC (children in care) council"
    assert meaning_text("CP plans") == "CP (child protection) plans"
    # Long forms and words that only look like a short acronym are left as typed.
    for typed in ("children in care", "cp plans", "staying put"):
        assert meaning_text(typed) == typed
    # Not twice where the long form is typed too, and never inside quotes.
    assert meaning_text("CIN plans children in need") == "CIN plans children in need"
    assert meaning_text('"LADO" and LADO') == '"LADO" and LADO (local authority designated officer)'
    assert meaning_text("UASC numbers", plan_query("UASC numbers").expansions) != "UASC numbers"
    assert meaning_text("UASC numbers", plan_query("UASC numbers", expand=False).expansions) == "UASC numbers"


def ranked_ids(client: FlaskClient, **args: str) -> list[str]:
    return [r["id"] for r in client.get("/api/search", query_string={"per_page": 100, **args}).get_json()["results"]]


def test_long_forms_found_in_several_councils(full_client: FlaskClient) -> None:
    for query in ("NEET care leavers", "UASC", "LAC health assessments", "staying close"):
        plain = full_client.get("/api/search", query_string={"q": query, "expand": "0", "per_page": 100}).get_json()
        expanded = full_client.get("/api/search", query_string={"q": query, "per_page": 100}).get_json()
        assert expanded["total"] >= plain["total"], query
        # The long forms bring items up: some item on the first page ranks higher than the typed words
        # alone put it, or was not found by them at all.
        before = {item_id: rank for rank, item_id in enumerate(r["id"] for r in plain["results"])}
        raised = [i for rank, i in enumerate(r["id"] for r in expanded["results"][:20]) if before.get(i, 100) > rank]
        assert raised, query
        assert len(expanded["facets"]["council"]) >= 3, query
        assert expanded["expansions"] and not plain["expansions"]


def test_the_form_typed_still_ranks_first(full_client: FlaskClient) -> None:
    for query in ("UASC", "NEET care leavers", "LAC health assessments", "staying close"):
        strict = ranked_ids(full_client, q=" AND ".join(query.split()), expand="0", semantic="0")
        expanded = ranked_ids(full_client, q=query, semantic="0")
        assert expanded[0] in strict, query


def test_page_shows_expansions_and_a_way_to_turn_them_off(client: FlaskClient) -> None:
    html = client.get("/?q=NEET").get_data(as_text=True)
    assert 'id="expansions"' in html and "not in education, employment or training" in html
    assert "expand=0" in html
    plain = client.get("/?q=NEET&expand=0").get_data(as_text=True)
    assert "Searching only for the words typed" in plain


def test_what_a_form_adds_is_in_the_same_order_in_every_process() -> None:
    # The API lists each expansion's additions, and two server workers (each with its own hash seed) must give
    # the same answer, and so the same ETag, for the same query.
    script = (
        "from search_app.expansion import glossary_forms\n"
        "print(repr([(form, others) for _, form, others in glossary_forms()]))"
    )
    answers = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(answers) == 1
