"""Email alerts leaving the service: the SMTP settings, the signed links in every email, the confirmation
email and the digest run (`cpsearch alerts send`), which sends each person one email for all their alerts.

A digest is recorded as sent, with every item it reported, only once the SMTP server has accepted it: a
run that is killed or refused part-way leaves those addresses' items for the next run, and an item an
alert has sent is never sent by it again. The one window left is a kill between the server's acceptance
and the commit that follows it: that email goes again in the next run.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, current_app, render_template, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

from indexer.arrivals import arrivals_between, latest_arrival
from indexer.schema import FACET_FIELDS
from search_app.alert_store import Alert, AlertStore, Subscriber
from search_app.contract import EMAIL_PATTERN
from search_app.params import parse_search_args
from search_app.results import SearchHit, SearchRequest
from search_app.views import search_index

# A confirmation link works for a week; unconfirmed alerts are deleted after it.
CONFIRM_FOR = timedelta(days=7)
# The best new items an email shows per alert (a link shows them all).
SHOWN = 5
# The most new items of one alert looked at in one run (recorded as sent; a link shows them all).
LOOKED_AT = 500
# An address as a person types it: one @, no spaces or control characters, 254 characters at most.
ADDRESS = re.compile(EMAIL_PATTERN)
SEARCH_ARGS = ("q", *FACET_FIELDS, "from", "to", "decisions", "expand")
SMTP_ENV = {
    "host": "CPSEARCH_SMTP_HOST",
    "port": "CPSEARCH_SMTP_PORT",
    "tls": "CPSEARCH_SMTP_TLS",
    "user": "CPSEARCH_SMTP_USER",
    "password": "CPSEARCH_SMTP_PASSWORD",
    "sender": "CPSEARCH_MAIL_FROM",
}
TLS_MODES = ("starttls", "ssl", "none")


class MailNotConfigured(RuntimeError):
    """Sending was asked for without the SMTP settings it needs."""


@dataclass(frozen=True)
class MailSettings:
    """Where and as whom the service sends mail."""

    host: str
    port: int
    tls: str
    user: str
    password: str
    sender: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MailSettings:
        """Returns the settings in CPSEARCH_SMTP_* and CPSEARCH_MAIL_FROM; raises MailNotConfigured naming
        what is missing or wrong."""
        values = {name: env.get(var, "").strip() for name, var in SMTP_ENV.items()}
        missing = [SMTP_ENV[name] for name in ("host", "sender") if not values[name]]
        if missing:
            raise MailNotConfigured(f"email alerts need {' and '.join(missing)} set (see the README's Email alerts)")
        tls = values["tls"].lower() or "starttls"
        if tls not in TLS_MODES:
            raise MailNotConfigured(f"CPSEARCH_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        port = values["port"] or {"starttls": "587", "ssl": "465", "none": "25"}[tls]
        if not port.isdigit():
            raise MailNotConfigured(f"CPSEARCH_SMTP_PORT must be a port number, not {port!r}")
        if not ADDRESS.match(values["sender"]):
            raise MailNotConfigured(f"CPSEARCH_MAIL_FROM must be an email address, not {values['sender']!r}")
        if bool(values["user"]) != bool(values["password"]):
            raise MailNotConfigured("CPSEARCH_SMTP_USER and CPSEARCH_SMTP_PASSWORD go together")
        return cls(values["host"], int(port), tls, values["user"], values["password"], values["sender"])

    def connect(self) -> smtplib.SMTP:
        """Returns a connection to the SMTP server, secured and logged in as configured."""
        if self.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=30, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=30)
            if self.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if self.user:
            smtp.login(self.user, self.password)
        return smtp


def mail_settings(app: Flask) -> MailSettings | None:
    """Returns the app's SMTP settings, or None when alerts cannot be sent from it."""
    try:
        return MailSettings.from_env(app.config.get("MAIL_ENV") or os.environ)
    except MailNotConfigured:
        return None


def open_store(app: Flask) -> AlertStore:
    """Returns the app's alerts database."""
    return AlertStore(Path(app.config["ALERTS_DB"]))


