"""The cpsearch command: index summary with reasons, search output, exit codes."""

from __future__ import annotations

from pathlib import Path

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
