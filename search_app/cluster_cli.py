"""`cpsearch cluster`: set up, fill, serve and search the Xapian shards and replicas (indexer/cluster.py)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import cast

import click
import xapian

from indexer.cluster import (
    ClusterError,
    cluster_state,
    launch,
    load_cluster,
    move_council,
    new_cluster,
    papers_of,
    server_commands,
    start_servers,
    stop_servers,
    sync_cluster,
    systemd_units,
)
from indexer.store import NoIndexError, open_index
from indexer.xapian_backend import ShardDown, XapianSearch

DEFAULT_CLUSTER = Path("var/cluster.json")
CLUSTER_OPTION = click.option(
    "--cluster",
    "cluster_file",
    type=click.Path(path_type=Path),
    default=DEFAULT_CLUSTER,
    show_default=True,
    envvar="CPSEARCH_CLUSTER",
    help="The cluster file: shards, replicas and which council lives where.",
)


@click.group()
def cluster() -> None:
    """The index past one machine: Xapian shards, each with its replicas.

    Example: cpsearch cluster init --shards 4, then cpsearch cluster sync and cpsearch cluster serve
    """


@cluster.command()
@CLUSTER_OPTION
@click.option("--root", type=click.Path(path_type=Path), default=Path("var/xapian"), show_default=True)
@click.option("--shards", type=click.IntRange(1), default=4, show_default=True)
@click.option("--replicas", type=click.IntRange(0), default=1, show_default=True, help="Replicas of each shard.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=7100, show_default=True, help="The first port.")
def init(cluster_file: Path, root: Path, shards: int, replicas: int, host: str, port: int) -> None:
    """Write a new cluster file; edit its hosts and paths to spread the shards over machines.

    Example: cpsearch cluster init --shards 4 --replicas 1
    """
    if cluster_file.exists():
        raise click.ClickException(f"{cluster_file} exists; edit it, or remove it to start again")
    cluster_file.parent.mkdir(parents=True, exist_ok=True)
    new_cluster(cluster_file, root, shards, replicas, host, port).save()
    click.echo(f"wrote {cluster_file}: {shards} shards, {replicas} replica(s) each, ports from {port}")


@cluster.command()
@CLUSTER_OPTION
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=Path("var/index"), show_default=True)
def sync(cluster_file: Path, index_dir: Path) -> None:
    """Write each council's papers from the built index to the shard that owns it; only changed papers.

    Example: cpsearch cluster sync --index var/index   (after cpsearch index)
    """
    write_to_shards(cluster_file, index_dir)


def write_to_shards(cluster_file: Path, index_dir: Path) -> None:
    """Writes the built index's papers to the cluster's shards, with progress, and says what it did."""
    try:
        spec = load_cluster(cluster_file)
        reader = open_index(index_dir)
    except (ClusterError, NoIndexError) as error:
        raise click.ClickException(str(error)) from error
    try:
        papers = papers_of(reader)
    finally:
        reader.close()
    with click.progressbar(length=1, label="Writing papers to shards", file=sys.stderr, show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        try:
            report = sync_cluster(spec, papers, progress)
        except xapian.Error as error:
            # What was committed stays; the next sync carries on from it.
            raise click.ClickException(f"the sync stopped: {error.get_msg()} ({type(error).__name__})") from error
    on_shards = ", ".join(f"{name} {count:,}" for name, count in report.items.items())
    click.echo(
        f"{report.written} papers written ({report.moved} moved), {report.unchanged} unchanged, "
        f"{report.deleted} deleted, in {report.commits} commits; items per shard: {on_shards}"
    )


@cluster.command()
@CLUSTER_OPTION
@click.argument("council")
@click.argument("shard")
def move(cluster_file: Path, council: str, shard: str) -> None:
    """Give COUNCIL to SHARD; the next sync moves its papers (written there first, then removed).

    Example: cpsearch cluster move kent s3   (then cpsearch cluster sync)
    """
    try:
        move_council(load_cluster(cluster_file), council, shard)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{council} now belongs to {shard}: run `cpsearch cluster sync` to move its papers")


@cluster.command()
@CLUSTER_OPTION
@click.option("--systemd", type=click.Path(path_type=Path), help="Write a systemd unit per server into this folder.")
def commands(cluster_file: Path, systemd: Path | None) -> None:
    """Print the command of every server the cluster runs, or write them as systemd units.

    Example: cpsearch cluster commands --systemd /etc/systemd/system
    """
    try:
        spec = load_cluster(cluster_file)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    if systemd is None:
        for name, argv in server_commands(spec):
            click.echo(f"# {name}\n{' '.join(argv)}")
        return
    systemd.mkdir(parents=True, exist_ok=True)
    for name, text in systemd_units(spec).items():
        (systemd / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {systemd / name}")


@cluster.command()
@CLUSTER_OPTION
def serve(cluster_file: Path) -> None:
    """Run every shard server, replication server and replica of the cluster on this machine until stopped.

    Example: cpsearch cluster serve --cluster var/cluster.json
    """
    try:
        servers = start_servers(load_cluster(cluster_file))
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{len(servers)} servers running; Ctrl-C stops them")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(1)
            for k, server in enumerate(servers):
                if server.poll() is not None:
                    # As systemd's Restart=always would: say so, and start it again.
                    argv = cast("list[str]", server.args)
                    click.echo(f"restarting (it stopped with {server.returncode}): {' '.join(argv)}", err=True)
                    servers[k] = launch(argv)
    finally:
        stop_servers(servers)


@cluster.command()
@CLUSTER_OPTION
def status(cluster_file: Path) -> None:
    """Say which copy of each shard answers, with its items and revision (a replica behind shows it).

    Example: cpsearch cluster status --cluster var/cluster.json
    """
    try:
        states = cluster_state(load_cluster(cluster_file))
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    for state in states:
        revision = f", revision {state.revision}" if state.revision is not None else ""
        answer = f"{state.items:,} items{revision}" if state.answers else "DOWN"
        click.echo(f"{state.shard:10} {state.copy:14} {answer}")
    if not all(any(s.answers for s in states if s.shard == shard) for shard in {s.shard for s in states}):
        raise click.ClickException("a shard has no copy answering: its councils cannot be searched")


@cluster.command()
@CLUSTER_OPTION
@click.argument("query")
@click.option("--council", multiple=True, help="Only this council (slug); repeat for several.")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
def search(cluster_file: Path, query: str, council: tuple[str, ...], limit: int) -> None:
    """Search every shard as one database and print the best items with their weights.

    Example: cpsearch cluster search "staying put" --council croydon
    """
    try:
        shards = [spec.served() for spec in load_cluster(cluster_file).shards]
        found = XapianSearch(shards).search(query, {"council": list(council)} if council else {}, limit=limit)
    except ClusterError as error:
        raise click.ClickException(str(error)) from error
    except ShardDown as down:
        raise click.ClickException(f"cannot search: {down}") from down
    click.echo(f"{found.total} items match {query!r}")
    for item_id, weight in found.hits:
        click.echo(f"{weight:8.3f}  {item_id}")
