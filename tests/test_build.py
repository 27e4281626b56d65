"""Index builds: bad files reported and skipped, incremental updates, stable ids, crash safety."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import copy_paper
from pdfmaker import make_pdf

import indexer.build as build_module
from indexer.build import build_index
from indexer.store import current_generation, open_index

PAPERS = [
    "croydon/cpp_2021-03-03_minutes_seed000.txt",
    "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt",
    "kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf",
]


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    for relpath in PAPERS:
        copy_paper(relpath, corpus)
    return corpus


def item_ids(index_dir: Path) -> dict[str, set[str]]:
    reader = open_index(index_dir)
    ids: dict[str, set[str]] = {}
    for fields in reader.stored_records():
        ids.setdefault(fields["doc_id"], set()).add(fields["id"])
    reader.close()
    return ids


def test_bad_files_are_reported_and_the_rest_indexed(small_corpus: Path, tmp_path: Path) -> None:
    bad = small_corpus / "croydon"
    (bad / "empty.txt").write_bytes(b"")
    (bad / "corrupt.pdf").write_bytes(make_pdf(["1. Apologies"])[:150])
    (bad / "encrypted.pdf").write_bytes(make_pdf(["Exempt"], encrypt=True))
    (bad / "scanned.pdf").write_bytes(make_pdf(["", ""]))
    (bad / "page.html").write_bytes(make_pdf(["not html"]))
    (bad / "notes.docx").write_bytes(b"PK\x03\x04")
    with (bad / "big.txt").open("wb") as fh:
        fh.truncate(200 * 2**20)  # a sparse 200 MB file: over the default 100 MB limit, no disk used
    (bad / "bad-sidecar.txt").write_text("Minutes of the Panel", encoding="utf-8")
    (bad / "bad-sidecar.txt.meta.json").write_text("{oops", encoding="utf-8")
    report = build_index(small_corpus, tmp_path / "index")
    reasons = {f.relpath.split("/")[-1]: f.reason for f in report.failed + report.skipped}
    assert "empty" in reasons["empty.txt"]
    assert "truncated or corrupt" in reasons["corrupt.pdf"]
    assert "encrypted" in reasons["encrypted.pdf"]
    assert "needs OCR" in reasons["scanned.pdf"]
    assert "really a PDF" in reasons["page.html"]
    assert "not a paper format" in reasons["notes.docx"]
    assert reasons["big.txt"] == "file is 200 MB, over the 100 MB size limit (cpsearch index --max-mb)"
    assert [w.relpath for w in report.warnings] == ["croydon/bad-sidecar.txt"]
    assert len(report.indexed) == 4 and report.items > 10
    assert set(item_ids(tmp_path / "index")) == set(PAPERS) | {"croydon/bad-sidecar.txt"}


def test_second_run_reads_only_changed_files_and_keeps_ids(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = build_index(small_corpus, index_dir)
    assert len(first.indexed) == 3
    ids = item_ids(index_dir)
    second = build_index(small_corpus, index_dir)
    assert second.indexed == [] and len(second.unchanged) == 3
    assert item_ids(index_dir) == ids

    changed = small_corpus / PAPERS[1]
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\nRESOLVED: That the scorecard be noted.\n", encoding="utf-8"
    )
    (small_corpus / PAPERS[0]).unlink()
    third = build_index(small_corpus, index_dir)
    assert third.indexed == [PAPERS[1]] and third.removed == [PAPERS[0]]
    after = item_ids(index_dir)
    assert PAPERS[0] not in after
    assert after[PAPERS[1]] == ids[PAPERS[1]] and after[PAPERS[2]] == ids[PAPERS[2]]


def test_a_build_that_dies_leaves_the_previous_index_serving(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir)
    before = current_generation(index_dir)
    ids = item_ids(index_dir)
    (small_corpus / "croydon/new.txt").write_text("16/22 Staying Put\nA new paper.\n17/22 Close\n", encoding="utf-8")

    def die(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed half-way")

    monkeypatch.setattr(build_module, "make_records", die)
    with pytest.raises(KeyboardInterrupt):
        build_index(small_corpus, index_dir)
    assert current_generation(index_dir) == before
    assert item_ids(index_dir) == ids
    monkeypatch.undo()
    report = build_index(small_corpus, index_dir)
    assert report.indexed == ["croydon/new.txt"]
    assert "croydon/new.txt" in item_ids(index_dir)


def test_leftovers_of_a_killed_build_are_cleared(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir)
    current = current_generation(index_dir)
    assert current is not None
    half_built = index_dir / "gen-999999"
    shutil.copytree(current, half_built)
    (small_corpus / "croydon/new.txt").write_text("A new paper about fostering.\n", encoding="utf-8")
    build_index(small_corpus, index_dir)
    assert not half_built.exists()
    assert "croydon/new.txt" in item_ids(index_dir)


def test_missing_corpus_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build_index(tmp_path / "nowhere", tmp_path / "index")


def test_impossible_sidecar_date_is_a_warning_and_the_text_decides(small_corpus: Path, tmp_path: Path) -> None:
    sidecar = small_corpus / (PAPERS[2] + ".meta.json")
    sidecar.write_text('{"committee": "Corporate Parenting Panel", "date": "2024-02-30"}', encoding="utf-8")
    report = build_index(small_corpus, tmp_path / "index")
    assert [(w.relpath, w.action) for w in report.warnings] == [(PAPERS[2], "indexed with metadata from the text")]
    assert "2024-02-30" in report.warnings[0].reason
    reader = open_index(tmp_path / "index")
    fields = next(f for f in reader.stored_records() if f["doc_id"] == PAPERS[2])
    assert fields["date"].date().isoformat() == "2024-12-10"
    assert '"date": "text"' in fields["provenance"] and '"committee": "sidecar"' in fields["provenance"]


def test_unreadable_file_is_reported(small_corpus: Path, tmp_path: Path) -> None:
    (small_corpus / "croydon" / "gone.txt").symlink_to(small_corpus / "croydon" / "deleted.txt")
    (small_corpus / "croydon" / "passwd.txt").symlink_to("/etc/passwd")
    report = build_index(small_corpus, tmp_path / "index")
    assert [(f.relpath, f.action) for f in report.failed] == [("croydon/gone.txt", "skipped")]
    assert "could not be read" in report.failed[0].reason
    assert [(f.relpath, f.reason) for f in report.skipped] == [
        ("croydon/passwd.txt", "symbolic link to a file outside the corpus folder; not read")
    ]
    assert len(report.indexed) == 3


def test_size_limit_is_configurable(small_corpus: Path, tmp_path: Path) -> None:
    (small_corpus / "croydon" / "long.txt").write_text("Minutes of the Panel. " * 100_000, encoding="utf-8")
    report = build_index(small_corpus, tmp_path / "index", max_bytes=1_000_000)
    assert [f.relpath for f in report.skipped] == ["croydon/long.txt"]


def test_full_rebuild_reads_everything_and_keeps_ids(small_corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir)
    ids = item_ids(index_dir)
    report = build_index(small_corpus, index_dir, full=True)
    assert sorted(report.indexed) == sorted(PAPERS)
    assert item_ids(index_dir) == ids


def test_an_index_of_an_older_format_is_rebuilt_whole(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir)
    assert build_index(small_corpus, index_dir).indexed == []
    monkeypatch.setattr(build_module, "INDEX_FORMAT", "next")
    assert sorted(build_index(small_corpus, index_dir).indexed) == sorted(PAPERS)
    assert build_index(small_corpus, index_dir).indexed == []
