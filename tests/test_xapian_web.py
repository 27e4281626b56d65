"""The pages and the JSON API on the Xapian backend, served from three xapian-tcpsrv shards on loopback:
the same answers as the shards give, item pages, clear refusals, and a 503 naming a shard that is down."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

xapian = pytest.importorskip("xapian")

from test_cluster import free_port, three_shards  # noqa: E402

from indexer.cluster import (  # noqa: E402
    launch,
    load_cluster,
    papers_of,
    start_servers,
    stop_servers,
    sync_cluster,
    tcpsrv_command,
    wait_for_database,
)
from indexer.store import open_index  # noqa: E402
from indexer.xapian_backend import COUNTING_THREADS, XapianSearch  # noqa: E402
from search_app import create_app  # noqa: E402
from search_app.pipeline import close_coverage  # noqa: E402
from search_app.query import plan_query  # noqa: E402
from search_app.ranking import CLOSE_BONUS  # noqa: E402
from search_app.results import SearchRequest  # noqa: E402
from search_app.service import SearchIndex  # noqa: E402
from search_app.xapian_engine import xapian_plan  # noqa: E402
from search_app.xapian_fusion import close_gains  # noqa: E402
from search_app.xapian_service import XapianIndex  # noqa: E402


@pytest.fixture(scope="module")
def served(index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if shutil.which("xapian-tcpsrv") is None:
        pytest.fail("xapian-tcpsrv is not installed: `make test` installs it (apt-get install xapian-tools)")
    reader = open_index(index_dir)
    try:
        papers = papers_of(reader)
    finally:
        reader.close()
    root = tmp_path_factory.mktemp("xapian-web")
    cluster = three_shards(root)
    sync_cluster(cluster, papers)
    servers = start_servers(load_cluster(cluster.file))
    yield {"file": cluster.file, "servers": servers, "root": root}
    stop_servers(servers)


@pytest.fixture
def xapian_app(served: dict[str, Any], index_dir: Path, corpus_subset: Path) -> Flask:
    config = {"BACKEND": "xapian", "CLUSTER_FILE": str(served["file"]), "INDEX_DIR": str(index_dir)}
    config |= {"CORPUS_DIR": str(corpus_subset), "TESTING": True, "ALERTS_DB": str(served["root"] / "alerts.db")}
    return create_app(config)


@pytest.fixture
def whoosh(served: dict[str, Any], index_dir: Path, corpus_subset: Path) -> FlaskClient:
    """The same index served by the Whoosh backend, to compare with."""
    config = {"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset), "TESTING": True}
    return create_app(config | {"ALERTS_DB": str(served["root"] / "alerts-whoosh.db")}).test_client()


def test_the_api_answers_what_the_shards_rank(xapian_app: Flask, served: dict[str, Any]) -> None:
    # One word, meaning off: nothing for the web server to rank again, so the page is the shards' own.
    answer = xapian_app.test_client().get("/api/search?q=fostering&per_page=5&page=2&semantic=0")
    assert answer.status_code == 200, answer.json
    body = answer.json
    shards = XapianSearch([spec.served() for spec in load_cluster(served["file"]).shards])
    expected = shards.search_query(xapian_plan(plan_query("fostering")), limit=5, offset=5)
    assert [hit["id"] for hit in body["results"]] == [item_id for item_id, _ in expected.hits]
    assert body["total"] == expected.total > 5
    assert body["facets"]["council"] == expected.facets["council"]
    assert body["semantic"] is False and body["meaning"]["used"] is False
    assert all(hit["snippet"] for hit in body["results"])


@pytest.mark.parametrize(
    "query",
    ["staying put arrangements for care leavers", "missing children return interviews", "foster carer recruitment"],
)
def test_the_shards_find_the_words_close_together_as_whoosh_does(
    served: dict[str, Any], index_dir: Path, query: str
) -> None:
    # The close-words gain, worked out from positions on the shards (OP_NEAR) and from the Whoosh index's
    # positions, is the same for every candidate, and holds for some and not for others.
    whoosh = SearchIndex(index_dir)
    hits = whoosh.search(SearchRequest(q=query, per_page=60, semantic=False)).hits
    scores = {hit.id: hit.score for hit in hits}
    shards = XapianSearch([spec.served() for spec in load_cluster(served["file"]).shards])
    gains = close_gains(shards, plan_query(query), scores)
    terms = whoosh.terms()
    docnums = {item_id: terms.reader.docnum_of(item_id) for item_id in scores}
    ordered = np.array(sorted(docnums.values()))
    stems = tuple(dict.fromkeys(plan_query(query).words))
    coverage = dict(zip(ordered.tolist(), close_coverage(terms, stems, ordered), strict=True))
    best = max(scores.values())
    expected = {i: CLOSE_BONUS * best * coverage[d] for i, d in docnums.items() if coverage[d] > 0}
    assert gains.keys() == expected.keys()
    assert all(gains[i] == pytest.approx(expected[i]) for i in expected)
    assert 0 < len(expected) < len(scores)


def test_meaning_is_fused_at_the_web_server_as_on_whoosh(xapian_app: Flask, whoosh: FlaskClient) -> None:
    client = xapian_app.test_client()
    # A paraphrase: no paper says it so, and meaning finds the papers that mean it.
    query = "/api/search?q=money for young people leaving the care system&per_page=10"
    shards, embedded = client.get(query).json, whoosh.get(query).json
    assert shards["semantic"] is True and shards["meaning"]["used"] is True
    assert shards["meaning"]["items_ready"] == shards["meaning"]["items"] > 0
    ours = [hit["id"] for hit in shards["results"]]
    theirs = [hit["id"] for hit in embedded["results"]]
    # Word weights differ a little (Xapian's idf, whole-number frequencies), so the same items, not the same order.
    assert len(set(ours[:5]) & set(theirs[:5])) >= 4 and ours[0] in theirs[:3]
    words_only = client.get(query + "&semantic=0").json
    assert [hit["id"] for hit in words_only["results"]] != ours
    # What meaning alone brings in is counted: in the total and in the facets, as on Whoosh.
    assert shards["total"] > words_only["total"]
    assert sum(shards["facets"]["council"].values()) == shards["total"]


@pytest.mark.parametrize("typed", ["LADO annual report", "lado annual report"])
def test_both_backends_give_meaning_an_acronyms_long_form(
    xapian_app: Flask, whoosh: FlaskClient, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    import search_app.service
    import search_app.xapian_service

    encoded: list[str] = []
    for module in (search_app.service, search_app.xapian_service):
        real = module.query_vector
        monkeypatch.setattr(module, "query_vector", lambda text, real=real: encoded.append(text) or real(text))
    for client in (xapian_app.test_client(), whoosh):
        encoded.clear()
        assert client.get("/api/search", query_string={"q": typed}).json["meaning"]["used"] is True
        assert encoded and all("local authority designated officer" in text for text in encoded), encoded
        # Expansions turned off: meaning reads the words as typed, as the words' search does.
        encoded.clear()
        client.get("/api/search", query_string={"q": typed, "expand": "0", "respell": "0"})
        assert encoded == [typed], encoded


def test_meaning_finds_items_where_no_paper_holds_the_words(xapian_app: Flask, whoosh: FlaskClient) -> None:
    client = xapian_app.test_client()
    query = "/api/search?q=juveniles emancipating&respell=0"
    assert client.get(query + "&semantic=0").json["total"] == 0 == whoosh.get(query + "&semantic=0").json["total"]
    ours, theirs = client.get(query).json, whoosh.get(query).json
    assert ours["meaning"]["used"] is True and ours["total"] == theirs["total"] > 0
    assert [hit["id"] for hit in ours["results"][:3]] == [hit["id"] for hit in theirs["results"][:3]]
    assert sum(ours["facets"]["council"].values()) == ours["total"]


def test_newest_first_keeps_what_meaning_brings_in_as_on_whoosh(xapian_app: Flask, whoosh: FlaskClient) -> None:
    client = xapian_app.test_client()
    # Nothing holds these words: every result is meaning's, and sorting by date must not lose them.
    query = "/api/search?q=juveniles emancipating&respell=0&per_page=50&sort=date"
    ours, theirs = client.get(query).json, whoosh.get(query).json
    assert ours["meaning"]["used"] is True and ours["total"] == theirs["total"] > 0
    assert {hit["id"] for hit in ours["results"]} == {hit["id"] for hit in theirs["results"]}
    days = [hit["date"] for hit in ours["results"] if hit["date"]]
    assert len(days) >= 3 and days == sorted(days, reverse=True)
    # With words too: the same items as by relevance, counted the same, in date order.
    mixed = "/api/search?q=money for young people leaving the care system&per_page=100"
    by_relevance, by_date = client.get(mixed).json, client.get(mixed + "&sort=date").json
    words_only = client.get(mixed + "&sort=date&semantic=0").json
    assert by_date["total"] == by_relevance["total"] > words_only["total"]
    assert by_date["facets"]["council"] == by_relevance["facets"]["council"]
    assert by_date["meaning"]["used"] is True


def test_pages_past_the_web_servers_pool_carry_on_in_the_shards_order(
    xapian_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool of 10 at the web server (200 in service), so these few items run past it.
    monkeypatch.setattr("search_app.xapian_service.POOL", 10)
    monkeypatch.setattr("search_app.xapian_fusion.POOL", 10)
    client = xapian_app.test_client()
    pages = [client.get(f"/api/search?q=young people leaving care&per_page=4&page={n}").json for n in range(1, 8)]
    total = pages[0]["total"]
    ids = [hit["id"] for page in pages for hit in page["results"]]
    assert total > 20 and pages[0]["meaning"]["used"] is True
    assert len(ids) == len(set(ids)) == min(total, 28)  # no item twice, none skipped at the pool's end


def test_filters_sort_and_pages_work_on_the_shards(xapian_app: Flask) -> None:
    client = xapian_app.test_client()
    everything = client.get("/api/search?q=fostering&per_page=50").json
    croydon = client.get("/api/search?q=fostering&council=croydon&per_page=50").json
    assert 0 < croydon["total"] == everything["facets"]["council"]["croydon"] < everything["total"]
    assert {hit["council"] for hit in croydon["results"]} == {"croydon"}
    newest = client.get("/api/search?q=fostering&sort=date&per_page=20").json["results"]
    dates = [hit["date"] for hit in newest if hit["date"]]
    assert len(dates) >= 5 and dates == sorted(dates, reverse=True)


def test_the_pages_and_items_are_served_from_the_shards(xapian_app: Flask) -> None:
    client = xapian_app.test_client()
    page = client.get("/?q=staying put")
    assert page.status_code == 200
    first = client.get("/api/search?q=staying put&per_page=1").json["results"][0]
    assert first["item_title"][:30] in page.get_data(as_text=True)
    item = client.get(f"/items/{first['id']}?q=staying put")
    assert item.status_code == 200 and first["item_title"][:30] in item.get_data(as_text=True)
    assert client.get(f"/api/items/{first['id']}").json["id"] == first["id"]
    assert client.get("/api/items/no-such-item").status_code == 404
    index = xapian_app.extensions["search_index"]
    alike = index.more_like(first["id"])
    own = index.get_item(first["id"])
    assert alike and all(other["id"] != first["id"] for other in alike)
    assert {other["doc_id"] for other in index.document_items(own["doc_id"])} == {own["doc_id"]}


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/search?q=fost?r", 400, "trailing *"),
    ],
)
def test_what_this_backend_cannot_do_is_refused_with_a_reason(
    xapian_app: Flask, path: str, status: int, words: str
) -> None:
    answer = xapian_app.test_client().get(path)
    assert answer.status_code == status
    assert words in answer.json["detail"]


def test_cpsearch_serve_serves_the_shards(served: dict[str, Any], index_dir: Path) -> None:
    import http.client
    import json
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from search_app.cli import main; main()", "serve", "--backend", "xapian"]
    command += ["--cluster", str(served["file"]), "--index", str(index_dir), "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", "/api/search?q=fostering")
                answer = connection.getresponse()
                break
            except OSError:
                assert server.poll() is None, "cpsearch serve --backend xapian stopped"
                assert time.monotonic() < deadline, "cpsearch serve --backend xapian did not answer in 60 s"
                time.sleep(0.2)
        assert answer.status == 200
        assert json.loads(answer.read())["total"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "query",
    ["q=fostering", "q=staying put&council=croydon", "q=staying put", "q=LAC", "q=budget&from=2022-01-01"],
)
def test_councils_compare_as_on_whoosh(xapian_app: Flask, whoosh: FlaskClient, query: str) -> None:
    ours = xapian_app.test_client().get(f"/compare.csv?{query}")
    theirs = whoosh.get(f"/compare.csv?{query}")
    assert ours.status_code == theirs.status_code == 200
    assert ours.get_data(as_text=True) == theirs.get_data(as_text=True)
    assert len(ours.get_data(as_text=True).splitlines()) > 1


def test_fuzzy_words_stand_for_the_vocabularys_words_within_their_distance(
    xapian_app: Flask, whoosh: FlaskClient
) -> None:
    client = xapian_app.test_client()
    for query in ("fostr~", "fostr~ carers", "item_title:fostr~", "placment~2"):
        ours = client.get(f"/api/search?q={query}&per_page=50&semantic=0").json
        theirs = whoosh.get(f"/api/search?q={query}&per_page=50&semantic=0").json
        assert ours["total"] == theirs["total"] > 0, query
        assert {hit["id"] for hit in ours["results"]} == {hit["id"] for hit in theirs["results"]}, query
    assert client.get("/api/search?q=fostering").json["total"] >= client.get("/api/search?q=fostr~").json["total"]


def test_misspelt_words_are_corrected_from_the_builds_vocabulary(xapian_app: Flask) -> None:
    client = xapian_app.test_client()
    typed = client.get("/api/search?q=fostring&respell=0").json
    assert typed["total"] == 0 and typed["suggestion"] == "fostering" and typed["showing_results_for"] is None
    rescued = client.get("/api/search?q=fostring").json
    corrected = client.get("/api/search?q=fostering").json
    assert rescued["showing_results_for"] == "fostering" and rescued["query"] == "fostring"
    assert [hit["id"] for hit in rescued["results"]] == [hit["id"] for hit in corrected["results"]]
    assert rescued["total"] == corrected["total"] > 0
    assert client.get("/api/search?q=stayng put&respell=0").json["suggestion"] == "staying put"
    # Words the papers hold, and field searches, are never "corrected".
    for held in ("Staying Put", "xqzvbnm", "item_title:fostring"):
        answer = client.get(f"/api/search?q={held}").json
        assert answer["suggestion"] is None and answer["showing_results_for"] is None


def test_words_no_item_holds_are_named_and_questions_read_as_on_whoosh(xapian_app: Flask, whoosh: FlaskClient) -> None:
    client = xapian_app.test_client()
    for query in (
        "LCWIP care leavers",
        "LCWIP",
        "CLA health assessments",
        "how many care leavers are in EET?",
        "what did we decide about Staying Put?",
        "taxi licensing",
        "SACRE fostring",
        "FOSTRING",
        "Croydon staying put",
    ):
        ours, theirs = (
            client.get("/api/search", query_string={"q": query}).json,
            whoosh.get("/api/search", query_string={"q": query}).json,
        )
        assert ours["missing_words"] == theirs["missing_words"], query
        assert ours["suggestion"] == theirs["suggestion"], query
        assert ours["showing_results_for"] == theirs["showing_results_for"], query
        assert ours["councils_named"] == theirs["councils_named"], query
    assert client.get("/api/search?q=LCWIP care leavers").json["missing_words"] == ["LCWIP"]
    # An acronym is kept as typed while the misspelling beside it is corrected ("SACRE" was searched as "safe").
    beside = client.get("/api/search?q=SACRE fostring").json
    assert beside["showing_results_for"] == "SACRE fostering" and beside["missing_words"] == ["SACRE"]
    asked = client.get("/api/search", query_string={"q": "Staying Put?", "semantic": "0"}).json
    plain = client.get("/api/search", query_string={"q": "Staying Put", "semantic": "0"}).json
    assert asked["total"] == plain["total"] > 1 and asked["results"] == plain["results"]


@pytest.mark.parametrize(
    ("query", "first", "unnamed"),
    [
        ("Croydon staying put", "croydon", "staying put"),
        # Kent's items here match "care leavers EET" weakly: lifted a little, Thurrock's EET paper stays first.
        ("Kent care leavers EET&semantic=0", "thurrock", None),
        ("croydon&semantic=0", "croydon", None),
        # Filtered to two councils: the pool takes in the named one's best matches within the filters.
        ("Croydon staying put&council=kent&council=croydon", "croydon", None),
        # Misspelt: the corrected words' council is lifted, as on Whoosh.
        ("Croydn staying put", "croydon", None),
    ],
)
def test_a_council_named_in_the_words_has_its_items_first_as_on_whoosh(
    xapian_app: Flask, whoosh: FlaskClient, query: str, first: str, unnamed: str | None
) -> None:
    client = xapian_app.test_client()
    ours, theirs = (c.get(f"/api/search?q={query}&per_page=10").json["results"] for c in (client, whoosh))
    assert ours[0]["council"] == theirs[0]["council"] == first
    # Word weights differ a little (Xapian's idf), so the same councils in the first five, not the same order.
    assert sorted(hit["council"] for hit in ours[:5]) == sorted(hit["council"] for hit in theirs[:5])
    if unnamed:
        assert client.get(f"/api/search?q={unnamed}").json["results"][0]["council"] != first


def test_an_ordinary_word_as_a_council_name_is_told_as_on_whoosh(xapian_app: Flask, index_dir: Path) -> None:
    from search_app.service import SearchIndex

    ours, theirs = xapian_app.extensions["search_index"], SearchIndex(index_dir)
    for slug, ordinary in (("croydon", False), ("kent", False), ("fostering", True)):
        assert ours.ordinary_name(slug) == theirs.ordinary_name(slug) == ordinary


def test_an_alert_searches_only_its_new_items_on_the_shards(xapian_app: Flask) -> None:
    from search_app.results import SearchRequest

    index = xapian_app.extensions["search_index"]
    everything = index.search(SearchRequest(q="fostering", per_page=50, semantic=False))
    new = [hit.id for hit in everything.hits[1:4]] + [index.search(SearchRequest(q="budget")).hits[0].id]
    found = index.search_among(SearchRequest(q="fostering"), new)
    assert [hit.id for hit in found.hits] == [hit.id for hit in everything.hits[1:4]]  # the budget item: no
    assert found.total == 3 and sum(found.facets["council"].values()) == 3
    assert index.search_among(SearchRequest(q="fostering"), []).total == 0
    # A council named: its new items are lifted, as a search lifts them.
    staying = [hit.id for hit in index.search(SearchRequest(q="staying put", per_page=50, semantic=False)).hits]
    among = index.search_among(SearchRequest(q="Croydon staying put"), staying)
    assert among.hits[0].council == "croydon" and among.hits[0].id != staying[0]


def test_past_the_exact_count_the_total_and_counts_are_marked_estimates(
    xapian_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = xapian_app.test_client()
    exact = client.get("/api/search?q=care&per_page=5&semantic=0").json
    assert exact["estimated"] is False and sum(exact["facets"]["council"].values()) == exact["total"] > 10
    # Counting stops after 10 matching documents (20,000 in service): a shard-wide estimate, said to be one.
    monkeypatch.setattr("indexer.xapian_backend.COUNT_EXACTLY", 10)
    estimated = client.get("/api/search?q=care&per_page=5&semantic=0").json
    assert estimated["estimated"] is True
    assert [hit["id"] for hit in estimated["results"]] == [hit["id"] for hit in exact["results"]]
    assert 0.5 * exact["total"] <= estimated["total"] <= 2 * exact["total"]
    assert abs(sum(estimated["facets"]["council"].values()) - estimated["total"]) <= len(estimated["facets"]["council"])
    page = client.get("/?q=care&semantic=0").get_data(as_text=True)
    assert "About <strong>" in page
    rare = client.get("/api/search?q=zanzibar OR fostering&per_page=5&semantic=0").json
    assert rare["estimated"] is (rare["total"] > 10)


def test_a_search_the_shards_change_under_is_done_again_and_a_shard_lost_part_way_is_named(
    xapian_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:

    index = xapian_app.extensions["search_index"]
    answer, calls = index.answer, []

    def changed_once(request: SearchRequest) -> Any:
        calls.append(request.q)
        if len(calls) == 1:  # a sync committed between the match and the reading of a document
            raise xapian.DatabaseModifiedError("the revision being read has been discarded")
        return answer(request)

    monkeypatch.setattr(index, "answer", changed_once)
    assert xapian_app.test_client().get("/api/search?q=fostering").json["total"] > 0 and len(calls) == 2

    def lost(request: SearchRequest) -> Any:
        raise xapian.NetworkError("connection reset")

    monkeypatch.setattr(index, "answer", lost)
    failed = xapian_app.test_client().get("/api/search?q=fostering")
    assert failed.status_code == 503 and failed.json["shards"]  # every shard answers now, so all are named


def test_a_shard_that_is_down_gets_a_503_naming_it(xapian_app: Flask, served: dict[str, Any]) -> None:
    spec = load_cluster(served["file"]).shards[2]
    victim = next(s for s in served["servers"] if str(spec.port) in s.args)
    os.killpg(victim.pid, signal.SIGKILL)  # the server and the children serving open connections: a machine down
    victim.wait()
    client = xapian_app.test_client()
    answer = client.get("/api/search?q=fostering")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.json["shards"] == [spec.served().name]
    assert spec.served().name in answer.json["detail"]
    page = client.get("/?q=fostering")
    assert page.status_code == 503 and spec.served().name in page.get_data(as_text=True)


def test_warming_a_worker_leaves_no_connection_open_on_the_shards(served: dict[str, Any], index_dir: Path) -> None:
    # A server worker warms on its main thread, which answers no searches: a connection left open there
    # only idled until each shard's server timed it out and logged "Connection timed out". What may stay
    # open is the counting threads' connections, which the searches use.
    spec = load_cluster(served["file"]).shards[0]
    port = free_port()
    server = launch(tcpsrv_command(spec.host, port, spec.path))

    def connections() -> list[str]:
        """xapian-tcpsrv serves each connection in a child process of its own, which exits once the
        connection closes: returns them once two readings 0.2 s apart agree (within 10 s)."""
        listed = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        seen, deadline = listed.read_text().split(), time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = listed.read_text().split()
            if now == seen:
                break
            seen = now
        return seen

    try:
        wait_for_database(spec.host, port)
        index = XapianIndex([replace(spec.served(), port=port, replicas=())], index_dir)
        index.warm()
        assert index.display_names()["council"]  # warmed: the names were read from the shard
        after_warming = connections()
        assert len(after_warming) <= COUNTING_THREADS
        index.engine.forget()  # drops the warming thread's own connection, if it had kept one
        assert connections() == after_warming
        assert index.search(SearchRequest(q="fostering")).total > 0  # and a search connects again
    finally:
        stop_servers([server])
