"""Fixtures: a small real corpus subset indexed once a session, the whole corpus for acceptance tests, the app."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from indexer.build import build_index
from search_app import create_app

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
DATA = Path(__file__).resolve().parent / "data"

# Real papers from eight councils and every format: text exports, PDFs, ModernGov XML.
SUBSET = [
    "croydon/cpp_2021-03-03_minutes_seed000.txt",
    "croydon/cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt",
    "croydon/cpp_2019-07-03_ieListDocuments_seed002.txt",
    "croydon/cpp_mgAi_7412_care-leavers-NEET.txt",
    "southwark/cpc_2020-11-04_agenda-pack_seed003.txt",
    "kent/full_council_2025-03-13_CPP_Minutes_10.12.24.pdf",
    "kent/cabinet_2025-01-30_Printed_minutes_30th-Jan-2025_10.00_Cabinet.pdf",
    "gloucester/mgWebService_GetMeeting_7837_cabinet_2025-11-21.xml",
    "gloucester/mgWebService_GetCommittees.xml",
    "dorset/cpb_mgAi_3482_council-tax-support-care-leavers.txt",
    "cheltenham/cabinet_ieIssueDetails_16760_council-tax-discount-care-leavers_2018-12-18.txt",
    "exeter/executive_mgAi_59133_council-tax-exemption-care-leavers.txt",
    "thurrock/cpc_mgAi_20623_EET-for-care-leavers.txt",
    "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt",
]


def copy_paper(relpath: str, target: Path) -> None:
    """Copies a corpus paper, its sidecar and its council.json into target."""
    dest = target / relpath
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CORPUS / relpath, dest)
    sidecar = CORPUS / (relpath + ".meta.json")
    if sidecar.exists():
        shutil.copyfile(sidecar, Path(str(dest) + ".meta.json"))
    council = relpath.split("/")[0] + "/council.json"
    shutil.copyfile(CORPUS / council, target / council)


@pytest.fixture(scope="session")
def corpus_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("corpus")
    for relpath in SUBSET:
        copy_paper(relpath, target)
    return target


@pytest.fixture(scope="session")
def index_dir(corpus_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("index")
    report = build_index(corpus_subset, target)
    assert not report.failed, report.failed
    return target


@pytest.fixture(scope="session")
def updated_index(corpus_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The subset's index after an update that added "A zanzibarian addendum." to one paper."""
    target = tmp_path_factory.mktemp("updated")
    corpus = target / "corpus"
    shutil.copytree(corpus_subset, corpus)
    build_index(corpus, target / "index")
    paper = next(corpus.rglob("*staying-put*.txt"))
    paper.write_text(paper.read_text(encoding="utf-8") + "\nA zanzibarian addendum.\n", encoding="utf-8")
    build_index(corpus, target / "index")
    return target / "index"


@pytest.fixture(scope="session")
def full_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index of the whole corpus/, as `make serve` builds it."""
    target = tmp_path_factory.mktemp("full-index")
    report = build_index(CORPUS, target)
    # Every paper in corpus/ is read; only the ModernGov metadata responses are left out, each with its reason.
    assert report.failed == [] and report.warnings == []
    assert sorted(f.relpath for f in report.skipped) == [
        "gloucester/mgWebService_GetAttachment_65461.xml",
        "gloucester/mgWebService_GetCommittees.xml",
        "gloucester/mgWebService_GetMeetings_cabinet.xml",
        "southwark/mgWebService_GetCouncillorsByWard_southwark_c2016.xml",
    ]
    assert all("metadata, not a paper" in f.reason for f in report.skipped)
    return target


@pytest.fixture()
def app(index_dir: Path, corpus_subset: Path, tmp_path: Path) -> Flask:
    config = {"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset), "TESTING": True}
    return create_app({**config, "ALERTS_DB": str(tmp_path / "alerts.sqlite")})


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def full_client(full_index: Path) -> FlaskClient:
    app = create_app({"INDEX_DIR": str(full_index), "CORPUS_DIR": str(CORPUS), "TESTING": True})
    return app.test_client()
