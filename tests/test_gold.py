"""Item boundaries and metadata against the hand-checked gold file: precision, recall and accuracy, printed."""

from __future__ import annotations

import json
import re
import shutil
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import pytest

from indexer.build import parse_document
from indexer.extract import extract_file
from indexer.items import FRONT_MATTER
from indexer.models import Document
from indexer.sources import FoundFile, open_source, read_council, read_sidecar

ROOT = Path(__file__).resolve().parent.parent
GOLD = json.loads((ROOT / "tests" / "data" / "gold.json").read_text(encoding="utf-8"))
FLOOR = 0.9
FIELDS = ("council", "committee", "date", "doc_type")


def normalise(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def same_item(found: dict[str, Any], gold: dict[str, Any]) -> bool:
    """An item matches when number and start page agree and the titles read the same."""
    if found["page"] != gold["page"] or (gold["number"] and found["number"] != gold["number"]):
        return False
    return SequenceMatcher(None, normalise(found["title"]), normalise(gold["title"])).ratio() >= 0.85


def parse_gold_document(entry: dict[str, Any], corpus: Path, use_sidecar: bool) -> Document:
    relpath = entry["source"]
    path = corpus / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / entry.get("copy_from", f"corpus/{relpath}"), path)
    shutil.copyfile(ROOT / "corpus" / relpath.split("/")[0] / "council.json", path.parent / "council.json")
    sidecar = ROOT / "corpus" / (relpath + ".meta.json")
    if use_sidecar and sidecar.exists():
        shutil.copyfile(sidecar, Path(str(path) + ".meta.json"))
    found = FoundFile(path, relpath, relpath.split("/")[0])
    source = open_source(found, read_council(corpus, found.council_slug))
    source.sidecar = read_sidecar(path, relpath)
    return parse_document(source, extract_file(path, relpath))


def metadata_of(document: Document) -> dict[str, Any]:
    return {
        "council": document.source.council.slug,
        "committee": document.committee,
        "date": document.meeting_date.isoformat() if document.meeting_date else None,
        "doc_type": document.doc_type,
    }


def score(tmp_path: Path, use_sidecar: bool) -> tuple[float, float, float, list[str]]:
    found_total = gold_total = found_matched = gold_matched = fields_right = fields_total = 0
    misses: list[str] = []
    for entry in GOLD["documents"]:
        document = parse_gold_document(entry, tmp_path / ("with" if use_sidecar else "without"), use_sidecar)
        found = [
            {"number": i.number, "title": i.title, "page": i.page} for i in document.items if i.title != FRONT_MATTER
        ]
        gold = entry["items"]
        found_total += len(found)
        gold_total += len(gold)
        found_matched += sum(any(same_item(f, g) for g in gold) for f in found)
        for g in gold:
            if any(same_item(f, g) for f in found):
                gold_matched += 1
            else:
                misses.append(f"missed {entry['source']}: {g['number']} {g['title'][:50]} p{g['page']}")
        meta = metadata_of(document)
        for name in FIELDS:
            fields_total += 1
            if meta[name] == entry["metadata"][name]:
                fields_right += 1
            else:
                misses.append(f"{name} of {entry['source']}: {meta[name]!r}, expected {entry['metadata'][name]!r}")
    return found_matched / found_total, gold_matched / gold_total, fields_right / fields_total, misses


def test_gold_file_covers_enough_papers() -> None:
    documents = GOLD["documents"]
    assert len(documents) >= 15
    assert len({d["source"].split("/")[0] for d in documents}) >= 5
    assert {Path(d["source"]).suffix for d in documents} >= {".txt", ".pdf", ".xml", ".html"}


def test_item_boundaries_and_metadata_against_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    precision, recall, accuracy, misses = score(tmp_path, use_sidecar=True)
    _, _, inferred, inferred_misses = score(tmp_path, use_sidecar=False)
    with capsys.disabled():
        print(
            f"\ngold: {len(GOLD['documents'])} papers; item precision {precision:.3f}, recall {recall:.3f}; "
            f"metadata accuracy {accuracy:.3f} (sidecars used), {inferred:.3f} (from the papers alone)"
        )
        for miss in misses + [m for m in inferred_misses if m not in misses and not m.startswith("missed")]:
            print("  " + miss)
    assert precision >= FLOOR and recall >= FLOOR and accuracy >= FLOOR
    assert inferred >= 0.75
