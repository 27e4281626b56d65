"""What a person does, in headless Chromium: search, filter, open an item and its source, compare, export.

Every page type is also checked with axe-core: no serious or critical accessibility violations.
Run alone with `pytest -m browser`; `make test` runs them too (and installs Chromium).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

pytestmark = pytest.mark.browser
playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def base_url(index_dir: Path, corpus_subset: Path) -> Iterator[str]:
    from werkzeug.serving import make_server

    from search_app import create_app

    app: Flask = create_app({"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset)})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: `make test` installs it (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: object) -> Iterator[object]:
    # axe is injected as a script; bypass_csp lets the test add it without loosening the app's policy.
    context = browser.new_context(bypass_csp=True, accept_downloads=True)  # type: ignore[attr-defined]
    yield context.new_page()
    context.close()


def serious_violations(page: object) -> list[str]:
    page.add_script_tag(path=str(AXE))  # type: ignore[attr-defined]
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")  # type: ignore[attr-defined]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} – {v['nodes'][0]['target']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_officer_finds_the_croydon_recommendation_in_three_clicks(page: object, base_url: str) -> None:
    page.goto(base_url + "/")  # type: ignore[attr-defined]
    page.fill("#q", "Staying Put")  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    result = page.locator("li.cps-result", has_text="Children in Care Performance Scorecard").first  # type: ignore[attr-defined]
    assert "RECOMMENDATION: To review the Staying Put policy" in result.inner_text()
    result.locator("h2 a").click()  # click 1: the item
    assert "Cite as" in page.inner_text("main")  # type: ignore[attr-defined]
    assert "RECOMMENDATION: To review the Staying Put policy" in page.inner_text(".cps-decisions")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click("#source-link")  # type: ignore[attr-defined]  # click 2: the source
    assert "RECOMMENDATION: To review the Staying Put policy" in page.content()  # type: ignore[attr-defined]


def test_filter_and_remove_a_filter(page: object, base_url: str) -> None:
    page.goto(base_url + "/?q=care+leavers")  # type: ignore[attr-defined]
    total = int(page.get_attribute("#result-count", "data-total"))  # type: ignore[attr-defined]
    croydon = page.locator('[data-facet="council"] li[data-value="croydon"]')  # type: ignore[attr-defined]
    expected = int(croydon.get_attribute("data-count"))
    croydon.locator("a").click()
    assert "council=croydon" in page.url  # type: ignore[attr-defined]
    assert int(page.get_attribute("#result-count", "data-total")) == expected < total  # type: ignore[attr-defined]
    page.click("text=Remove council London Borough of Croydon")  # type: ignore[attr-defined]
    assert int(page.get_attribute("#result-count", "data-total")) == total  # type: ignore[attr-defined]


def test_pdf_result_opens_at_its_page(page: object, base_url: str) -> None:
    page.goto(base_url + "/?q=Challenge+Cards")  # type: ignore[attr-defined]
    link = page.locator("li.cps-result a", has_text="Source, page 2").first  # type: ignore[attr-defined]
    href = link.get_attribute("href")
    assert href.endswith(".pdf#page=2")
    response = page.request.get(base_url + href.split("#")[0])  # type: ignore[attr-defined]
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"


def test_compare_draws_the_chart_and_exports(page: object, base_url: str) -> None:
    page.goto(base_url + "/compare")  # type: ignore[attr-defined]
    page.fill("#q", "care leavers")  # type: ignore[attr-defined]
    page.click("button:has-text('Compare')")  # type: ignore[attr-defined]
    assert page.locator("#compare-table tbody tr").count() >= 5  # type: ignore[attr-defined]
    drawn = "window.Chart !== undefined && Chart.getChart(document.getElementById('mentions-chart')) !== undefined"
    page.wait_for_function(drawn)  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("text=Download this table (CSV)")  # type: ignore[attr-defined]
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("council,council_name,")


def test_search_results_export_as_csv(page: object, base_url: str) -> None:
    page.goto(base_url + "/?q=fostering")  # type: ignore[attr-defined]
    with page.expect_download() as download:  # type: ignore[attr-defined]
        page.click("text=Download these results (CSV)")  # type: ignore[attr-defined]
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("council,") and len(lines) > 2


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=care+leavers&council=croydon",
        "/?q=zzzqqq",
        "/compare?q=care+leavers",
        "/papers/kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf",
        "/items/does-not-exist",
    ],
)
def test_no_serious_accessibility_violations(page: object, base_url: str, path: str) -> None:
    page.goto(base_url + path)  # type: ignore[attr-defined]
    assert serious_violations(page) == []


MAIN_PAGES = [
    "/",
    "/?q=Staying+Put",
    "/?q=zzzqqq",
    "/compare?q=care+leavers",
    "/api",
    "/papers/kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf",
]


@pytest.mark.parametrize("path", MAIN_PAGES)
def test_main_pages_log_no_console_errors_and_describe_themselves(page: object, base_url: str, path: str) -> None:
    """What Lighthouse's best-practices and SEO audits look for: no errors in the console (a missing favicon
    was one on every page), no failed requests, and a meta description."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)  # type: ignore[attr-defined]
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))  # type: ignore[attr-defined]
    page.on(
        "response",
        lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 and r.url != base_url + path else None,
    )  # type: ignore[attr-defined]
    loaded = page.goto(base_url + path, wait_until="networkidle")  # type: ignore[attr-defined]
    assert loaded.status == 200
    icon = page.evaluate("fetch('/favicon.ico').then(r => r.status)")  # type: ignore[attr-defined]
    description = page.locator('meta[name="description"]').get_attribute("content")  # type: ignore[attr-defined]
    assert problems == [] and icon == 200
    assert description and 50 <= len(description) <= 300


