"""The Xapian cluster on loopback: the cluster file places councils and keeps them placed, the sync writes
each council's papers to its shard and only what changed, a killed sync loses at most a batch, three
shard servers and a replica answer as one database, a shard that dies is served by its replica or named,
a re-index runs while searches are answered, and a replica catches up after an update."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

xapian = pytest.importorskip("xapian")

import indexer.cluster as cluster_module  # noqa: E402
from indexer.cluster import (  # noqa: E402
    Cluster,
    ClusterError,
    Replica,
    ShardSpec,
    cluster_state,
    load_cluster,
    move_council,
    paper_hash,
    papers_of,
    replicate_command,
    server_commands,
    start_servers,
    stop_servers,
    sync_cluster,
    systemd_units,
)
from indexer.store import open_index  # noqa: E402
from indexer.xapian_backend import Shard, ShardDown, XapianSearch, XapianWriter, paper_hashes  # noqa: E402
from search_app.cli import main  # noqa: E402

DATA = Path(__file__).parent / "data"
JUDGED = ["blind_queries.json", "heldout_queries.json", "heldout2_queries.json"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def three_shards(root: Path, replica_of_first: bool = False) -> Cluster:
    """A cluster file of three shards on free loopback ports, the first with one replica if asked."""
    shards = []
    for k in range(3):
        copies = (
            (Replica(f"s{k}-r1", root / "replicas" / f"s{k}-r1", port=free_port()),)
            if replica_of_first and k == 0
            else ()
        )
        shards.append(
            ShardSpec(f"s{k}", root / "shards" / f"s{k}", port=free_port(), replicate_port=free_port(), replicas=copies)
        )
    cluster = Cluster(root / "cluster.json", shards)
    cluster.save()
    return cluster


def held(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Returns shard name -> the papers (doc_id -> hash) its master holds, as committed."""
    return {spec.name: paper_hashes(xapian.Database(str(spec.path))) for spec in cluster.shards}


@pytest.fixture(scope="module")
def papers(index_dir: Path) -> dict[str, list[dict[str, Any]]]:
    reader = open_index(index_dir)
    try:
        return papers_of(reader)
    finally:
        reader.close()


def test_a_new_council_goes_to_the_emptiest_shard_and_stays_there(tmp_path: Path) -> None:
    cluster = three_shards(tmp_path)
    items = Counter({"s0": 50, "s1": 10, "s2": 10})
    assert cluster.place("kent", items) == "s1"  # fewest items; ties go to the shard listed first
    items["s1"] += 40
    assert cluster.place("croydon", items) == "s2"
    items["s2"] += 100
    assert cluster.place("kent", items) == "s1"  # placed once, kept whatever the counts
    cluster.save()
    again = load_cluster(cluster.file)
    assert again.councils == {"kent": "s1", "croydon": "s2"}
    assert again.shards == cluster.shards
    move_council(again, "kent", "s0")
    assert load_cluster(cluster.file).councils["kent"] == "s0"
    with pytest.raises(ClusterError, match="no shard 's9'.*s0, s1, s2"):
        move_council(again, "kent", "s9")
    with pytest.raises(ClusterError, match="surrey is not in"):
        move_council(again, "surrey", "s0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no cluster file at .*cpsearch cluster init"),
        ("{", "is not a cluster file"),
        ('{"shards": []}', "names no shards"),
        ('{"shards": [{"name": "s0", "path": "x"}], "councils": {"kent": "s4"}}', "puts kent on shard 's4'"),
    ],
)
def test_a_bad_cluster_file_says_what_is_wrong(tmp_path: Path, text: str | None, message: str) -> None:
    file = tmp_path / "cluster.json"
    if text is not None:
        file.write_text(text)
    with pytest.raises(ClusterError, match=message):
        load_cluster(file)


