"""Email alerts end to end, against a real SMTP server on loopback (aiosmtpd): sign up, confirm, the digest
after new papers are indexed, unsubscribe, refusals, a killed run, and hostile input."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from conftest import ROOT, copy_paper
from flask import Flask
from flask.testing import FlaskClient

from indexer.build import build_index
from indexer.store import file_lock
from search_app import alert_mail, create_app
from search_app.alert_store import AlertStore
from search_app.cli import main

FIRST_PAPERS = [
    "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt",
    "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt",
    "thurrock/cpc_mgAi_20623_EET-for-care-leavers.txt",
]
# Papers that arrive later: both are about Staying Put.
NEW_PAPER = "kirklees/cabinet_mgDecisionDetails_25181_staying-put-policy-refresh_2021-07-28.txt"
LATER_PAPER = "durham/cpp_mgAi_30781_staying-put-staying-close-aob.txt"
BASE_URL = "http://papers.test"
OFFICER = "officer@example.org"


class Mailbox:
    """An SMTP server's handler that keeps every message, refuses the addresses told to and can stall."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}
        self.refuse_data: dict[str, str] = {}
        self.stall_after: int | None = None
        self.stalled = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                return self.refuse_data[address]
        if self.stall_after is not None and len(self.messages) >= self.stall_after:
            self.stalled = True
            await asyncio.sleep(120)  # never answers: the sender is killed meanwhile
            return "451 stalled"
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture()
def site(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> dict[str, Any]:
    """A corpus of three papers, its index, an app that can send mail, and the settings `alerts send` uses."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    for relpath in FIRST_PAPERS:
        copy_paper(relpath, corpus)
    build_index(corpus, index, embeddings=False)
    env = {
        "CPSEARCH_SMTP_HOST": "127.0.0.1",
        "CPSEARCH_SMTP_PORT": str(mailbox[1]),
        "CPSEARCH_SMTP_TLS": "none",
        "CPSEARCH_MAIL_FROM": "alerts@papers.test",
        "CPSEARCH_BASE_URL": BASE_URL,
        "CPSEARCH_SECRET_KEY": "test-secret",
    }
    config = {
        "INDEX_DIR": str(index),
        "CORPUS_DIR": str(corpus),
        "ALERTS_DB": str(tmp_path / "alerts.sqlite"),
        "SECRET_KEY": "test-secret",
        "MAIL_ENV": env,
        "TESTING": True,
    }
    app = create_app(config)
    return {"app": app, "client": app.test_client(), "corpus": corpus, "index": index, "env": env, "config": config}


def send(site: dict[str, Any], when: datetime, *extra: str) -> Any:
    """Runs `cpsearch alerts send` as at a time; returns the click result."""
    args = ["alerts", "send", "--index", str(site["index"]), "--alerts-db", site["config"]["ALERTS_DB"]]
    args += ["--now", when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), *extra]
    return CliRunner().invoke(main, args, env=site["env"], catch_exceptions=False)


def sign_up(client: FlaskClient, email: str = OFFICER, frequency: str = "daily", **search: str) -> Any:
    return client.post("/alerts", data={"email": email, "frequency": frequency, **(search or {"q": "staying put"})})


def link_in(message: EmailMessage, path: str) -> str:
    """Returns the first link to a path of the site in the plain-text part of an email."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"http://[^/\s]+({re.escape(path)}\S+)", text)
    assert found, text
    return found.group(1)


def confirmed_alert(site: dict[str, Any], mailbox: Mailbox, email: str = OFFICER, **kwargs: str) -> None:
    """Signs up and confirms through the pages, as a person does."""
    client = site["client"]
    before = len(mailbox.to(email))
    assert sign_up(client, email, **kwargs).status_code == 200
    link = link_in(mailbox.to(email)[before], "/alerts/confirm/")
    assert client.post(link).status_code == 200


def add_paper(site: dict[str, Any], relpath: str) -> None:
    copy_paper(relpath, site["corpus"])
    build_index(site["corpus"], site["index"], embeddings=False)


def now_plus(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def test_sign_up_confirm_then_one_digest_for_the_new_papers(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    page = sign_up(client)
    assert page.status_code == 200
    assert f"If {OFFICER} can receive email, we have sent it a link" in page.get_data(as_text=True)
    [confirmation] = box.to(OFFICER)
    link = link_in(confirmation, "/alerts/confirm/")
    add_paper(site, NEW_PAPER)
    # Nothing goes to an address before it confirms, and opening the link (as a mail scanner does) is not confirming.
    assert client.get(link).status_code == 200
    assert "Confirm alert" in client.get(link).get_data(as_text=True)
    assert send(site, now_plus(days=1)).exit_code == 0
    assert len(box.to(OFFICER)) == 1
    confirmed = client.post(link)
    assert "Alert confirmed" in confirmed.get_data(as_text=True)
    # Confirmed after the refresh was indexed: only papers arriving from now on are news.
    assert send(site, now_plus(days=1)).exit_code == 0
    assert len(box.to(OFFICER)) == 1
    add_paper(site, LATER_PAPER)
    result = send(site, now_plus(days=2))
    assert result.exit_code == 0, result.output
    assert f"sent: {OFFICER}" in result.output
    digest = box.to(OFFICER)[-1]
    assert len(box.to(OFFICER)) == 2
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = digest.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Durham" in text and "Durham" in html
    assert "Kirklees" not in text  # neither the paper there before, nor the one before confirming
    assert f"{BASE_URL}/items/" in text and f"{BASE_URL}/source/durham/" in text
    assert digest["List-Unsubscribe"].startswith(f"<{BASE_URL}/alerts/unsubscribe/")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert digest["Precedence"] == "bulk"
    # The next day's run has nothing new: no second email for the same items.
    assert send(site, now_plus(days=3)).exit_code == 0
    assert len(box.to(OFFICER)) == 2


def test_one_email_per_person_for_all_their_alerts(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box, q="staying put")
    confirmed_alert(site, box, q="foster carers")
    confirmed_alert(site, box, council="durham", committee="corporate-parenting-panel")
    add_paper(site, LATER_PAPER)
    assert send(site, now_plus(days=1)).exit_code == 0
    digests = [m for m in box.to(OFFICER) if "alerts/unsubscribe" in str(m["List-Unsubscribe"])]
    assert len(digests) == 1
    text = digests[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "“staying put”" in text and "“foster carers”" in text and "committee: Corporate Parenting Panel" in text


def test_a_weekly_alert_is_not_sent_daily(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box, frequency="weekly")
    add_paper(site, LATER_PAPER)
    for day in range(1, 6):
        assert send(site, now_plus(days=day)).exit_code == 0
    assert len(box.to(OFFICER)) == 1  # the confirmation only
    assert send(site, now_plus(days=7)).exit_code == 0
    assert len(box.to(OFFICER)) == 2


def test_one_click_unsubscribe_from_the_mail_client(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    send(site, now_plus(days=1))
    digest = box.to(OFFICER)[-1]
    link = digest["List-Unsubscribe"].strip("<>").removeprefix(BASE_URL)
    assert client.get(link).status_code == 200  # a scanner's GET changes nothing
    assert stored_addresses(site) == [OFFICER]
    answer = client.post(link, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert stored_addresses(site) == []  # the address is kept only while it has an alert
    add_paper(site, NEW_PAPER)
    send(site, now_plus(days=2))
    assert len(box.to(OFFICER)) == 2


def test_manage_page_pauses_changes_and_deletes(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    send(site, now_plus(days=1))
    manage = link_in(box.to(OFFICER)[-1], "/alerts/manage/")
    page = client.get(manage).get_data(as_text=True)
    assert "“staying put”" in page and "Daily" in page
    alert_id = re.search(r'name="alert" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    client.post(manage, data={"alert": alert_id, "action": "pause"})
    add_paper(site, NEW_PAPER)
    send(site, now_plus(days=2))
    assert len(box.to(OFFICER)) == 2  # paused: nothing sent
    client.post(manage, data={"alert": alert_id, "action": "weekly"})
    assert "Weekly" in client.get(manage).get_data(as_text=True)
    assert client.post(manage, data={"alert": "99999", "action": "delete"}).status_code == 400
    client.post(manage, data={"alert": alert_id, "action": "delete"})
    assert stored_addresses(site) == []
    assert client.get(manage).status_code == 404


def test_a_refusing_server_then_an_accepting_one(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    box.refuse[OFFICER] = "451 4.3.0 Try again later"
    refused = send(site, now_plus(days=1))
    assert refused.exit_code == 1
    assert f"failed: {OFFICER}: refused: 451" in refused.output
    box.refuse.clear()
    assert send(site, now_plus(days=1, hours=1)).exit_code == 0
    digests = box.to(OFFICER)[1:]
    assert len(digests) == 1 and "Durham" in digests[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert send(site, now_plus(days=3)).exit_code == 0
    assert len(box.to(OFFICER)) == 2


def test_an_address_refused_three_times_is_suspended(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    box.refuse[OFFICER] = "550 5.1.1 No such user"
    outputs = [send(site, now_plus(days=day)).output for day in (1, 2, 3)]
    assert f"suspended after repeated refusals: {OFFICER}" in outputs[2]
    box.refuse.clear()
    assert send(site, now_plus(days=4)).exit_code == 0
    assert len(box.to(OFFICER)) == 1  # the confirmation only: a suspended address is sent nothing
    # Asking again and confirming starts the emails again, with what waited meanwhile.
    confirmed_alert(site, box)
    assert send(site, now_plus(days=5)).exit_code == 0
    assert "Durham" in box.to(OFFICER)[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_message_refused_for_one_person_does_not_hold_up_the_others(
    site: dict[str, Any], mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    confirmed_alert(site, box, email="first@example.org")
    confirmed_alert(site, box, email="second@example.org")
    add_paper(site, LATER_PAPER)
    box.refuse_data["first@example.org"] = "554 5.7.1 Message rejected"
    result = send(site, now_plus(days=1))
    assert result.exit_code == 1 and "failed: first@example.org: refused: 554" in result.output
    assert len(box.to("second@example.org")) == 2


def test_a_send_killed_half_way_sends_nothing_twice_and_skips_nothing(
    site: dict[str, Any], mailbox: tuple[Mailbox, int]
) -> None:
    box = mailbox[0]
    people = ["first@example.org", "second@example.org", "third@example.org"]
    for person in people:
        confirmed_alert(site, box, email=person)
    add_paper(site, LATER_PAPER)
    confirmations = len(box.messages)
    box.stall_after = confirmations + 1  # the first digest goes, the second hangs
    when = now_plus(days=1).strftime("%Y-%m-%dT%H:%M:%S")
    command = [sys.executable, "-m", "search_app.cli", "alerts", "send", "--index", str(site["index"])]
    command += ["--alerts-db", site["config"]["ALERTS_DB"], "--now", when]
    run = subprocess.Popen(command, env={**os.environ, **site["env"]}, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not box.stalled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert box.stalled
    run.send_signal(signal.SIGKILL)
    run.wait()
    box.stall_after = None
    rerun = send(site, now_plus(days=1, hours=1))
    assert rerun.exit_code == 0 and "1 emails an interrupted run had not finished" in rerun.output
    for person in people:
        assert len(box.to(person)) == 2, person  # the confirmation and exactly one digest


def test_hostile_input_gets_clear_answers_and_sends_nothing(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    injected = sign_up(client, "officer@example.org\r\nBcc: everyone@example.net")
    assert injected.status_code == 400 and "email address" in injected.get_data(as_text=True)
    assert sign_up(client, q="care " * 2000).status_code == 400
    assert client.post("/api/alerts", json={"email": OFFICER, "search": "q=" + "x" * 10_000}).status_code == 400
    assert client.post("/api/alerts", data="not json", content_type="application/json").status_code == 400
    assert sign_up(client, frequency="hourly").status_code == 400
    assert client.post("/alerts", data={"email": OFFICER, "frequency": "daily"}).status_code == 400  # no search
    assert box.messages == []
    assert client.get("/alerts/confirm/forged-token").status_code == 404
    assert client.post("/alerts/confirm/forged-token").status_code == 404
    assert client.get("/alerts/manage/forged-token").status_code == 404
    sign_up(client)
    link = link_in(box.to(OFFICER)[0], "/alerts/confirm/")
    token = link.rsplit("/", 1)[1]
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert client.post(f"/alerts/confirm/{forged}").status_code == 404


def test_an_expired_confirmation_link_does_nothing(
    site: dict[str, Any], mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, client = mailbox[0], site["client"]
    sign_up(client)
    link = link_in(box.to(OFFICER)[0], "/alerts/confirm/")
    monkeypatch.setattr(alert_mail, "CONFIRM_FOR", timedelta(seconds=-1))
    answer = client.post(link)
    assert answer.status_code == 404 and "more than" in answer.get_data(as_text=True)
    assert statuses(site) == ["pending"]


def test_the_answer_is_the_same_for_known_and_unknown_addresses(
    site: dict[str, Any], mailbox: tuple[Mailbox, int]
) -> None:
    box, client = mailbox[0], site["client"]
    confirmed_alert(site, box)
    known = sign_up(client).get_data(as_text=True)
    unknown = sign_up(client, "stranger@example.org").get_data(as_text=True)
    assert known == unknown.replace("stranger@example.org", OFFICER)
    # The owner of a known address is told it already has the alert, not asked to confirm again.
    assert "already have" in box.to(OFFICER)[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_sign_ups_are_throttled_per_address_and_per_client(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    answers = [sign_up(client, q=f"fostering {n}") for n in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert len(box.to(OFFICER)) == 3  # at most three confirmation emails an hour to one address
    more = [sign_up(client, f"person{n}@example.org").status_code for n in range(6)]
    assert more[-1] == 429  # ten sign-ups an hour from one client


def test_the_api_signs_up_the_same_way(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box, client = mailbox[0], site["client"]
    answer = client.post(
        "/api/alerts", json={"email": OFFICER, "frequency": "weekly", "search": "q=EET&council=thurrock"}
    )
    assert answer.status_code == 202
    assert answer.get_json()["status"] == "confirmation sent"
    assert "EET" in box.to(OFFICER)[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    bad = client.post("/api/alerts", json={"email": "not an address", "search": "q=EET"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid parameter: email"


def test_without_smtp_settings_alerts_say_so(site: dict[str, Any], tmp_path: Path) -> None:
    app: Flask = create_app({**site["config"], "MAIL_ENV": {"CPSEARCH_SMTP_HOST": ""}})
    client = app.test_client()
    assert "Get an email when new items match" not in client.get("/?q=staying+put").get_data(as_text=True)
    answer = client.post("/api/alerts", json={"email": OFFICER, "search": "q=EET"})
    assert answer.status_code == 503 and "not been set up to send email" in answer.get_json()["detail"]
    args = ["alerts", "send", "--index", str(site["index"]), "--alerts-db", str(tmp_path / "a.sqlite")]
    result = CliRunner().invoke(main, args, env={"CPSEARCH_SMTP_HOST": "", "CPSEARCH_BASE_URL": BASE_URL})
    assert result.exit_code != 0 and "CPSEARCH_SMTP_HOST" in result.output


def test_dry_run_prints_and_sends_nothing(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    dry = send(site, now_plus(days=1), "--dry-run")
    assert f"would send to {OFFICER}" in dry.output and "Durham" in dry.output
    assert len(box.to(OFFICER)) == 1
    assert send(site, now_plus(days=1)).exit_code == 0
    assert len(box.to(OFFICER)) == 2  # the dry run recorded nothing


def test_the_search_and_item_pages_offer_alerts(site: dict[str, Any]) -> None:
    client = site["client"]
    page = client.get("/?q=staying+put&council=kirklees").get_data(as_text=True)
    assert "Get an email when new items match this search" in page
    assert '<input type="hidden" name="q" value="staying put">' in page
    assert '<input type="hidden" name="council" value="kirklees">' in page
    item_id = client.get("/api/search?q=staying+put").get_json()["results"][0]["id"]
    item = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "has new papers" in item and '<input type="hidden" name="committee"' in item


def test_the_database_schema_comes_from_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite"
    AlertStore(path).close()
    AlertStore(path).close()  # opening again applies nothing twice
    migrations = sorted((ROOT / "search_app" / "migrations").glob("*.sql"))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == int(migrations[-1].name.split("_")[0])
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"subscribers", "alerts", "deliveries", "sent_items", "signups"} <= tables


def stored_addresses(site: dict[str, Any]) -> list[str]:
    with sqlite3.connect(site["config"]["ALERTS_DB"]) as db:
        return [row[0] for row in db.execute("SELECT email FROM subscribers ORDER BY id")]


def statuses(site: dict[str, Any]) -> list[str]:
    with sqlite3.connect(site["config"]["ALERTS_DB"]) as db:
        return [row[0] for row in db.execute("SELECT status FROM alerts ORDER BY id")]


def test_a_second_run_while_one_is_sending_does_nothing(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    lock = Path(site["config"]["ALERTS_DB"] + ".send.lock")
    with file_lock(lock, RuntimeError("held")):
        overlapping = send(site, now_plus(days=1))
    assert overlapping.exit_code != 0 and "another `cpsearch alerts send` is running" in overlapping.output
    assert len(box.to(OFFICER)) == 1
    assert send(site, now_plus(days=1)).exit_code == 0
    assert len(box.to(OFFICER)) == 2


def test_a_link_of_a_deleted_address_never_acts_on_a_later_one(
    site: dict[str, Any], mailbox: tuple[Mailbox, int]
) -> None:
    box, client = mailbox[0], site["client"]
    sign_up(client, "stranger@example.org")
    kept = link_in(box.to("stranger@example.org")[0], "/alerts/confirm/")
    store = AlertStore(Path(site["config"]["ALERTS_DB"]))
    store.delete_subscriber(1)
    store.close()
    sign_up(client)  # the next address and alert: never the same row ids, nor the same nonce
    assert client.post(kept).status_code == 404
    assert statuses(site) == ["pending"]
    assert client.get("/alerts/unsubscribe/forged-token").status_code == 404


def test_arrivals_of_a_build_not_yet_published_are_not_news(site: dict[str, Any]) -> None:
    from indexer.arrivals import latest_arrival, record_arrivals

    index = site["index"]
    before = latest_arrival(index)
    assert before > 0
    record_arrivals(index, "gen-999999", [("not-yet-published-0", "hash")])
    assert latest_arrival(index) == before


def test_bounces_reported_later_suspend_an_address(site: dict[str, Any], mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    confirmed_alert(site, box)
    add_paper(site, LATER_PAPER)
    bounced = ["alerts", "bounced", OFFICER, "--alerts-db", site["config"]["ALERTS_DB"]]
    outputs = [CliRunner().invoke(main, bounced).output for _ in range(3)]
    assert outputs[0] == f"{OFFICER}: 1 failures in a row, still sent to\n"
    assert outputs[2] == f"{OFFICER}: 3 failures in a row, suspended\n"
    assert send(site, now_plus(days=1)).exit_code == 0
    assert len(box.to(OFFICER)) == 1  # the confirmation only
    unknown = CliRunner().invoke(main, [*bounced[:2], "nobody@example.org", *bounced[3:]])
    assert "has no alerts" in unknown.output