def test_item_page_is_accessible(page: object, base_url: str) -> None:
    page.goto(base_url + "/?q=Staying+Put")  # type: ignore[attr-defined]
    page.locator("li.cps-result h2 a").first.click()  # type: ignore[attr-defined]
    assert serious_violations(page) == []


def test_the_accessibility_check_can_fail(page: object) -> None:
    page.set_content('<html lang="en"><body><main><img src="chart.png"><input type="text"></main></body></html>')  # type: ignore[attr-defined]
    found = serious_violations(page)
    assert any(v.startswith("image-alt") for v in found) and any(v.startswith("label") for v in found)


def test_sign_up_and_confirm_an_alert_through_the_pages(page: object, tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from conftest import copy_paper
    from test_alerts import FIRST_PAPERS, Mailbox, free_port, link_in
    from werkzeug.serving import make_server

    from indexer.build import build_index
    from search_app import create_app

    for relpath in FIRST_PAPERS:
        copy_paper(relpath, tmp_path / "corpus")
    build_index(tmp_path / "corpus", tmp_path / "index", embeddings=False)
    mailbox, port = Mailbox(), free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    env = {"CPSEARCH_SMTP_HOST": "127.0.0.1", "CPSEARCH_SMTP_PORT": str(port), "CPSEARCH_SMTP_TLS": "none"}
    app = create_app(
        {
            "INDEX_DIR": str(tmp_path / "index"),
            "CORPUS_DIR": str(tmp_path / "corpus"),
            "ALERTS_DB": str(tmp_path / "alerts.sqlite"),
            "MAIL_ENV": {**env, "CPSEARCH_MAIL_FROM": "alerts@papers.test"},
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        page.goto(base + "/?q=staying+put")  # type: ignore[attr-defined]
        page.click("text=Get an email when new items match this search")  # type: ignore[attr-defined]
        page.fill("#alert-search-email", "councillor@example.org")  # type: ignore[attr-defined]
        page.check("#alert-search-weekly")  # type: ignore[attr-defined]
        page.click("#alert-search button")  # type: ignore[attr-defined]
        assert "If councillor@example.org can receive email" in page.inner_text("#alert-sent")  # type: ignore[attr-defined]
        assert serious_violations(page) == []
        [confirmation] = mailbox.to("councillor@example.org")
        page.goto(base + link_in(confirmation, "/alerts/confirm/"))  # type: ignore[attr-defined]
        assert serious_violations(page) == []
        page.click("#confirm-alert")  # type: ignore[attr-defined]
        assert "You will get an email each week" in page.inner_text("#alert-confirmed")  # type: ignore[attr-defined]
        page.click("text=Manage your alerts")  # type: ignore[attr-defined]
        assert "“staying put”" in page.inner_text("#alerts")  # type: ignore[attr-defined]
        assert serious_violations(page) == []
    finally:
        server.shutdown()
        server.server_close()
        smtp.stop()
