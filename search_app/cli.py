"""The `cpsearch` command: index, serve and search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import click
from click.decorators import FC

from harvester.fetch import USER_AGENT, PoliteClient
from harvester.harvest import HarvestPlan
from harvester.harvest import harvest as run_harvest
from harvester.models import Portal
from harvester.registry import UnknownCouncil, check_portal, find_council, save_portal
from indexer.build import add_meaning, build_index
from indexer.cluster import ClusterError, load_cluster
from indexer.embeddings import EmbeddingsUnavailable
from indexer.meaning import MeaningBusy, embed_index
from indexer.sources import DEFAULT_MAX_BYTES
from indexer.store import IndexBusyError, NoIndexError, current_generation, file_lock
from indexer.vectors import CHUNK
from indexer.workers import die_with_parent, usable_cores
from search_app import BACKENDS, DEFAULTS, create_app
from search_app.cluster_cli import CLUSTER_OPTION, cluster, write_to_shards
from search_app.results import QueryError, SearchRequest
from search_app.server import THREADS
from search_app.server import serve as run_server
from search_app.service import SearchIndex

DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("var/index")


def backend_option(help_text: str) -> Callable[[FC], FC]:
    """Returns the --backend option (or CPSEARCH_BACKEND): whoosh, the default, or xapian."""
    choice = click.Choice(BACKENDS)
    return click.option(
        "--backend", type=choice, default="whoosh", show_default=True, envvar="CPSEARCH_BACKEND", help=help_text
    )


@click.group()
def main() -> None:
    """Council Papers Search: index council committee papers and search them."""


@main.command()
@click.option("--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, show_default=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option(
    "--max-mb", type=int, default=DEFAULT_MAX_BYTES // 2**20, show_default=True, help="Skip files larger than this."
)
@click.option("--workers", type=int, default=None, help="Processes for PDF extraction (default: one per core).")
@click.option("--full", is_flag=True, help="Rebuild every file instead of only the changed ones.")
@click.option(
    "--no-embeddings",
    is_flag=True,
    help="Stop once the words are searchable; `cpsearch embed` (or `cpsearch serve`, in the background) adds meaning.",
)
@backend_option("xapian: then write each council's papers to its shard in --cluster (cpsearch cluster sync).")
@CLUSTER_OPTION
def index(
    corpus: Path,
    index_dir: Path,
    max_mb: int,
    workers: int | None,
    full: bool,
    no_embeddings: bool,
    backend: str,
    cluster_file: Path,
) -> None:
    """Build or update the index of CORPUS in INDEX; only changed files are read again.

    Example: cpsearch index --corpus corpus --index var/index
    """
    if backend == "xapian":
        try:
            load_cluster(cluster_file)
        except ClusterError as error:
            raise click.ClickException(str(error)) from error
    if not corpus.is_dir():
        raise click.ClickException(f"corpus folder {corpus} does not exist")
    with click.progressbar(length=0, label="Indexing", file=sys.stderr, show_pos=True) as bar:
        try:
            report = build_index(
                corpus,
                index_dir,
                max_bytes=max_mb * 2**20,
                workers=workers,
                progress=lambda _: bar.update(1),
                full=full,
                embeddings=False,
            )
        except IndexBusyError as exc:
            raise click.ClickException(str(exc)) from exc
    later = "" if no_embeddings else "; now the meaning vectors (a run that is stopped resumes where it stopped)"
    click.echo(f"Words searchable after {report.words_seconds:.1f} s{later}")
    if not no_embeddings:
        add_meaning(index_dir, report, show_progress=True)
    for failure in report.failed + report.skipped + report.warnings:
        kind = "failed" if failure in report.failed else "skipped" if failure in report.skipped else "warning"
        click.echo(f"{kind}: {failure.relpath}: {failure.reason} ({failure.action})")
    click.echo(report.summary())
    if backend == "xapian":
        write_to_shards(cluster_file, index_dir)


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option("--background", is_flag=True, hidden=True, help="Run beside `cpsearch serve`: lower priority, quiet.")
@click.option("--chunk", type=click.IntRange(1), default=CHUNK, hidden=True, help="Texts encoded between cache writes.")
def embed(index_dir: Path, background: bool, chunk: int) -> None:
    """Add the meaning vectors of every item that has none; a re-run after a kill resumes where it stopped.

    Example: cpsearch embed --index var/index
    """
    if current_generation(index_dir) is None:
        raise click.ClickException(f"no index in {index_dir}: run `cpsearch index --index {index_dir}` first")
    if background:
        die_with_parent()
        os.nice(10)
    try:
        report = embed_index(index_dir, show_progress=True, chunk=chunk)
    except MeaningBusy as exc:
        if background:
            return  # the run that holds the lock is doing this work
        raise click.ClickException(str(exc)) from exc
    except EmbeddingsUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    if report.added or not background:
        click.echo(report.summary(), err=background)


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option("--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=None, help="worker processes  [default: one per core]")
@click.option("--threads", type=int, default=THREADS, show_default=True, help="threads per worker process")
@click.option("--no-embeddings", is_flag=True, help="Do not add missing meaning vectors in the background.")
@backend_option("Serve the Whoosh index, or the Xapian shards of --cluster with the meaning vectors of --index.")
@CLUSTER_OPTION
def serve(
    index_dir: Path,
    corpus: Path,
    host: str,
    port: int,
    workers: int | None,
    threads: int,
    no_embeddings: bool,
    backend: str,
    cluster_file: Path,
) -> None:
    """Serve the search pages and JSON API with the gunicorn WSGI server; items still without meaning
    vectors get them in the background, and the server follows them in when they are ready.

    Example: cpsearch serve --port 8000, then open http://127.0.0.1:8000/
    """
    config = {"INDEX_DIR": str(index_dir.resolve()), "CORPUS_DIR": str(corpus.resolve()), "BACKEND": backend}
    if backend == "xapian":
        try:
            load_cluster(cluster_file)
        except ClusterError as error:
            raise click.ClickException(str(error)) from error
        config["CLUSTER_FILE"] = str(cluster_file.resolve())
        # The vectors are read from --index as `cpsearch index` left them; the shards hold none to add.
        no_embeddings = True
    elif current_generation(index_dir) is None:
        raise click.ClickException(f"no index in {index_dir}: run `cpsearch index --index {index_dir}` first")
    background = None if no_embeddings else start_background_meaning(index_dir)
    click.echo(f"Serving Council Papers Search on http://{host}:{port}/ (Ctrl+C stops)")
    click.echo(alerts_state(os.environ))
    try:
        run_server(lambda: create_app(config), host, port, workers or usable_cores(), threads)
    finally:
        if background is not None:
            background.terminate()


def alerts_state(env: dict[str, str] | os._Environ[str]) -> str:
    """Returns one line saying whether the pages offer email alerts, and what turns them on."""
    from search_app.alert_mail import MailNotConfigured, MailSettings

    try:
        MailSettings.from_env(env)
    except MailNotConfigured as exc:
        return f"Email alerts: off ({exc})"
    return "Email alerts: on (run `cpsearch alerts send` after each harvest)"


def start_background_meaning(index_dir: Path) -> subprocess.Popen[bytes]:
    """Starts `cpsearch embed` beside the server, at a lower priority than searches: it adds the vectors of
    items that have none (none at all on an index that is complete) and dies with the server."""
    command = [sys.executable, "-m", "search_app.cli", "embed", "--index", str(index_dir), "--background"]
    return subprocess.Popen(command)


@main.command()
@click.option("--out", type=click.Path(path_type=Path), help="Write it to this file instead of standard output.")
def openapi(out: Path | None) -> None:
    """Prints the API's OpenAPI 3.1 document, as /api/openapi.json serves it (docs/openapi.json is a copy).

    Example: cpsearch openapi --out docs/openapi.json
    """
    app = create_app({"INDEX_DIR": str(DEFAULT_INDEX)})
    document = json.dumps(app.test_client().get("/api/openapi.json").get_json(), indent=1, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(document, nl=False)
    else:
        out.write_text(document, encoding="utf-8")
        click.echo(f"wrote {out}")


@main.command()
@click.argument("query")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option("--council", multiple=True, help="Only this council (slug); repeat for several.")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
def search(query: str, index_dir: Path, council: tuple[str, ...], limit: int) -> None:
    """Search the index and print the best agenda items.

    Example: cpsearch search "Staying Put" --council croydon
    """
    request = SearchRequest(q=query, filters={"council": list(council)} if council else {}, per_page=limit)
    try:
        results = SearchIndex(index_dir).search(request)
    except NoIndexError as exc:
        raise click.ClickException(str(exc)) from exc
    except QueryError as exc:
        raise click.ClickException(str(exc)) from exc
    if results.showing_for:
        click.echo(f"Showing results for {results.showing_for!r} ({query!r} finds almost nothing)")
    click.echo(f"{results.total} items match {results.showing_for or query!r}")
    for hit in results.hits:
        where = f"{hit.source}, page {hit.page}" if hit.format == "pdf" else hit.source
        click.echo(f"\n{hit.date or 'undated'}  {hit.council_name}  {hit.committee_name}")
        click.echo(f"  {hit.item_number + ' ' if hit.item_number else ''}{hit.item_title}")
        for decision in hit.decisions[:2]:
            click.echo(f"  > {decision[:200]}")
        click.echo(f"  {where}")
    if results.suggestion and not results.showing_for:
        click.echo(f"\nDid you mean: {results.suggestion}")


def as_date(value: datetime | None) -> date | None:
    return value.date() if value else None


def choose_portals(
    councils: tuple[str, ...], corpus: Path, system: str | None, base_url: str | None, name: str | None
) -> list[Portal]:
    """Returns the portals to harvest; --system and --base-url add or correct one council in council.json."""
    if (system or base_url) and (len(councils) != 1 or not (system and base_url)):
        raise click.ClickException("--system and --base-url go together, with exactly one --council")
    if system and base_url:
        try:
            known = find_council(councils[0], corpus)
        except UnknownCouncil:
            known = Portal(councils[0].strip().lower(), "", "", "")
        portal = check_portal(Portal(known.slug, name or known.name or known.slug, system, base_url, known.code))
        save_portal(corpus, portal)
        return [portal]
    try:
        return [find_council(council, corpus) for council in councils]
    except UnknownCouncil as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--council", "councils", multiple=True, required=True, help="Slug, LGSF code or name; repeatable.")
@click.option("--committee", "committees", multiple=True, help="Committee name (its words) or id; repeatable.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First meeting date [default: a year ago, or a re-run's trailing window]",
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last meeting date [default: four weeks ahead]")
@click.option("--system", type=click.Choice(["moderngov", "cmis"]), help="Add or correct the council's system.")
@click.option("--base-url", help="Add or correct the council's portal address (saved in council.json).")
@click.option("--name", help="The council's name, for a council the registry does not list.")
@click.option("--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, show_default=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option("--no-index", is_flag=True, help="Do not update the index afterwards.")
@click.option(
    "--delay", type=click.FloatRange(0), default=1.0, show_default=True, help="Seconds between requests to a host."
)
@click.option(
    "--timeout", type=click.FloatRange(0.1), default=60.0, show_default=True, help="Seconds to wait for an answer."
)
@click.option(
    "--retries", type=click.IntRange(1, 10), default=3, show_default=True, help="Attempts on a 5xx or time-out."
)
@click.option(
    "--backoff",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="Seconds before the first retry; doubles.",
)
@click.option("--contact", envvar="CPSEARCH_CONTACT", help="An email or URL added to the User-Agent.")
def harvest(
    councils: tuple[str, ...],
    committees: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    system: str | None,
    base_url: str | None,
    name: str | None,
    corpus: Path,
    index_dir: Path,
    no_index: bool,
    delay: float,
    timeout: float,
    retries: int,
    backoff: float,
    contact: str | None,
) -> None:
    """Fetch committee papers from councils' ModernGov or CMIS sites into CORPUS, then update the index.

    Example: cpsearch harvest --council croydon --committee "Corporate Parenting" --since 2019-01-01
    """
    portals = choose_portals(councils, corpus, system, base_url, name)
    agent = f"{USER_AGENT[:-1]}; contact: {contact})" if contact else USER_AGENT
    client = PoliteClient(delay=delay, timeout=timeout, retries=retries, backoff=backoff, user_agent=agent)
    plan = HarvestPlan(portals, list(committees), as_date(since), as_date(until))
    report = run_harvest(corpus, plan, client)
    for line in report.lines():
        click.echo(line)
    if report.written and not no_index:
        build = build_index(corpus, index_dir)
        click.echo(f"index: {build.summary()}")
    stopped = [slug for slug, tally in report.councils.items() if tally.blocked]
    listed = {f.council for f in report.failures if f.what.startswith("listing meetings")}
    if stopped or listed:
        raise click.ClickException(f"harvest incomplete: {', '.join(sorted(set(stopped) | listed))} not harvested")


ALERTS_DB_OPTION = click.option(
    "--alerts-db",
    type=click.Path(path_type=Path),
    envvar="CPSEARCH_ALERTS_DB",
    default=Path(str(DEFAULTS["ALERTS_DB"])),
    show_default=True,
)


@main.group()
def alerts() -> None:
    """Email alerts on saved searches (people sign up on the search pages)."""


@alerts.command("send")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@ALERTS_DB_OPTION
@click.option("--base-url", envvar="CPSEARCH_BASE_URL", help="The site's public address, for the emails' links.")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and change nothing.")
@click.option("--now", type=click.DateTime(["%Y-%m-%dT%H:%M:%S"]), hidden=True, help="Run as at this UTC time.")
def send_alerts_command(
    index_dir: Path, alerts_db: Path, base_url: str | None, dry_run: bool, now: datetime | None
) -> None:
    """Email everyone whose daily or weekly alerts have new items: one email each, covering all their alerts.
    Run it after `cpsearch harvest`, from cron or a systemd timer (see the README).

    Example: cpsearch alerts send --base-url https://papers.example.org
    """
    from search_app.alert_mail import MailNotConfigured, MailSettings, send_alerts
    from search_app.alert_store import AlertStore

    settings = None
    if not dry_run:
        try:
            settings = MailSettings.from_env(os.environ)
        except MailNotConfigured as exc:
            raise click.ClickException(str(exc)) from exc
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise click.ClickException(
            "the emails' links need the site's public address: --base-url or CPSEARCH_BASE_URL, such as https://papers.example.org"
        )
    if current_generation(index_dir) is None:
        raise click.ClickException(f"no index in {index_dir}: run `cpsearch index --index {index_dir}` first")
    # Alerts search the new items of the Whoosh index, whichever backend the site serves (issue 21).
    app = create_app(
        {"INDEX_DIR": str(index_dir.resolve()), "ALERTS_DB": str(alerts_db.resolve()), "BACKEND": "whoosh"}
    )
    when = now.replace(tzinfo=UTC) if now else datetime.now(UTC)
    # One run at a time: two overlapping runs (a slow one and the next cron's) would both send the same items.
    busy = click.ClickException(f"another `cpsearch alerts send` is running on {alerts_db}; this one did nothing")
    lock = alerts_db.with_name(alerts_db.name + ".send.lock")
    with file_lock(lock, busy), app.test_request_context("/", base_url=base_url.rstrip("/") + "/"):
        store = AlertStore(alerts_db)
        try:
            report = send_alerts(store, settings, when, dry_run=dry_run, say=click.echo)
        finally:
            store.close()
    for line in report.lines():
        click.echo(line)
    if report.failed:
        sys.exit(1)  # cron mails its owner; the items wait for the next run


@alerts.command("bounced")
@click.argument("addresses", nargs=-1, required=True)
@ALERTS_DB_OPTION
@click.option("--reason", default="bounced", show_default=True, help="What the bounce said.")
def alerts_bounced(addresses: tuple[str, ...], alerts_db: Path, reason: str) -> None:
    """Record bounces that came back after sending (the sender address's mailbox gets them): each counts
    like a refusal, and an address that fails three times in a row is sent nothing more.

    Example: cpsearch alerts bounced someone@example.org --reason "550 mailbox unavailable"
    """
    from search_app.alert_store import AlertStore

    store = AlertStore(alerts_db)
    try:
        for address in addresses:
            subscriber = store.note_bounce(address.strip(), reason, datetime.now(UTC))
            if subscriber is None:
                click.echo(f"{address}: has no alerts (nothing recorded)")
            else:
                state = "suspended" if subscriber.suspended_at else "still sent to"
                click.echo(f"{address}: {subscriber.failures} failures in a row, {state}")
    finally:
        store.close()


main.add_command(cluster)

__all__ = ["main", "DEFAULTS"]

if __name__ == "__main__":
    main()
