"""Blueprint for email alerts: sign up from a search (page or API), confirm by a signed link, manage or stop
them from the link in every email. No accounts, no passwords: the signed links are the keys.

Every link in an email opens a page whose button POSTs; nothing changes on a GET, so mail scanners that
follow links neither confirm nor unsubscribe anyone. The answer to a sign-up is the same whether or not
the address is known, so no one can find out which addresses have alerts.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_openapi3 import APIBlueprint
from werkzeug.datastructures import MultiDict

from indexer.arrivals import latest_arrival
from search_app.alert_mail import (
    ADDRESS,
    CONFIRM_FOR,
    confirmation_message,
    keyed_hash,
    mail_settings,
    open_store,
    read_confirm_token,
    read_subscriber_token,
    saved_search,
    search_label,
    send_message,
    signed_value,
    subscriber_token,
    utc_now,
)
from search_app.alert_store import FREQUENCIES, AlertStore, Subscriber
from search_app.contract import ALERT_RESPONSES, ALERT_TAG, AlertRequest
from search_app.errors import ApiError
from search_app.params import bad_parameter, parse_search_args
from search_app.results import SearchRequest

alerts = Blueprint("alerts", __name__)
alerts_api = APIBlueprint("alerts_api", __name__, url_prefix="/api", abp_tags=[ALERT_TAG])
# Sign-ups per hour: from one client (answered 429), and for one address (more are not sent, the answer
# is the same, so a stranger cannot fill someone's inbox with confirmation emails).
CLIENT_LIMIT = 10
ADDRESS_LIMIT = 3
THROTTLE_WINDOW = timedelta(hours=1)
NOT_SET_UP = (
    "This service has not been set up to send email, so alerts cannot be made here. "
    "A search's Atom feed follows it without email."
)


@alerts.app_context_processor
def alert_helpers() -> dict[str, object]:
    return {"alerts_on": mail_settings(current_app) is not None, "alert_fields": alert_fields}


def alert_fields(req: SearchRequest) -> list[tuple[str, str]]:
    """Returns the arguments of a search that an alert on it keeps, as hidden fields of its form."""
    pairs = [("q", req.q)] if req.q else []
    pairs += [(facet, value) for facet, values in req.filters.items() for value in values]
    pairs += [("from", req.date_from.isoformat())] if req.date_from else []
    pairs += [("to", req.date_to.isoformat())] if req.date_to else []
    pairs += [("decisions", "1")] if req.decisions_only else []
    return pairs + ([("expand", "0")] if not req.expand else [])


def sign_up(email: str, frequency: str, args: MultiDict[str, str]) -> None:
    """Saves a pending alert for a search and emails its confirmation link; raises ApiError for bad input."""
    if len(email) > 254 or not ADDRESS.match(email):
        raise bad_parameter("email", "enter an email address such as name@example.org")
    if frequency not in FREQUENCIES:
        raise bad_parameter("frequency", "frequency must be daily or weekly")
    parse_search_args(args)  # a bad search is a 400 here, not a failure in every later run
    settings = mail_settings(current_app)
    if settings is None:
        raise ApiError(503, "alerts not available", NOT_SET_UP)
    search, now = saved_search(args), utc_now()
    if not search:
        raise bad_parameter("q", "an alert follows a search: give words (q) or a filter such as council or topic")
    store = open_store(current_app)
    try:
        client = keyed_hash(request.remote_addr or "unknown")
        if store.count_signups("client", client, now - THROTTLE_WINDOW) >= CLIENT_LIMIT:
            raise ApiError(429, "too many sign-ups", "Too many alerts were asked for from here; try again in an hour.")
        store.note_signup("client", client, now)
        address = keyed_hash(email)
        if store.count_signups("address", address, now - THROTTLE_WINDOW) >= ADDRESS_LIMIT:
            return
        store.note_signup("address", address, now)
        alert = store.add_alert(email, search, search_label(search), frequency, now)
        subscriber = store.subscriber(alert.subscriber_id)
        manage = (
            url_for("alerts.manage", token=subscriber_token(subscriber, "manage"), _external=True) if subscriber else ""
        )
        suspended = bool(subscriber and subscriber.suspended_at)
    finally:
        store.close()
    try:
        send_message(settings, confirmation_message(settings, email, alert, manage, resume=suspended))
    except (smtplib.SMTPException, OSError) as exc:
        current_app.logger.warning("confirmation email not sent: %s", exc)
        detail = "The confirmation email could not be sent just now; try again later."
        raise ApiError(503, "email not sent", detail) from exc


def signed_subscriber(store: AlertStore, token: str, purpose: str) -> Subscriber:
    """Returns the address a manage or unsubscribe link is for; a 404 page if it is forged or gone."""
    subscriber = read_subscriber_token(token, purpose, store)
    if subscriber is None:
        raise ApiError(404, "link not valid", "This link is not valid, or its alerts have already been deleted.")
    return subscriber


@alerts.post("/alerts")
def create() -> ResponseReturnValue:
    """The sign-up form of a search page: email, frequency and the search's own arguments."""
    form = request.form
    sign_up(form.get("email", "").strip(), form.get("frequency", "daily"), MultiDict(form))
    return render_template("alert_sent.html", email=form.get("email", "").strip(), days=CONFIRM_FOR.days)


