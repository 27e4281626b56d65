"""Polite HTTP: one request at a time per host, a pause between them, robots.txt, retries, give-up rules."""

from __future__ import annotations

import re
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests

USER_AGENT = "CouncilPapersSearch/0.1 (committee papers harvester; one request at a time, about one a second)"
# Words a web application firewall or bot challenge puts in the page it answers with.
CHALLENGE_MARKERS = re.compile(
    rb"cf-chl|cloudflare|attention required|just a moment\.\.\.|incapsula|request unsuccessful|"
    rb"access denied|captcha|are you a robot|web application firewall|akamai|sucuri",
    re.IGNORECASE,
)
BLOCKING_STATUSES = {401, 403, 429}
MAX_BODY_BYTES = 200 * 1024 * 1024


class FetchError(Exception):
    """A request that failed for good: a 4xx, or a 5xx or time-out after every retry."""

    def __init__(self, url: str, reason: str, status: int | None = None, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.url = url
        self.reason = reason
        self.status = status
        self.timed_out = timed_out


class HostBlocked(FetchError):
    """The host refuses us (403, a firewall page, repeated time-outs): stop asking it anything."""


class Disallowed(FetchError):
    """robots.txt asks crawlers to keep out of this path."""


@dataclass
class Answer:
    """A successful response: final URL after redirects, status, content type and body."""

    url: str
    status: int
    content_type: str
    body: bytes
    redirected_from: str = ""


@dataclass
class HostState:
    """Per-host politeness state: when we last asked, what robots.txt says, time-outs in a row."""

    last_request: float = 0.0
    robots: urllib.robotparser.RobotFileParser | None = None
    timeouts_in_a_row: int = 0
    blocked: str = ""


@dataclass
class PoliteClient:
    """Fetches URLs one at a time per host, obeying robots.txt, retrying 5xx and time-outs with backoff."""

    delay: float = 1.0
    """Seconds between the start of two requests to the same host."""
    timeout: float = 60.0
    retries: int = 3
    """Attempts for a 5xx or a time-out before it counts as failed."""
    backoff: float = 2.0
    """Seconds before the first retry; doubled for each retry after it."""
    max_timeouts: int = 4
    """Attempts in a row that time out, across requests, before a host counts as blocked."""
    user_agent: str = USER_AGENT
    sleep: Callable[[float], None] = time.sleep
    requests_made: int = 0
    hosts: dict[str, HostState] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["User-Agent"] = self.user_agent

    def get(self, url: str) -> Answer:
        """Returns the answer for url; raises Disallowed, HostBlocked or FetchError."""
        host = self.host_state(url)
        if host.blocked:
            raise HostBlocked(url, host.blocked)
        if not self.allowed(url):
            raise Disallowed(url, "robots.txt disallows this path for our user agent")
        return self.get_with_retries(url, host)

    def host_state(self, url: str) -> HostState:
        return self.hosts.setdefault(urlsplit(url).netloc.lower(), HostState())

    def allowed(self, url: str) -> bool:
        """Returns whether robots.txt of url's host lets our user agent fetch it."""
        host = self.host_state(url)
        if host.robots is None:
            host.robots = self.read_robots(url)
        return host.robots.can_fetch(self.user_agent, url)

    def read_robots(self, url: str) -> urllib.robotparser.RobotFileParser:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        parser = urllib.robotparser.RobotFileParser(robots_url)
        try:
            answer = self.get_with_retries(robots_url, self.host_state(url))
        except HostBlocked:
            raise
        except FetchError as exc:
            # RFC 9309: no robots.txt (4xx) allows everything; one that cannot be read allows nothing yet.
            if exc.status is not None and 400 <= exc.status < 500:
                parser.parse([])
                return parser
            raise FetchError(url, f"robots.txt could not be read: {exc.reason}", exc.status, exc.timed_out) from exc
        parser.parse(answer.body.decode("utf-8", errors="replace").splitlines())
        return parser

    def get_with_retries(self, url: str, host: HostState) -> Answer:
        last_reason, timed_out = "", False
        for attempt in range(self.retries):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                answer = self.request_once(url, host)
            except requests.RequestException as exc:
                # requests reports a time-out while reading the body as a ConnectionError.
                timed_out = isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower()
                last_reason = f"timed out after {self.timeout:g} s" if timed_out else f"failed: {short_reason(exc)}"
                if timed_out:
                    host.timeouts_in_a_row += 1
                    if host.timeouts_in_a_row >= self.max_timeouts:
                        host.blocked = (
                            f"{host.timeouts_in_a_row} requests in a row timed out; not asking again this run"
                        )
                        raise HostBlocked(url, host.blocked, timed_out=True) from exc
                continue
            except FetchError as exc:
                if exc.status is not None and exc.status >= 500 and not isinstance(exc, HostBlocked):
                    last_reason, timed_out = exc.reason, False
                    continue
                raise
            host.timeouts_in_a_row = 0
            return answer
        raise FetchError(url, f"{last_reason} ({self.retries} attempts)", timed_out=timed_out)

    def request_once(self, url: str, host: HostState) -> Answer:
        wait = host.last_request + self.delay - time.monotonic()
        if wait > 0:
            self.sleep(wait)
        host.last_request = time.monotonic()
        self.requests_made += 1
        with self.session.get(url, timeout=self.timeout, stream=True) as response:
            body = read_limited(response)
            host.last_request = time.monotonic()
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if response.status_code in BLOCKING_STATUSES or looks_like_challenge(response.status_code, body):
            host.blocked = describe_block(response.status_code, body)
            raise HostBlocked(url, host.blocked, response.status_code)
        if response.status_code >= 400:
            raise FetchError(url, f"HTTP {response.status_code} {response.reason or ''}".strip(), response.status_code)
        redirected = url if response.history and response.url != url else ""
        return Answer(response.url, response.status_code, content_type, body, redirected)


def read_limited(response: requests.Response) -> bytes:
    """Returns the body, refusing bodies over MAX_BODY_BYTES rather than filling the disk."""
    chunks, size = [], 0
    for chunk in response.iter_content(1 << 16):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise FetchError(response.url, f"body over {MAX_BODY_BYTES // 2**20} MB; not kept")
        chunks.append(chunk)
    return b"".join(chunks)


def looks_like_challenge(status: int, body: bytes) -> bool:
    """Returns whether an error answer is a firewall or bot-challenge page rather than the server's own."""
    return status >= 400 and bool(CHALLENGE_MARKERS.search(body[:20000]))


def describe_block(status: int, body: bytes) -> str:
    """Returns why a host counts as blocked, naming the firewall when its page says."""
    if CHALLENGE_MARKERS.search(body[:20000]):
        return f"HTTP {status} with a firewall or bot-challenge page; not retried, not escalated"
    return f"HTTP {status}: the server refuses our requests; not retried, not escalated"


def short_reason(exc: Exception) -> str:
    """Returns a requests exception in a few words."""
    text = str(exc)
    if "IncompleteRead" in text or "incomplete" in text.lower() or "ChunkedEncoding" in type(exc).__name__:
        return "the connection closed before the whole body arrived"
    if "Connection refused" in text:
        return "connection refused"
    return text[:160]


def rehost(url: str, base: str, own_paths: re.Pattern[str]) -> str:
    """Returns a portal link moved onto the host we reached, where the portal names another host for itself.

    Portals write absolute links with the host they were installed under
    ("https://democracy.Gloucester.gov.uk/mgConvert2PDF.aspx?ID=65461"); a site reached at another
    address (a new domain, a proxy, a moved base URL) serves the same path there. Links to other
    sites (a council's main website) are left alone.
    """
    parts, ours = urlsplit(url), urlsplit(base)
    if not parts.netloc or parts.netloc.lower() == ours.netloc.lower() or not own_paths.search(url):
        return url
    return urlunsplit((ours.scheme, ours.netloc, parts.path, parts.query, ""))
