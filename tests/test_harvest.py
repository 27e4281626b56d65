"""cpsearch harvest against the replay server: real ModernGov and CMIS answers, constructed failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from replay import (
    Site,
    birmingham,
    croydon_html,
    firewalled,
    gloucester,
    manchester,
    moved_to,
    serve_sites,
    unresponsive,
)

from search_app import create_app
from search_app.cli import main

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--delay", "0", "--timeout", "1", "--retries", "2", "--backoff", "0.01"]
RUNS = {
    "gloucester": ["--committee", "Cabinet", "--since", "2025-11-15", "--until", "2025-11-30"],
    "manchester": ["--committee", "Audit Committee", "--since", "2026-01-01", "--until", "2026-02-28"],
    "birmingham": ["--committee", "Licensing Sub-Committee", "--since", "2026-06-01", "--until", "2026-06-30"],
    "croydon": ["--committee", "Corporate Parenting", "--since", "2021-01-01", "--until", "2021-12-31"],
}


def point_at(corpus: Path, slug: str, system: str, base_url: str, name: str = "") -> None:
    """Writes the council's portal into council.json, as a user correcting the registry would."""
    folder = corpus / slug
    folder.mkdir(parents=True, exist_ok=True)
    data = {"portal": {"system": system, "base_url": base_url}} | ({"name": name} if name else {})
    (folder / "council.json").write_text(json.dumps(data), encoding="utf-8")


def harvest(corpus: Path, index: Path, council: str, *extra: str) -> tuple[int, list[str]]:
    args = ["harvest", "--council", council, "--corpus", str(corpus), "--index", str(index), *FAST, *extra]
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output.splitlines()