def test_the_sync_writes_each_council_to_its_shard_and_then_only_what_changed(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    cluster = three_shards(tmp_path)
    first = sync_cluster(cluster, papers)
    assert (first.written, first.unchanged, first.deleted) == (len(papers), 0, 0)
    assert sum(first.items.values()) == sum(map(len, papers.values()))
    assert len([n for n in first.items.values() if n]) > 1, "every council landed on one shard"
    on_disk = load_cluster(cluster.file).councils  # the placement was saved
    for name, docs in held(cluster).items():
        assert {papers[d][0]["council"] for d in docs} <= {c for c, s in on_disk.items() if s == name}
    second = sync_cluster(load_cluster(cluster.file), papers)
    assert (second.written, second.unchanged, second.deleted) == (0, len(papers), 0)
    changed, gone = sorted(papers)[:2]
    edited = {**papers, changed: [{**r, "body": r["body"] + " A zanzibarian addendum."} for r in papers[changed]]}
    del edited[gone]
    third = sync_cluster(load_cluster(cluster.file), edited)
    assert (third.written, third.deleted) == (1, 1)
    now = {doc: digest for docs in held(cluster).values() for doc, digest in docs.items()}
    assert gone not in now and now[changed] == paper_hash(edited[changed])
    owner = load_cluster(cluster.file).councils[papers[changed][0]["council"]]
    found = XapianSearch([Shard(owner, path=cluster.shard(owner).path)]).search("zanzibarian")
    assert [item_id for item_id, _ in found.hits] == [r["id"] for r in edited[changed]][: len(found.hits)]


def test_a_new_document_format_rewrites_every_paper(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = three_shards(tmp_path)
    sync_cluster(cluster, papers)
    monkeypatch.setattr(cluster_module, "DOCUMENT_FORMAT", "next")
    again = sync_cluster(load_cluster(cluster.file), papers)
    assert (again.written, again.unchanged, again.deleted) == (len(papers), 0, 0)
    assert sum(again.items.values()) == sum(map(len, papers.values()))  # replaced, not added twice


def test_a_killed_sync_loses_at_most_a_batch_and_the_next_one_finishes(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "BATCH", 5)
    cluster = three_shards(tmp_path)
    killed = sync_cluster(cluster, papers, stop_after=2)
    landed = sum(len(docs) for docs in held(cluster).values())
    assert killed.commits == 2 and landed == 10  # two batches of five papers committed, the third lost
    rest = sync_cluster(load_cluster(cluster.file), papers)
    assert (rest.unchanged, rest.written) == (10, len(papers) - 10)
    assert sum(len(docs) for docs in held(cluster).values()) == len(papers)


def test_moving_a_council_writes_its_papers_on_the_new_shard_and_removes_them_from_the_old(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    cluster = three_shards(tmp_path)
    sync_cluster(cluster, papers)
    cluster = load_cluster(cluster.file)
    council, old = next(iter(sorted(cluster.councils.items())))
    new = next(s.name for s in cluster.shards if s.name != old)
    theirs = {d for d, records in papers.items() if records[0]["council"] == council}
    move_council(cluster, council, new)
    report = sync_cluster(load_cluster(cluster.file), papers)
    assert report.moved == report.written == len(theirs)
    now = held(cluster)
    assert theirs <= set(now[new]) and not theirs & set(now[old])


def test_a_move_killed_before_its_removals_is_finished_by_the_next_sync(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = three_shards(tmp_path)
    sync_cluster(cluster, papers)
    cluster = load_cluster(cluster.file)
    council, old = next(iter(sorted(cluster.councils.items())))
    new = next(s.name for s in cluster.shards if s.name != old)
    theirs = {d for d, records in papers.items() if records[0]["council"] == council}
    move_council(cluster, council, new)
    monkeypatch.setattr(cluster_module, "BATCH", 10_000)
    sync_cluster(load_cluster(cluster.file), papers, stop_after=1)  # the writes committed, then killed
    assert theirs <= set(held(cluster)[old]) & set(held(cluster)[new])  # on both, for a while
    report = sync_cluster(load_cluster(cluster.file), papers)
    assert (report.written, report.moved) == (0, len(theirs))
    now = held(cluster)
    assert theirs <= set(now[new]) and not theirs & set(now[old])


def test_overlong_words_and_paths_are_written_not_refused(
    papers: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    doc_id, records = next(iter(sorted(papers.items())))
    long_id = "kent/" + "a-very-long-file-name-" * 14 + ".pdf"
    odd = [{**r, "doc_id": long_id, "body": r["body"] + " " + "_" * 300 + " zanzibarian"} for r in records]
    cluster = three_shards(tmp_path)
    report = sync_cluster(cluster, {long_id: odd})
    assert report.written == 1 and held(cluster)[load_cluster(cluster.file).councils[odd[0]["council"]]] == {
        long_id: paper_hash(odd)
    }
    owner = load_cluster(cluster.file).shard(load_cluster(cluster.file).councils[odd[0]["council"]])
    found = XapianSearch([Shard(owner.name, path=owner.path)]).search("zanzibarian")
    assert {item_id for item_id, _ in found.hits} == {r["id"] for r in odd if r["canonical"]}
    assert sync_cluster(load_cluster(cluster.file), {}).deleted == 1  # and found again to be removed


def test_the_commands_and_units_serve_every_shard_and_replica(tmp_path: Path) -> None:
    cluster = three_shards(tmp_path, replica_of_first=True)
    names = [name for name, _ in server_commands(cluster)]
    assert names == ["s0", "s0-replication", "s0-r1-replicate", "s0-r1", "s1", "s2"]
    commands = dict(server_commands(cluster))
    master = cluster.shards[0]
    assert commands["s0"] == ["xapian-tcpsrv", "--interface", "127.0.0.1", "--port", str(master.port), str(master.path)]
    assert commands["s0-r1-replicate"][-1] == str(master.replicas[0].path)
    assert ["--master", "s0"] == commands["s0-r1-replicate"][5:7]
    units = systemd_units(cluster)
    assert sorted(units) == sorted(f"cpsearch-{name}.service" for name in names)
    unit = units["cpsearch-s1.service"]
    assert "Restart=always" in unit
    assert f"ExecStart={shutil.which('xapian-tcpsrv') or '/usr/bin/xapian-tcpsrv'} --interface 127.0.0.1" in unit


def test_the_cli_sets_up_syncs_and_reports_a_missing_file(index_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    file = tmp_path / "cluster.json"
    missing = runner.invoke(main, ["cluster", "sync", "--cluster", str(file), "--index", str(index_dir)])
    assert missing.exit_code == 1 and "cpsearch cluster init" in missing.output
    made = runner.invoke(main, ["cluster", "init", "--cluster", str(file), "--root", str(tmp_path), "--shards", "2"])
    assert made.exit_code == 0, made.output
    again = runner.invoke(main, ["cluster", "init", "--cluster", str(file)])
    assert again.exit_code == 1 and "exists" in again.output
    synced = runner.invoke(main, ["cluster", "sync", "--cluster", str(file), "--index", str(index_dir)])
    assert synced.exit_code == 0, synced.output
    assert "0 unchanged, 0 deleted" in synced.output
    assert len(json.loads(file.read_text())["councils"]) >= 2


def test_index_with_the_xapian_backend_builds_then_writes_the_shards(corpus_subset: Path, tmp_path: Path) -> None:
    file = tmp_path / "cluster.json"
    runner = CliRunner()
    assert runner.invoke(main, ["cluster", "init", "--cluster", str(file), "--root", str(tmp_path)]).exit_code == 0
    arguments = ["index", "--corpus", str(corpus_subset), "--index", str(tmp_path / "index"), "--no-embeddings"]
    built = runner.invoke(main, [*arguments, "--backend", "xapian", "--cluster", str(file)])
    assert built.exit_code == 0, built.output
    assert "0 unchanged, 0 deleted" in built.output
    written = sum(xapian.Database(str(spec.path)).get_doccount() for spec in load_cluster(file).shards)
    reader = open_index(tmp_path / "index")
    try:
        assert written == sum(1 for _ in reader.stored_records())
    finally:
        reader.close()
    missing = runner.invoke(main, [*arguments, "--backend", "xapian", "--cluster", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "cpsearch cluster init" in missing.output


@pytest.fixture
def served(papers: dict[str, list[dict[str, Any]]], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Three shard servers and a replica of the first, started and stopped here, and one local database of
    the same items."""
    if shutil.which("xapian-tcpsrv") is None:
        pytest.fail("xapian-tcpsrv is not installed: `make test` installs it (apt-get install xapian-tools)")
    cluster = three_shards(tmp_path, replica_of_first=True)
    sync_cluster(cluster, papers)
    single = XapianWriter(tmp_path / "single")
    for records in papers.values():
        for record in records:
            single.add_record(record)
    single.commit()
    single.close()
    servers = start_servers(load_cluster(cluster.file))
    yield {"cluster": load_cluster(cluster.file), "servers": servers, "single": tmp_path / "single"}
    stop_servers(servers)


def server_of(served: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    """Returns the running xapian-tcpsrv listening on a port."""
    return next(s for s in served["servers"] if s.args[0].endswith("xapian-tcpsrv") and str(port) in s.args)


def test_three_shards_and_a_replica_rank_the_judged_queries_as_one_database(served: dict[str, Any]) -> None:
    one = XapianSearch([Shard("single", path=served["single"])])
    many = XapianSearch([spec.served() for spec in served["cluster"].shards])
    queries = [q["q"] for name in JUDGED for q in json.loads((DATA / name).read_text())["queries"]]
    assert len(queries) >= 100
    for query in queries:
        expected, got = one.search(query, limit=10), many.search(query, limit=10)
        assert [i for i, _ in got.hits] == [i for i, _ in expected.hits], query
        assert [w for _, w in got.hits] == pytest.approx([w for _, w in expected.hits]), query
        assert (got.total, got.facets) == (expected.total, expected.facets), query


def test_searches_at_once_on_many_threads_answer_as_one_at_a_time(served: dict[str, Any]) -> None:
    # A server worker answers several searches at once, and each counts on the shared counting threads
    # while it asks for its page: every answer must be the one a search alone gets.
    search = XapianSearch([spec.served() for spec in served["cluster"].shards])
    queries = [q["q"] for q in json.loads((DATA / JUDGED[0]).read_text())["queries"]][:24]
    alone = {query: search.search(query, limit=10) for query in queries}
    answers: dict[str, list[Any]] = {query: [] for query in queries}

    def ask(offset: int) -> None:
        for n in range(len(queries)):
            query = queries[(n + offset) % len(queries)]
            answers[query].append(search.search(query, limit=10))

    threads = [threading.Thread(target=ask, args=(k * 3,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for query, got in answers.items():
        assert len(got) == 8, query
        for answer in got:
            assert (answer.hits, answer.total, answer.facets) == (
                alone[query].hits,
                alone[query].total,
                alone[query].facets,
            ), query


def test_a_dead_master_is_served_by_its_replica_and_a_dead_shard_is_named(served: dict[str, Any]) -> None:
    cluster = served["cluster"]
    search = XapianSearch([spec.served() for spec in cluster.shards])
    before = search.search("foster carers", limit=20)
    answers = []
    for n in range(30):
        if n == 10:
            master = server_of(served, cluster.shards[0].port)
            os.killpg(master.pid, signal.SIGKILL)  # with the children serving open connections: a machine down
            master.wait()
        answers.append(search.search("foster carers", limit=20))
    assert all(a == before for a in answers)  # the replica of s0 answered with the same items
    states = {s.copy: s for s in cluster_state(cluster)}
    assert not states["s0"].answers and states["s0-r1"].answers
    assert states["s0-r1"].items == xapian.Database(str(cluster.shards[0].path)).get_doccount()
    lone = server_of(served, cluster.shards[1].port)
    os.killpg(lone.pid, signal.SIGKILL)
    lone.wait()
    with pytest.raises(ShardDown) as down:
        search.search("foster carers")
    assert down.value.shards == [cluster.shards[1].served().name]


def test_a_sync_runs_while_searches_are_answered_and_a_replica_catches_up(
    served: dict[str, Any], papers: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "BATCH", 2)
    cluster = served["cluster"]
    first = cluster.shards[0]
    theirs = sorted(d for d, records in papers.items() if cluster.councils[records[0]["council"]] == first.name)
    assert len(theirs) >= 4
    trimmed = {d: records for d, records in papers.items() if d not in theirs[:4]}
    search = XapianSearch([replace(spec, replicas=()).served() for spec in cluster.shards])
    totals, failures, syncing = [], [], threading.Event()

    def keep_searching() -> None:
        while syncing.is_set():
            try:
                totals.append(search.search("", limit=1).total)
            except Exception as error:
                failures.append(error)

    def wait_for_searches(count: int) -> None:
        while len(totals) + len(failures) < count and searcher.is_alive():
            time.sleep(0.01)

    syncing.set()
    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    wait_for_searches(1)
    report = sync_cluster(cluster, trimmed)
    wait_for_searches(len(totals) + len(failures) + 1)
    syncing.clear()
    searcher.join()
    assert report.deleted == 4 and report.commits >= 2
    assert not failures, failures[:3]
    # Every search answered, each from a whole revision: the totals only fall, from before to after.
    assert totals == sorted(totals, reverse=True) and totals[0] > totals[-1]
    for puller in served["servers"]:  # the periodic xapian-replicate stops, so this test says when it runs
        if "--interval" in puller.args:
            stop_servers([puller])
    master_items = xapian.Database(str(first.path)).get_doccount()
    replica = first.replicas[0]
    assert xapian.remote_open(replica.host, replica.port).get_doccount() > master_items  # behind, but whole
    subprocess.run(replicate_command(first, replica, one_shot=True), check=True, capture_output=True, timeout=60)
    assert xapian.remote_open(replica.host, replica.port).get_doccount() == master_items
    assert xapian.Database(str(replica.path)).get_revision() == xapian.Database(str(first.path)).get_revision()
