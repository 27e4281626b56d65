"""The `cpsearch` command: index, serve and search."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from indexer.build import build_index
from indexer.sources import DEFAULT_MAX_BYTES
from indexer.store import IndexBusyError, NoIndexError, current_generation, usable_cores
from search_app import DEFAULTS, create_app
from search_app.results import QueryError, SearchRequest
from search_app.search import SearchIndex

DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("var/index")


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
def index(corpus: Path, index_dir: Path, max_mb: int, workers: int | None, full: bool) -> None:
    """Build or update the index of CORPUS in INDEX; only changed files are read again.

    Example: cpsearch index --corpus corpus --index var/index
    """
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
            )
        except IndexBusyError as exc:
            raise click.ClickException(str(exc)) from exc
    for failure in report.failed + report.skipped + report.warnings:
        kind = "failed" if failure in report.failed else "skipped" if failure in report.skipped else "warning"
        click.echo(f"{kind}: {failure.relpath}: {failure.reason} ({failure.action})")
    click.echo(report.summary())


@main.command()
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=DEFAULT_INDEX, show_default=True)
@click.option("--corpus", type=click.Path(path_type=Path), default=DEFAULT_CORPUS, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--workers", type=int, default=None, help="worker processes  [default: one per core]")
@click.option("--threads", type=int, default=4, show_default=True, help="threads per worker process")
def serve(index_dir: Path, corpus: Path, host: str, port: int, workers: int | None, threads: int) -> None:
    """Serve the search pages and JSON API with the gunicorn WSGI server.

    Example: cpsearch serve --port 8000, then open http://127.0.0.1:8000/
    """
    from search_app.server import serve as run_server

    if current_generation(index_dir) is None:
        raise click.ClickException(f"no index in {index_dir}: run `cpsearch index --index {index_dir}` first")
    config = {"INDEX_DIR": str(index_dir.resolve()), "CORPUS_DIR": str(corpus.resolve())}
    click.echo(f"Serving Council Papers Search on http://{host}:{port}/ (Ctrl+C stops)")
    run_server(lambda: create_app(config), host, port, workers or usable_cores(), threads)


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
    click.echo(f"{results.total} items match {query!r}")
    for hit in results.hits:
        where = f"{hit.source}, page {hit.page}" if hit.format == "pdf" else hit.source
        click.echo(f"\n{hit.date or 'undated'}  {hit.council_name}  {hit.committee_name}")
        click.echo(f"  {hit.item_number + ' ' if hit.item_number else ''}{hit.item_title}")
        for decision in hit.decisions[:2]:
            click.echo(f"  > {decision[:200]}")
        click.echo(f"  {where}")
    if results.suggestion:
        click.echo(f"\nDid you mean: {results.suggestion}")


__all__ = ["main", "DEFAULTS"]