def secret_key(app: Flask) -> bytes:
    """Returns the key that signs links: CPSEARCH_SECRET_KEY, else one made once and kept beside the alerts
    database (readable by its owner only), so links keep working across restarts and workers."""
    if app.config.get("SECRET_KEY"):
        return str(app.config["SECRET_KEY"]).encode()
    path = Path(app.config["ALERTS_DB"]).with_name("secret_key")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under another name, then linked into place: a worker starting at the same moment
        # sees no file or the whole key, never an empty one; the first link wins.
        tmp = path.with_name(f"secret_key.{os.getpid()}.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    app.config["SECRET_KEY"] = path.read_text(encoding="utf-8").strip()
    return str(app.config["SECRET_KEY"]).encode()


def signer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(current_app), salt=f"alerts-{purpose}")


def confirm_token(alert: Alert) -> str:
    return signer("confirm").dumps({"alert": alert.id, "nonce": alert.nonce})


def subscriber_token(subscriber: Subscriber, purpose: str) -> str:
    """Returns the token of a manage or unsubscribe link: good until the address is deleted."""
    value = {"subscriber": subscriber.id, "nonce": subscriber.nonce, "version": subscriber.token_version}
    return signer(purpose).dumps(value)


def read_confirm_token(token: str, store: AlertStore) -> Alert | None:
    """Returns the alert a confirmation token names, or None if it is forged, expired or gone."""
    try:
        value = signer("confirm").loads(token, max_age=int(CONFIRM_FOR.total_seconds()))
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("alert"), int):
        return None
    alert = store.alert(value["alert"])
    return alert if alert and alert.nonce == value.get("nonce") else None


def signed_value(token: str, purpose: str) -> dict[str, Any] | None:
    """Returns what a manage or unsubscribe token says, or None if it is not one this service signed."""
    try:
        value = signer(purpose).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("subscriber"), int) else None


def read_subscriber_token(token: str, purpose: str, store: AlertStore) -> Subscriber | None:
    """Returns the address a manage or unsubscribe token names, or None (forged, or the address is gone)."""
    value = signed_value(token, purpose)
    subscriber = store.subscriber(value["subscriber"]) if value else None
    if subscriber is None or value is None:
        return None
    same = (subscriber.nonce, subscriber.token_version) == (value.get("nonce"), value.get("version"))
    return subscriber if same else None


def keyed_hash(text: str) -> str:
    """Returns a hash of an address or client address for throttling, useless without the secret key."""
    return hmac.new(secret_key(current_app), text.lower().encode(), hashlib.sha256).hexdigest()[:32]


def saved_search(args: Mapping[str, Any] | MultiDict[str, str]) -> str:
    """Returns a search's arguments as the query string an alert keeps (what the search page would show)."""
    multi = args if isinstance(args, MultiDict) else MultiDict(args)
    pairs = [(name, value.strip()) for name in SEARCH_ARGS for value in multi.getlist(name) if value.strip()]
    return urlencode(pairs)


def search_request(search: str) -> SearchRequest:
    """Returns the SearchRequest an alert's saved search makes: words and glossary, not meaning (an email
    should hold what its words say, and new items may not have their vectors yet)."""
    request = parse_search_args(MultiDict(parse_qsl(search, keep_blank_values=False)))
    return replace(request, semantic=False, respell=False, sort="relevance")


def search_label(search: str) -> str:
    """Returns how an email and the manage page name a saved search: its words, then its filters."""
    request = parse_search_args(MultiDict(parse_qsl(search)))
    names = search_index().display_names()
    parts = [f"“{request.q}”"] if request.q else []
    for facet, values in request.filters.items():
        shown = [names.get(facet, {}).get(value, value) for value in values]
        parts.append(f"{facet.replace('_', ' ')}: {', '.join(shown)}")
    if request.date_from or request.date_to:
        parts.append(f"meetings {request.date_from or '…'} to {request.date_to or '…'}")
    if request.decisions_only:
        parts.append("decisions only")
    return "; ".join(parts)[:300] or "all new items"


def new_message(settings: MailSettings, to: str, subject: str, template: str, **context: Any) -> EmailMessage:
    """Returns an email with a plain-text part and an HTML part rendered from templates/mail/."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_template(f"mail/{template}.txt", **context))
    message.add_alternative(render_template(f"mail/{template}.html", **context), subtype="html")
    return message


def send_message(settings: MailSettings, message: EmailMessage) -> None:
    """Sends one email; raises smtplib's errors (and OSError) when it does not go."""
    with settings.connect() as smtp:
        smtp.send_message(message)


