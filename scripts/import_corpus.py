"""Copies papers from a shared corpus folder into corpus/, writing council.json and sidecars.

A maintenance tool, run by hand when new papers arrive; the product never needs it.
Example: python scripts/import_corpus.py ../shared/corpus-real ../shared/seeds
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

# SOURCES.md "document type" wording -> the product's doc_type slugs.
DOC_TYPES = [
    ("(getmeeting)", "meeting-page"),
    ("mgwebservice", "web-service"),
    ("agenda and draft minutes", "meeting-page"),
    ("agenda and minutes", "meeting-page"),
    ("issue history", "issue-page"),
    ("issue details", "issue-page"),
    ("decision details", "decision"),
    ("decision (agenda item page)", "decision"),
    ("minutes (agenda item page)", "item-page"),
    ("webpage (committee details", "committee-page"),
    ("webpage (meetings list)", "meetings-list"),
    ("report appendix", "appendix"),
    ("motion", "motion"),
    ("minutes", "minutes"),
    ("agenda", "agenda"),
    ("pack", "agenda-pack"),
    ("report", "report"),
]

SEEDS = {
    "000_18095e608c4bbdee.txt": (
        "croydon",
        "cpp_2021-03-03_minutes_seed000.txt",
        {"committee": "Corporate Parenting Panel", "date": "2021-03-03", "doc_type": "minutes"},
    ),
    "001_02c4c474952e7740.txt": (
        "croydon",
        "cpp_2021-03-03_mgAi_children-in-care-performance-scorecard_seed001.txt",
        {"committee": "Corporate Parenting Panel", "date": "2021-03-03", "doc_type": "item-page"},
    ),
    "002_ccdc76cd135e1787.txt": (
        "croydon",
        "cpp_2019-07-03_ieListDocuments_seed002.txt",
        {"committee": "Corporate Parenting Panel", "date": "2019-07-03", "doc_type": "meeting-page"},
    ),
    "003_7766e353e14d0d52.txt": (
        "southwark",
        "cpc_2020-11-04_agenda-pack_seed003.txt",
        {"committee": "Corporate Parenting Committee", "date": "2020-11-04", "doc_type": "agenda-pack"},
    ),
    "004_06a8241f73d8b049.txt": (
        "unattributed",
        "cpp_2024-summer_minutes_seed004.txt",
        {"committee": "Corporate Parenting Panel", "doc_type": "minutes"},
    ),
}


def doc_type_slug(wording: str) -> str:
    """Returns the doc_type slug for a SOURCES.md document-type cell."""
    low = wording.lower()
    for needle, slug in DOC_TYPES:
        if needle in low:
            return slug
    return "document"


def read_sources(sources_md: Path) -> dict[str, list[str]]:
    """Returns the SOURCES.md table rows keyed by file path, first row winning."""
    rows: dict[str, list[str]] = {}
    for line in sources_md.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| file"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and not cells[0].startswith("-"):
            rows.setdefault(cells[0], cells)
    return rows


# Minutes of an earlier meeting filed with a later meeting's papers: SOURCES.md gives the later
# meeting's date, so the sidecar leaves the date to the text ("MINUTES of ... held on 9 January 2025").
EARLIER_MINUTES = re.compile(r"Minutes_of_(?:the_meeting_held|Previous)|\d{4}_-_County_Council_minutes")


def sidecar_for(cells: list[str]) -> dict[str, str]:
    """Returns the sidecar dict for one SOURCES.md row."""
    path, _, committee, date, doc_type, _, source = cells[:7]
    if EARLIER_MINUTES.search(path):
        date = ""
    meta: dict[str, str] = {"doc_type": doc_type_slug(doc_type)}
    if "it is an agenda pack" in source:
        meta["doc_type"] = "agenda-pack"
    if committee and not committee.startswith("("):
        meta["committee"] = re.sub(r"\s*\(.*\)$", "", committee)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        meta["date"] = date
    url = re.search(r"https?://\S+", source)
    meta["source_url"] = url.group(0) if url else ""
    meta["provenance"] = source
    return {k: v for k, v in meta.items() if v}


def import_real(real: Path) -> list[str]:
    """Copies every file listed in SOURCES.md; returns provenance lines."""
    lines = []
    councils: dict[str, str] = {}
    for path, cells in sorted(read_sources(real / "SOURCES.md").items()):
        src = real / path
        dest = CORPUS / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        meta = sidecar_for(cells)
        Path(str(dest) + ".meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        councils[path.split("/")[0]] = cells[1]
        lines.append(f"| {path} | {cells[1]} | {cells[2]} | {cells[3]} | {cells[4]} | {cells[6]} |")
    for slug, name in councils.items():
        write_council(slug, name)
    return lines


def write_council(slug: str, name: str) -> None:
    """Writes corpus/<slug>/council.json unless it exists."""
    target = CORPUS / slug / "council.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"name": name}, indent=2) + "\n", encoding="utf-8")


def import_seeds(seeds: Path) -> list[str]:
    """Copies the five sample papers with hand-written sidecars; returns provenance lines."""
    lines = []
    for name, (council, target, meta) in SEEDS.items():
        dest = CORPUS / council / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seeds / name, dest)
        Path(str(dest) + ".meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        lines.append(
            f"| {council}/{target} | sample paper {name} | {meta.get('committee', '')} "
            f"| {meta.get('date', '')} | {meta['doc_type']} | project seeds (see seeds README) |"
        )
    write_council("unattributed", "Council not stated in the paper")
    return lines


def main(real: str, seeds: str) -> None:
    lines = import_seeds(Path(seeds)) + import_real(Path(real))
    header = (
        "# Where every file in corpus/ came from\n\n"
        "Real public papers published by UK councils. Each paper has a `.meta.json` sidecar holding the\n"
        "metadata its source listing gave (committee, meeting date, document type, source address).\n\n"
        "| file | council | committee | meeting date | document type | source |\n|---|---|---|---|---|---|\n"
    )
    (CORPUS / "SOURCES.md").write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"imported {len(lines)} files")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
