"""The Xapian cluster (issue 21): the cluster file saying which shard each council lives on and where each
shard and its replicas are served, the sync that writes each council's papers to its shard, and the
commands and systemd units that serve them.

The cluster file is JSON, kept beside the index (var/cluster.json by default):

    {"shards": [{"name": "s0", "path": "var/shards/s0", "host": "127.0.0.1", "port": 7100,
                 "replicate_port": 7200,
                 "replicas": [{"name": "s0-r1", "path": "var/replicas/s0", "host": "127.0.0.1", "port": 7101}]}],
     "councils": {"kent": "s0", "croydon": "s1"}}

Placement is stable: a council stays on the shard the file names until `cpsearch cluster move` moves it.
A council the file does not name yet is placed, when a sync first meets it, on the shard holding the
fewest items at that moment (counting what this sync has already placed), ties going to the shard listed
first; the choice is written to the file at once. So shards fill evenly as councils arrive, and adding an
empty shard makes it take the next new councils.

The sync reads the records of the built index (`cpsearch index`), one paper at a time, and writes each
paper to the master database of the shard that owns its council, on this machine. A paper whose records
are unchanged (same hash, recorded in the shard with its items) is skipped; a changed one is replaced; a
paper gone from the index is deleted; a paper whose council moved is written to its new shard before it is
deleted from the old one, so a search in between sees it twice (folded by its copy key), never not at all.
Every shard commits after each BATCH papers: a sync that is killed loses at most the batch in hand, and
the next sync carries on from what was committed. Readers keep the revision they opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import xapian

from indexer.backend import ItemReader
from indexer.xapian_backend import DOCUMENT_FORMAT, Shard, XapianWriter, mark_canonical

BATCH = 200
# Changesets kept by each master, so a replica fetches only what changed since its revision (Xapian writes
# none unless this is set in the writing process).
MAX_CHANGESETS = "100"
REPLICATE_INTERVAL = 60
TCPSRV, REPLICATE_SERVER, REPLICATE = "xapian-tcpsrv", "xapian-replicate-server", "xapian-replicate"


class ClusterError(ValueError):
    """The cluster file is missing, malformed or names something that does not exist."""


@dataclass(frozen=True)
class Replica:
    """A copy of one shard, kept up to date by xapian-replicate and served by its own xapian-tcpsrv."""

    name: str
    path: Path
    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class ShardSpec:
    """One shard: its master database (written by the sync), the xapian-tcpsrv serving it, the
    xapian-replicate-server its replicas pull from, and its replicas."""

    name: str
    path: Path
    host: str = "127.0.0.1"
    port: int = 0
    replicate_port: int = 0
    replicas: tuple[Replica, ...] = ()

    def served(self) -> Shard:
        """Returns the shard as the web server opens it: the master, falling back to its replicas."""
        return Shard(
            name=f"{self.name} ({self.host}:{self.port})",
            host=self.host,
            port=self.port,
            replicas=tuple((r.host, r.port) for r in self.replicas),
        )


@dataclass
class Cluster:
    """The cluster file's contents: the shards in order and the council -> shard assignment."""

    file: Path
    shards: list[ShardSpec]
    councils: dict[str, str] = field(default_factory=dict)

    def shard(self, name: str) -> ShardSpec:
        """Returns the shard of that name; raises ClusterError naming the ones that exist."""
        for spec in self.shards:
            if spec.name == name:
                return spec
        raise ClusterError(f"no shard {name!r} in {self.file}; it has {', '.join(s.name for s in self.shards)}")

    def place(self, council: str, items: Counter[str]) -> str:
        """Returns the shard owning a council, placing a new one on the shard with fewest `items`."""
        if council not in self.councils:
            self.councils[council] = min(self.shards, key=lambda s: items[s.name]).name
        return self.councils[council]

    def save(self) -> None:
        """Writes the file atomically."""
        shards = [
            {**asdict(s), "path": str(s.path), "replicas": [{**asdict(r), "path": str(r.path)} for r in s.replicas]}
            for s in self.shards
        ]
        text = json.dumps({"shards": shards, "councils": dict(sorted(self.councils.items()))}, indent=1)
        partial = self.file.with_name(self.file.name + ".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        os.replace(partial, self.file)


def load_cluster(file: Path) -> Cluster:
    """Returns the cluster a file describes; raises ClusterError saying what is wrong with it."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        shards = [read_shard(spec) for spec in data["shards"]]
        cluster = Cluster(file, shards, dict(data.get("councils", {})))
    except FileNotFoundError:
        raise ClusterError(f"no cluster file at {file}: create one with `cpsearch cluster init`") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ClusterError(f"{file} is not a cluster file: {error}") from None
    if not shards:
        raise ClusterError(f"{file} names no shards")
    for council, name in cluster.councils.items():
        if name not in {s.name for s in shards}:
            raise ClusterError(f"{file} puts {council} on shard {name!r}, which it does not list")
    return cluster


def read_shard(spec: Mapping[str, Any]) -> ShardSpec:
    """Returns one shard of the cluster file."""
    replicas = tuple(Replica(**{**r, "path": Path(r["path"])}) for r in spec.get("replicas", []))
    return ShardSpec(**{**spec, "path": Path(spec["path"]), "replicas": replicas})


def new_cluster(file: Path, root: Path, shards: int, replicas: int, host: str, first_port: int) -> Cluster:
    """Returns a cluster of `shards` shards under root, each with `replicas` replicas, on consecutive ports
    from first_port (each shard: its server, its replication server, then one server per replica)."""
    specs, port = [], first_port
    for k in range(shards):
        name = f"s{k}"
        names = [f"{name}-r{r + 1}" for r in range(replicas)]
        copies = tuple(Replica(copy, root / "replicas" / copy, host, port + 2 + r) for r, copy in enumerate(names))
        specs.append(ShardSpec(name, root / "shards" / name, host, port, port + 1, copies))
        port += 2 + replicas
    return Cluster(file, specs)


def paper_hash(records: Iterable[Mapping[str, Any]]) -> str:
    """Returns a hash of one paper's records and the documents' format: it changes when anything the shards
    store changes, or how they store it."""
    text = json.dumps(sorted((dict(r) for r in records), key=lambda r: str(r["id"])), sort_keys=True, default=str)
    return hashlib.sha1(f"{DOCUMENT_FORMAT}\n{text}".encode()).hexdigest()[:16]


def papers_of(reader: ItemReader) -> dict[str, list[dict[str, Any]]]:
    """Returns doc_id -> the records of each paper in the built index, one copy of each item marked as the
    one its facets are counted by (mark_canonical)."""
    records = [dict(record) for record in reader.stored_records()]
    mark_canonical(records)
    papers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        papers[str(record["doc_id"])].append(record)
    return papers


@dataclass
class SyncReport:
    """What a sync did, paper by paper."""

    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    moved: int = 0
    commits: int = 0
    items: dict[str, int] = field(default_factory=dict)
    """Items on each shard after the sync."""


def sync_cluster(
    cluster: Cluster,
    papers: Mapping[str, list[dict[str, Any]]],
    progress: Callable[[int, int], None] | None = None,
    stop_after: int | None = None,
) -> SyncReport:
    """Writes each paper to the shard owning its council and deletes what the index no longer holds,
    committing every BATCH papers; returns what it did. `stop_after` ends it after that many commits, as
    a killed sync would (for the tests)."""
    os.environ.setdefault("XAPIAN_MAX_CHANGESETS", MAX_CHANGESETS)
    for spec in cluster.shards:
        spec.path.parent.mkdir(parents=True, exist_ok=True)
    writers = {spec.name: XapianWriter(spec.path) for spec in cluster.shards}
    try:
        held = {name: writer.papers() for name, writer in writers.items()}
        items = Counter({name: writer.database.get_doccount() for name, writer in writers.items()})
        report = SyncReport()
        writes, removals = sync_plan(cluster, papers, held, items, report)
        cluster.save()
        # Removals run after every write is committed, so a paper moving between shards is never missing.
        steps, done = [*writes, None, *removals], 0
        for step in steps:
            if step is not None:
                step(writers)
                done += 1
            if step is None or done % BATCH == 0 or done == len(writes) + len(removals):
                commit_all(writers)
                report.commits += 1
                if progress:
                    progress(done, len(writes) + len(removals))
                if stop_after is not None and report.commits >= stop_after:
                    break
        report.items = {name: writer.database.get_doccount() for name, writer in writers.items()}
        return report
    finally:
        for writer in writers.values():
            writer.close()


Writers = Mapping[str, XapianWriter]
Step = Callable[[Writers], None]


def sync_plan(
    cluster: Cluster,
    papers: Mapping[str, list[dict[str, Any]]],
    held: Mapping[str, Mapping[str, str]],
    items: Counter[str],
    report: SyncReport,
) -> tuple[list[Step], list[Step]]:
    """Returns the writes a sync makes, one per new or changed paper, and the removals: papers gone from
    the index, and papers from the shard their council moved away from."""
    # A killed sync can leave a moved paper on two shards: every shard holding it is known.
    where: dict[str, set[str]] = defaultdict(set)
    for name, docs in held.items():
        for doc_id in docs:
            where[doc_id].add(name)
    writes: list[Step] = []
    removals: list[Step] = []
    for doc_id in sorted(papers):
        records = papers[doc_id]
        owner = cluster.place(str(records[0]["council"]), items)
        digest, holders = paper_hash(records), where.pop(doc_id, set())
        if owner in holders and held[owner][doc_id] == digest:
            report.unchanged += 1
        else:
            if owner not in holders:
                items[owner] += len(records)
            report.written += 1
            writes.append(partial(replace_paper, owner, doc_id, digest, records))
        for old in sorted(holders - {owner}):
            report.moved += 1
            removals.append(partial(remove_paper, old, doc_id))
    for doc_id, names in sorted(where.items()):
        report.deleted += 1
        removals.extend(partial(remove_paper, name, doc_id) for name in sorted(names))
    return writes, removals


def replace_paper(shard: str, doc_id: str, digest: str, records: list[dict[str, Any]], writers: Writers) -> None:
    """Writes one paper's records to a shard, replacing what it held of that paper."""
    writers[shard].replace_paper(doc_id, digest, records)


def remove_paper(shard: str, doc_id: str, writers: Writers) -> None:
    """Deletes one paper from a shard."""
    writers[shard].remove_paper(doc_id)


def commit_all(writers: Writers) -> None:
    """Commits every shard."""
    for writer in writers.values():
        writer.commit()


def move_council(cluster: Cluster, council: str, shard: str) -> None:
    """Assigns a council to another shard in the file; the next sync moves its papers."""
    if council not in cluster.councils:
        raise ClusterError(f"{council} is not in {cluster.file}: a sync places it when it first appears")
    cluster.councils[council] = cluster.shard(shard).name
    cluster.save()


def server_commands(cluster: Cluster) -> list[tuple[str, list[str]]]:
    """Returns (name, argv) of every server the cluster runs: per shard, its xapian-tcpsrv and its
    xapian-replicate-server; per replica, its xapian-replicate and its xapian-tcpsrv."""
    commands = []
    for spec in cluster.shards:
        commands.append((spec.name, tcpsrv_command(spec.host, spec.port, spec.path)))
        if spec.replicas:
            # The replication server serves a folder of databases; a replica asks for its master by name.
            where = ["--interface", spec.host, "--port", str(spec.replicate_port), str(spec.path.parent)]
            commands.append((f"{spec.name}-replication", [REPLICATE_SERVER, *where]))
        for replica in spec.replicas:
            commands.append((f"{replica.name}-replicate", replicate_command(spec, replica)))
            commands.append((replica.name, tcpsrv_command(replica.host, replica.port, replica.path)))
    return commands


def tcpsrv_command(host: str, port: int, path: Path) -> list[str]:
    """Returns the xapian-tcpsrv command serving one database read-only."""
    return [TCPSRV, "--interface", host, "--port", str(port), str(path)]


def replicate_command(spec: ShardSpec, replica: Replica, one_shot: bool = False) -> list[str]:
    """Returns the xapian-replicate command keeping a replica up to date with its master (or, one_shot,
    bringing it up to date once, applying every changeset without waiting for readers between them)."""
    master = ["--host", spec.host, "--port", str(spec.replicate_port), "--master", spec.path.name]
    every = ["--one-shot", "--reader-time", "0"] if one_shot else ["--interval", str(REPLICATE_INTERVAL)]
    return [REPLICATE, *master, *every, str(replica.path)]


def systemd_units(cluster: Cluster) -> dict[str, str]:
    """Returns unit file name -> text of a systemd service per server, restarted when it stops."""
    units = {}
    for name, argv in server_commands(cluster):
        binary = shutil.which(argv[0]) or f"/usr/bin/{argv[0]}"
        units[f"cpsearch-{name}.service"] = (
            "[Unit]\n"
            f"Description=Council Papers Search Xapian {name}\n"
            "After=network-online.target\n\n"
            "[Service]\n"
            f"ExecStart={' '.join([binary, *argv[1:]])}\n"
            "Restart=always\n"
            "RestartSec=2\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n"
        )
    return units


def start_servers(cluster: Cluster) -> list[subprocess.Popen[bytes]]:
    """Starts every server of the cluster on this machine and returns them once they answer: the masters'
    xapian-tcpsrv and xapian-replicate-server first, then each replica's first full copy (one-shot), its
    xapian-tcpsrv and its xapian-replicate, which keeps it up to date."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for spec in cluster.shards:
            started.append(launch(tcpsrv_command(spec.host, spec.port, spec.path)))
            wait_for_database(spec.host, spec.port)
            if spec.replicas:
                where = ["--interface", spec.host, "--port", str(spec.replicate_port), str(spec.path.parent)]
                started.append(launch([REPLICATE_SERVER, *where]))
                wait_for_port(spec.host, spec.replicate_port)
        for spec in cluster.shards:
            for replica in spec.replicas:
                replica.path.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(replicate_command(spec, replica, one_shot=True), check=True, capture_output=True)
                started.append(launch(tcpsrv_command(replica.host, replica.port, replica.path)))
                wait_for_database(replica.host, replica.port)
                started.append(launch(replicate_command(spec, replica)))
    except BaseException:
        stop_servers(started)
        raise
    return started


def wait_for_database(host: str, port: int, seconds: float = 20) -> None:
    """Returns once a xapian-tcpsrv answers on host:port (a whole handshake, which a bare connection
    would leave it reporting as a broken pipe); raises ClusterError naming it after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            xapian.remote_open(host, port, 1_000, 1_000).close()
            return
        except xapian.NetworkError:
            time.sleep(0.05)
    raise ClusterError(f"no Xapian server answers on {host}:{port} after {seconds:.0f} s")


def wait_for_port(host: str, port: int, seconds: float = 20) -> None:
    """Returns once something listens on host:port; raises ClusterError naming it after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise ClusterError(f"nothing answers on {host}:{port} after {seconds:.0f} s")


def launch(argv: list[str]) -> subprocess.Popen[bytes]:
    """Starts one server; raises ClusterError when its program is not installed."""
    program = shutil.which(argv[0])
    if program is None:
        raise ClusterError(f"{argv[0]} is not installed: apt-get install xapian-tools (`make install` does)")
    # A session of its own: xapian-tcpsrv, when stopped, signals its whole process group (its forked
    # children), which would otherwise be whoever started it.
    return subprocess.Popen([program, *argv[1:]], stdout=subprocess.DEVNULL, start_new_session=True)


def stop_servers(servers: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stops the servers and waits for them."""
    for server in servers:
        server.terminate()
    for server in servers:
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass(frozen=True)
class CopyState:
    """One served copy of a shard (its master or a replica): whether it answers, what it holds, and its
    revision where its files are on this machine (the remote protocol does not tell revisions)."""

    shard: str
    copy: str
    answers: bool
    items: int = 0
    revision: int | None = None


def cluster_state(cluster: Cluster) -> list[CopyState]:
    """Returns every copy of every shard as its server answers now: a replica behind its master holds an
    older revision (it serves that revision, complete, until xapian-replicate brings the next)."""
    states = []
    for spec in cluster.shards:
        copies = [(spec.name, spec.host, spec.port, spec.path)]
        copies += [(r.name, r.host, r.port, r.path) for r in spec.replicas]
        for copy, host, port, path in copies:
            try:
                items = xapian.remote_open(host, port, 5_000, 5_000).get_doccount()
            except xapian.NetworkError:
                states.append(CopyState(spec.name, copy, False))
                continue
            states.append(CopyState(spec.name, copy, True, items, local_revision(path)))
    return states


def local_revision(path: Path) -> int | None:
    """Returns the committed revision of a database on this machine, or None when it is elsewhere."""
    try:
        return int(xapian.Database(str(path)).get_revision())
    except xapian.DatabaseError:
        return None