def confirmation_message(
    settings: MailSettings, to: str, alert: Alert, manage: str, resume: bool = False
) -> EmailMessage:
    """Returns the email that asks the address's owner to confirm an alert (or says it is already on,
    with the link that manages it); `resume` asks an address suspended after refusals to confirm again."""
    link = url_for("alerts.confirm", token=confirm_token(alert), _external=True)
    return new_message(
        settings,
        to,
        "Confirm your Council Papers Search alert",
        "confirm",
        alert=alert,
        link=link,
        already=alert.status != "pending" and not resume,
        manage=manage,
        days=CONFIRM_FOR.days,
        search_link=url_for("pages.search", _external=True) + "?" + alert.search,
    )


@dataclass
class Section:
    """One alert's part of a digest: its best new items and how many there are."""

    alert: Alert
    hits: list[SearchHit]
    total: int
    item_ids: list[str]


@dataclass
class SendReport:
    """What a sending run did, address by address."""

    sent: list[str] = field(default_factory=list)
    nothing_new: int = 0
    failed: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)
    purged: int = 0
    interrupted: int = 0

    def lines(self) -> list[str]:
        lines = [f"sent: {address}" for address in self.sent]
        lines += [f"failed: {problem}" for problem in self.failed]
        lines += [f"suspended after repeated refusals: {address}" for address in self.suspended]
        lines.append(
            f"{len(self.sent)} emails sent, {len(self.failed)} failed, {self.nothing_new} addresses with nothing new"
            + (f", {self.purged} unconfirmed alerts deleted" if self.purged else "")
            + (f", {self.interrupted} emails an interrupted run had not finished" if self.interrupted else "")
        )
        return lines


def find_new_items(store: AlertStore, alert: Alert, upto: int) -> Section:
    """Returns the items that arrived since the alert last looked, match its search and it has not sent."""
    arrived = [a.item_id for a in arrivals_between(Path(current_app.config["INDEX_DIR"]), alert.watermark, upto)]
    sent = store.sent_items(alert.id, arrived)
    unsent = [item_id for item_id in arrived if item_id not in sent]
    request = replace(search_request(alert.search), per_page=LOOKED_AT)
    results = search_index().search_among(request, unsent)
    return Section(alert, results.hits[:SHOWN], results.total, [hit.id for hit in results.hits])


def digest_message(settings: MailSettings, subscriber: Subscriber, sections: list[Section]) -> EmailMessage:
    """Returns one person's email for all their alerts with new items, with a one-click unsubscribe."""
    unsubscribe = url_for("alerts.unsubscribe", token=subscriber_token(subscriber, "unsubscribe"), _external=True)
    manage = url_for("alerts.manage", token=subscriber_token(subscriber, "manage"), _external=True)
    total = sum(section.total for section in sections)
    search_page = url_for("pages.search", _external=True)
    message = new_message(
        settings,
        subscriber.email,
        f"{total} new council paper{'s' if total != 1 else ''} for your alerts",
        "digest",
        sections=sections,
        manage=manage,
        unsubscribe=unsubscribe,
        see_all=lambda alert: f"{search_page}?{alert.search}&sort=date",
        item_link=lambda hit: url_for("pages.item", item_id=hit.id, _external=True),
        source=external_source,
    )
    # RFC 8058: a mail client's unsubscribe button POSTs to the link; a scanner's GET changes nothing.
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Id"] = f"Council Papers Search alerts <alerts.{urlsplit(search_page).hostname or 'localhost'}>"
    message["Precedence"] = "bulk"
    return message


def external_source(hit: SearchHit) -> str:
    """Returns the full address of a result's source, at the page of its passage for a PDF."""
    link = url_for("pages.source_file", relpath=hit.source, _external=True)
    return f"{link}#page={hit.passage_page}" if hit.format == "pdf" else link