@pytest.fixture(scope="module")
def sites():
    with serve_sites(
        gloucester=Site(gloucester),
        manchester=Site(manchester),
        birmingham=Site(birmingham),
        croydon=Site(croydon_html),
        walled=Site(firewalled),
        silent=Site(unresponsive),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def harvested(sites, tmp_path_factory):
    """One corpus harvested from every replayed site, then indexed; returns (corpus, index, outputs)."""
    corpus, index = tmp_path_factory.mktemp("corpus"), tmp_path_factory.mktemp("index") / "index"
    point_at(corpus, "gloucester", "moderngov", sites["gloucester"].url, "Gloucester City Council")
    point_at(corpus, "manchester", "moderngov", sites["manchester"].url, "Manchester City Council")
    point_at(corpus, "birmingham", "cmis", sites["birmingham"].url + "/birmingham/Councillors.aspx")
    point_at(corpus, "croydon", "moderngov", sites["croydon"].url, "London Borough of Croydon")
    outputs = {slug: harvest(corpus, index, slug, *args) for slug, args in RUNS.items()}
    return corpus, index, outputs


def sidecar(path: Path) -> dict:
    return json.loads(Path(str(path) + ".meta.json").read_text(encoding="utf-8"))


def api(index: Path, corpus: Path, **params: str) -> dict:
    client = create_app({"INDEX_DIR": str(index), "CORPUS_DIR": str(corpus), "TESTING": True}).test_client()
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_gloucester_meeting_is_dated_and_searchable_with_its_decision(harvested) -> None:
    corpus, index, outputs = harvested
    code, lines = outputs["gloucester"]
    assert code == 0, lines
    meeting = corpus / "gloucester/harvested/cabinet/2025-11-21_7837/meeting.xml"
    meta = sidecar(meeting)
    assert (meta["committee"], meta["date"], meta["doc_type"]) == ("Cabinet", "2025-11-21", "meeting-page")
    assert meta["source_url"].endswith("/mgWebService.asmx/GetMeeting?lMeetingId=7837") and meta["fetched_at"]
    found = api(index, corpus, q="Local Government Reorganisation", council="gloucester")
    # The agenda item and its report PDF are one item (same meeting, same title): one result, both sources.
    meeting_relpath = "gloucester/harvested/cabinet/2025-11-21_7837/meeting.xml"
    hit = next(
        r for r in found["results"] if meeting_relpath in [r["source"]] + [o["source"] for o in r["other_sources"]]
    )
    assert (hit["date"], hit["committee_name"], hit["council_name"]) == (
        "2025-11-21",
        "Cabinet",
        "Gloucester City Council",
    )
    copy_id = (
        hit["id"]
        if hit["source"] == meeting_relpath
        else next(o["id"] for o in hit["other_sources"] if o["source"] == meeting_relpath)
    )
    client = create_app({"INDEX_DIR": str(index), "CORPUS_DIR": str(corpus), "TESTING": True}).test_client()
    item = client.get(f"/api/items/{copy_id}").get_json()
    assert any("to submit to Government the Greater Gloucester" in d for d in item["decisions"]), item["decisions"]
    assert item["source_url"].endswith("GetMeeting?lMeetingId=7837") and item["date"] == "2025-11-21"


def test_documents_land_with_sidecars_and_open_at_their_page(harvested) -> None:
    corpus, index, _ = harvested
    report = corpus / "gloucester/harvested/cabinet/2025-11-21_7837"
    pdf = next(report.glob("65412_*.pdf"))
    meta = sidecar(pdf)
    assert meta["title"] == "Final proposals for Local Government Reorganisation in Gloucestershire"
    assert meta["date"] == "2025-11-21" and meta["harvest"]["meeting_id"] == "7837"
    found = api(index, corpus, q="Head of Paid Service", council="gloucester")
    hit = next(r for r in found["results"] if r["source"] == pdf.relative_to(corpus).as_posix())
    assert hit["date"] == "2025-11-21" and hit["source_link"].endswith(".pdf#page=1")
    client = create_app({"INDEX_DIR": str(index), "CORPUS_DIR": str(corpus), "TESTING": True}).test_client()
    with client.get(hit["source_link"].split("#")[0]) as served:
        assert served.status_code == 200 and served.data.startswith(b"%PDF-")


def test_manchester_minutes_are_dated_from_the_service(harvested) -> None:
    corpus, index, outputs = harvested
    assert outputs["manchester"][0] == 0
    found = api(index, corpus, q="correct record", council="manchester")
    item = next(r for r in found["results"] if r["source"].endswith("2026-02-10_4967/meeting.xml"))
    assert (item["date"], item["committee_name"]) == ("2026-02-10", "Audit Committee")


def test_cancelled_meetings_are_not_fetched_and_5xx_is_retried(sites, harvested) -> None:
    paths = sites["manchester"].paths()
    assert not any("lMeetingId=4966" in p for p in paths)
    # The work programme answered 503 first and came on the retry.
    assert paths.count("/mgConvert2PDF.aspx?ID=60909") == 2
    corpus = harvested[0]
    assert list((corpus / "manchester/harvested/audit-committee/2026-02-10_4967").glob("60909_*.pdf"))


def test_every_failure_is_one_line_and_the_rest_is_harvested(sites, harvested) -> None:
    corpus, _, outputs = harvested
    lines = outputs["gloucester"][1] + outputs["birmingham"][1]
    failed = [line for line in lines if line.startswith("failed:")]
    assert any("ID=65414" in line and "truncated PDF" in line for line in failed), failed
    assert any("ID=65415" in line and "text/html page" in line for line in failed), failed
    assert any("def456" in line and "HTTP 503" in line for line in failed), failed
    assert any("xyz789" in line and "robots.txt disallows" in line for line in failed), failed
    assert len(failed) == 4
    assert "gloucester: 1 meetings seen, 1 fetched, 0 unchanged; 5 documents fetched, 0 already held, 2 failed" in lines
    # 4xx is never retried; robots.txt is read before anything else; a disallowed path is never asked for.
    assert sites["gloucester"].paths()[0] == "/robots.txt"
    assert not any("xyz789" in p for p in sites["birmingham"].paths())
    assert not list(corpus.rglob("*65414*")) and not list(corpus.rglob("*65415*"))


def test_cmis_meetings_come_from_the_month_calendar(harvested) -> None:
    corpus, _, outputs = harvested
    code, lines = outputs["birmingham"]
    assert code == 0, lines
    meetings = sorted(
        p.parent.relative_to(corpus).as_posix() for p in corpus.glob("birmingham/harvested/*/*/meeting.html")
    )
    assert meetings == [
        "birmingham/harvested/licensing-sub-committee-a/2026-06-08_15028",
        "birmingham/harvested/licensing-sub-committee-b/2026-06-09_15029",
        "birmingham/harvested/licensing-sub-committee-b/2026-06-09_15030",
    ]
    meta = sidecar(corpus / meetings[0] / "meeting.html")
    assert (meta["committee"], meta["date"]) == ("Licensing Sub-Committee A", "2026-06-08")
    assert "birmingham: 3 meetings seen, 3 fetched, 0 unchanged; 2 documents fetched, 0 already held, 2 failed" in lines


def test_moderngov_html_pages_when_the_service_is_off(harvested) -> None:
    corpus, index, outputs = harvested
    code, lines = outputs["croydon"]
    assert code == 0 and any("did not answer with XML" in line for line in lines), lines
    found = api(index, corpus, q='"Staying Put"', council="croydon")
    item = next(r for r in found["results"] if r["source"].startswith("croydon/harvested/"))
    assert (item["date"], item["committee_name"]) == ("2021-03-03", "Corporate Parenting Panel")
    assert any(d.startswith("RECOMMENDATION") for d in item["decisions"])


def test_requests_are_polite(sites, harvested, tmp_path) -> None:
    for site in sites.values():
        assert all(agent.startswith("CouncilPapersSearch/") for _, _, agent in site.log)
    point_at(tmp_path, "manchester", "moderngov", sites["manchester"].url)
    site, start = sites["manchester"], len(sites["manchester"].log)
    args = ["harvest", "--council", "manchester", "--corpus", str(tmp_path), "--no-index", "--delay", "0.2"]
    result = CliRunner().invoke(main, args + RUNS["manchester"] + ["--backoff", "0.01"])
    assert result.exit_code == 0, result.output
    times = [t for t, _, _ in site.log[start:]]
    assert len(times) >= 5
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.19


def test_firewall_and_silence_block_the_council_without_escalating(sites, tmp_path) -> None:
    point_at(tmp_path, "walled", "moderngov", sites["walled"].url, "Walled Council")
    point_at(tmp_path, "silent", "moderngov", sites["silent"].url, "Silent Council")
    walled_code, walled = harvest(tmp_path, tmp_path / "index", "walled")
    args = ["--timeout", "0.3"]
    silent_code, silent = harvest(tmp_path, tmp_path / "index", "silent", *args)
    assert walled_code == 1 and any(line.startswith("blocked: walled: HTTP 403 with a firewall") for line in walled)
    assert len(sites["walled"].log) == 1  # one 403 and nothing more
    assert silent_code == 1 and any(line.startswith("blocked: silent:") and "timed out" in line for line in silent)
    assert len(sites["silent"].log) == 2  # robots.txt, tried twice


def test_a_moved_base_url_is_followed_and_saved(sites, tmp_path) -> None:
    with serve_sites(old=Site(moved_to(sites["manchester"]))) as old:
        point_at(tmp_path, "manchester", "moderngov", old["old"].url, "Manchester City Council")
        code, lines = harvest(tmp_path, tmp_path / "index", "manchester", "--no-index", *RUNS["manchester"])
    assert code == 0, lines
    assert any(line.startswith("note: manchester: base URL") and "moved to" in line for line in lines), lines
    saved = json.loads((tmp_path / "manchester/council.json").read_text())
    assert saved["portal"]["base_url"] == sites["manchester"].url
    assert list(tmp_path.glob("manchester/harvested/audit-committee/2026-02-10_4967/60860_*.pdf"))


def test_a_rerun_fetches_nothing_already_held(sites, harvested) -> None:
    corpus, index, _ = harvested
    site, start = sites["gloucester"], len(sites["gloucester"].log)
    code, lines = harvest(corpus, index, "gloucester", *RUNS["gloucester"])
    again = site.paths()[start:]
    assert "gloucester: 1 meetings seen, 0 fetched, 1 unchanged; 0 documents fetched, 5 already held, 2 failed" in lines
    # Only the two documents that failed are asked for again.
    assert sorted(p for p in again if "mgConvert2PDF" in p) == [
        "/mgConvert2PDF.aspx?ID=65414",
        "/mgConvert2PDF.aspx?ID=65415",
    ]
    manchester_start = len(sites["manchester"].log)
    harvest(corpus, index, "manchester", *RUNS["manchester"])
    # A whole meeting older than the trailing window is not asked for again.
    assert not any("GetMeeting?" in p for p in sites["manchester"].paths()[manchester_start:])


def tree(corpus: Path) -> dict[str, object]:
    """Returns every file below corpus with its bytes, sidecars without their fetch time."""
    files: dict[str, object] = {}
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.name != ".harvest-ledger.json":
            if path.name.endswith(".meta.json"):
                data = json.loads(path.read_text(encoding="utf-8"))
                data.pop("fetched_at")
                files[path.relative_to(corpus).as_posix()] = data
            else:
                files[path.relative_to(corpus).as_posix()] = path.read_bytes()
    return files


def run_cli(args: list[str]) -> subprocess.Popen:
    code = "import sys; from search_app.cli import main; sys.exit(main())"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output.decode()


def test_a_killed_harvest_resumes_with_nothing_lost_or_doubled(tmp_path) -> None:
    with serve_sites(site=Site(gloucester)) as running:
        site = running["site"]
        whole, resumed = tmp_path / "whole", tmp_path / "resumed"
        for corpus in (whole, resumed):
            point_at(corpus, "gloucester", "moderngov", site.url, "Gloucester City Council")
        args = ["harvest", "--council", "gloucester", "--no-index", "--backoff", "0.01", "--retries", "2"]
        args += ["--delay", "0.3", *RUNS["gloucester"]]
        finish(run_cli([*args, "--corpus", str(whole)]))
        start = len(site.log)
        killed = run_cli([*args, "--corpus", str(resumed)])
        deadline = time.monotonic() + 30
        while sum("mgConvert2PDF" in p for p in site.paths()[start:]) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
        held = json.loads((resumed / "gloucester/.harvest-ledger.json").read_text())["documents"]
        assert 1 <= len(held) < 5
        restart = len(site.log)
        finish(run_cli([*args, "--corpus", str(resumed)]))
    asked_again = site.paths()[restart:]
    for key in held:
        assert f"/mgConvert2PDF.aspx?ID={key}" not in asked_again
    assert tree(resumed) == tree(whole)
    assert not list(resumed.rglob(".*.part"))
    assert len(json.loads((resumed / "gloucester/.harvest-ledger.json").read_text())["documents"]) == 5


def test_the_same_file_under_two_ids_is_kept_once(tmp_path) -> None:
    def twin(path: str, query: dict[str, str], hit: int):
        # Constructed: attachment 65417 serves exactly the bytes of 65416.
        if query.get("id") == "65417":
            query = {**query, "id": "65416"}
        return gloucester(path, query, hit)

    with serve_sites(site=Site(twin)) as running:
        point_at(tmp_path, "gloucester", "moderngov", running["site"].url, "Gloucester City Council")
        code, lines = harvest(tmp_path, tmp_path / "index", "gloucester", "--no-index", *RUNS["gloucester"])
    assert "gloucester: 1 meetings seen, 1 fetched, 0 unchanged; 4 documents fetched, 1 already held, 2 failed" in lines
    ledger = json.loads((tmp_path / "gloucester/.harvest-ledger.json").read_text())["documents"]
    assert ledger["65417"]["path"] == ledger["65416"]["path"]
    assert not list(tmp_path.rglob("65417_*"))