@alerts_api.post(
    "/alerts",
    responses=ALERT_RESPONSES,
    operation_id="alert_signup",
    description=(
        "The same sign-up as a search page's form. The answer is the same whether or not the address already "
        "has alerts; an email with a link to confirm is sent, and nothing else is sent until it is used."
    ),
)
def create_json(body: AlertRequest) -> tuple[Response, int]:
    """Sign up for an email alert."""
    sign_up(body.email, body.frequency, MultiDict(parse_qsl(body.search)))
    detail = (
        "If the address can receive email, a link to confirm the alert has been sent to it. "
        f"Nothing is sent until it is used; it works for {CONFIRM_FOR.days} days."
    )
    return jsonify({"status": "confirmation sent", "detail": detail}), 202


@alerts.route("/alerts/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> ResponseReturnValue:
    """The confirmation link: the page shows the alert and a button; only its POST starts the alert (or
    resumes an address suspended after refusals)."""
    store = open_store(current_app)
    try:
        alert = read_confirm_token(token, store)
        if alert is None:
            raise ApiError(
                404, "link not valid",
                f"This confirmation link is not valid or is more than {CONFIRM_FOR.days} days old. "
                "Ask for the alert again from its search page.",
            )  # fmt: skip
        subscriber = store.subscriber(alert.subscriber_id)
        confirmed = request.method == "POST"
        if confirmed:
            store.confirm(alert.id, latest_arrival(Path(current_app.config["INDEX_DIR"])), utc_now())
            subscriber, alert = store.subscriber(alert.subscriber_id), store.alert(alert.id)
        manage = url_for("alerts.manage", token=subscriber_token(subscriber, "manage")) if subscriber else ""
        suspended = bool(subscriber and subscriber.suspended_at)
        return render_template(
            "alert_confirm.html", alert=alert, confirmed=confirmed, manage=manage, token=token, suspended=suspended
        )
    finally:
        store.close()


@alerts.route("/alerts/manage/<token>", methods=["GET", "POST"])
def manage(token: str) -> ResponseReturnValue:
    """Every alert of an address: pause, resume, change how often, delete one or all."""
    store = open_store(current_app)
    try:
        subscriber = signed_subscriber(store, token, "manage")
        if request.method == "POST":
            action = request.form.get("action", "")
            if action == "delete-all":
                store.delete_subscriber(subscriber.id)
                return render_template("alert_done.html", title="Your alerts have been deleted", deleted=True)
            change_alert(store, subscriber, action, request.form.get("alert", ""))
            if store.subscriber(subscriber.id) is None:  # its last alert was deleted, and the address with it
                return render_template("alert_done.html", title="Your alerts have been deleted", deleted=True)
            return redirect(url_for("alerts.manage", token=token), 303)
        return render_template(
            "alert_manage.html", subscriber=subscriber, alerts=store.alerts_of(subscriber.id), token=token
        )
    finally:
        store.close()


def change_alert(store: AlertStore, subscriber: Subscriber, action: str, alert_field: str) -> None:
    """Applies one action of the manage page to one of the address's alerts."""
    alert = store.alert(int(alert_field)) if alert_field.isdigit() else None
    if alert is None or alert.subscriber_id != subscriber.id:
        raise ApiError(400, "invalid parameter: alert", "that alert is not one of this address's alerts")
    if action == "pause":
        store.set_status(alert.id, "paused")
    elif action == "resume":
        store.set_status(alert.id, "active")
    elif action in FREQUENCIES:
        store.set_frequency(alert.id, action)
    elif action == "delete":
        store.delete_alert(alert.id)
    else:
        raise ApiError(400, "invalid parameter: action", "action must be pause, resume, daily, weekly or delete")


@alerts.route("/alerts/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """Stops every email to an address: the page's button, or a mail client's one-click POST (RFC 8058)."""
    if signed_value(token, "unsubscribe") is None:
        raise ApiError(404, "link not valid", "This unsubscribe link is not one this service sent.")
    store = open_store(current_app)
    try:
        subscriber = read_subscriber_token(token, "unsubscribe", store)
        if request.method == "GET" and subscriber is not None:
            return render_template("alert_unsubscribe.html", token=token, email=subscriber.email)
        if subscriber is not None:
            store.delete_subscriber(subscriber.id)
        # A link already used gets the same answer: the address gets no more email either way.
        if request.form.get("List-Unsubscribe") == "One-Click":
            text = "Unsubscribed: no more email alerts will be sent to this address.\n"
            return text, 200, {"Content-Type": "text/plain; charset=utf-8"}
        return render_template("alert_done.html", title="You will get no more alert emails", deleted=True)
    finally:
        store.close()