def send_alerts(
    store: AlertStore,
    settings: MailSettings | None,
    now: datetime,
    dry_run: bool = False,
    say: Callable[[str], None] = print,
) -> SendReport:
    """Sends each address with due alerts one email covering all their new items; returns what it did.

    Runs inside an app context whose base URL is the public one (the links in the emails)."""
    report = SendReport()
    if not dry_run:
        report.purged = store.purge_unconfirmed(now - CONFIRM_FOR)
        report.interrupted = store.close_interrupted(now)
    upto = latest_arrival(Path(current_app.config["INDEX_DIR"]))  # of the generation served
    by_subscriber: dict[int, list[Alert]] = {}
    for alert in store.due_alerts(now):
        by_subscriber.setdefault(alert.subscriber_id, []).append(alert)
    for subscriber_id, alerts in by_subscriber.items():
        subscriber = store.subscriber(subscriber_id)
        if subscriber is None:
            continue
        sections = [find_new_items(store, alert, upto) for alert in alerts]
        watermarks = {alert.id: upto for alert in alerts}
        sections = [section for section in sections if section.total]
        if not sections:
            report.nothing_new += 1
            if not dry_run:
                with store.transaction():
                    for alert in alerts:
                        store.note_run(alert.id, upto, now)
            continue
        if dry_run:
            say(f"would send to {subscriber.email}: " + "; ".join(f"{s.alert.label}: {s.total} new" for s in sections))
            for section in sections:
                for hit in section.hits:
                    say(f"  {hit.date or 'undated'}  {hit.council_name}  {hit.committee_name}: {hit.item_title}")
            report.would_send.append(subscriber.email)
            continue
        if not deliver(store, settings, subscriber, sections, watermarks, now, report):
            left = len(by_subscriber) - len(report.sent) - len(report.failed) - report.nothing_new
            report.failed.append(f"the SMTP server could not be reached: {left} more addresses left for the next run")
            break
    return report


def deliver(
    store: AlertStore,
    settings: MailSettings | None,
    subscriber: Subscriber,
    sections: list[Section],
    watermarks: dict[int, int],
    now: datetime,
    report: SendReport,
) -> bool:
    """Sends one digest and records the outcome: sent (its items never again), refused, or not reached.
    Returns False when the server could not be reached at all (the rest of the run would fail the same way)."""
    assert settings is not None
    message = digest_message(settings, subscriber, sections)
    delivery = store.begin_delivery(subscriber.id, now)
    try:
        send_message(settings, message)
    # smtplib's errors are OSErrors too: the server's refusals are told apart first, then a server that
    # cannot be reached (which would fail every other address of the run the same way).
    except smtplib.SMTPRecipientsRefused as exc:
        refused = all(code >= 500 for code, _ in exc.recipients.values())
        note_failure(store, delivery, subscriber, f"refused: {describe(exc)}", refused, now, report)
    except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as exc:
        note_failure(store, delivery, subscriber, f"not sent: {describe(exc)}", False, now, report)
        return False
    except smtplib.SMTPDataError as exc:
        refused = exc.smtp_code >= 500  # the message refused for this address
        note_failure(store, delivery, subscriber, f"refused: {exc.smtp_code} {describe(exc)}", refused, now, report)
    except smtplib.SMTPException as exc:
        note_failure(store, delivery, subscriber, f"not sent: {describe(exc)}", False, now, report)
    except OSError as exc:
        note_failure(store, delivery, subscriber, f"not sent: {describe(exc)}", False, now, report)
        return False
    else:
        store.finish_delivery(delivery, {s.alert.id: s.item_ids for s in sections}, watermarks, now)
        report.sent.append(subscriber.email)
    return True


def note_failure(
    store: AlertStore,
    delivery: int,
    subscriber: Subscriber,
    reason: str,
    refused: bool,
    now: datetime,
    report: SendReport,
) -> None:
    """Records a digest that did not go; its items wait for the next run."""
    report.failed.append(f"{subscriber.email}: {reason} (kept for the next run)")
    if store.fail_delivery(delivery, reason, refused, now):
        report.suspended.append(subscriber.email)


def describe(exc: Exception) -> str:
    """Returns an SMTP error as one short line."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in exc.recipients.values())[:300]
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return text[:300]
    return (str(exc) or type(exc).__name__)[:300]


def utc_now() -> datetime:
    return datetime.now(UTC)
