"""The cpsearch command: index summary with reasons, search output, exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

from click.testing import CliRunner
from conftest import copy_paper

from search_app.cli import main


def test_index_then_search(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    copy_paper("croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt", corpus)
    (corpus / "croydon" / "empty.txt").write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(main, ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "failed: croydon/empty.txt: file is empty (0 bytes) (skipped)" in result.output
    assert "1 files indexed (1 items), 0 unchanged, 0 removed, 0 skipped, 1 failed" in result.output

    result = runner.invoke(main, ["search", "Staying Put", "--index", str(tmp_path / "index")])
    assert result.exit_code == 0, result.output
    assert "1 items match 'Staying Put'" in result.output
    assert "RECOMMENDATION: To review the Staying Put policy" in result.output
    assert "2021-03-03  London Borough of Croydon  Corporate Parenting Panel" in result.output


def test_errors_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["index", "--corpus", str(tmp_path / "nowhere"), "--index", str(tmp_path / "i")])
    assert missing.exit_code == 1 and "corpus folder" in missing.output
    no_index = runner.invoke(main, ["search", "care", "--index", str(tmp_path / "empty")])
    assert no_index.exit_code == 1 and "run `cpsearch index` first" in no_index.output
    serve = runner.invoke(main, ["serve", "--index", str(tmp_path / "empty")])
    assert serve.exit_code == 1 and "no index" in serve.output


def test_full_flag_rebuilds_everything(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    copy_paper("croydon/cpp_2021-03-03_minutes_seed000.txt", corpus)
    runner = CliRunner()
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "index")]
    assert "1 files indexed" in runner.invoke(main, args).output
    assert "0 files indexed (0 items), 1 unchanged" in runner.invoke(main, args).output
    assert "1 files indexed" in runner.invoke(main, [*args, "--full"]).output


def test_serve_answers_from_one_worker_process_per_core(index_dir: Path, corpus_subset: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-c", "from search_app.cli import main; main()", "serve", "--index", str(index_dir)]
    server = subprocess.Popen(
        [*command, "--corpus", str(corpus_subset), "--port", str(port), "--workers", "2", "--no-embeddings"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        answer = None
        for _ in range(100):
            try:
                with urlopen(f"http://127.0.0.1:{port}/api/search?q=Staying+Put", timeout=5) as response:
                    answer = json.load(response)
                break
            except OSError:
                time.sleep(0.2)
        assert answer is not None, "the server never answered"
        assert any("Staying Put" in d for hit in answer["results"] for d in hit["decisions"])
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
        for _ in range(50):  # gunicorn starts its workers one after another
            if len(children.read_text().split()) >= 2:
                break
            time.sleep(0.2)
        assert len(children.read_text().split()) == 2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
