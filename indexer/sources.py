"""Walks corpus/: finds papers, reads council.json and .meta.json sidecars, hashes content."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ParseError, SkipFile
from indexer.models import Council, SourceFile

PAPER_SUFFIXES = {".html", ".htm", ".pdf", ".txt", ".md", ".xml"}
SIDECAR_SUFFIX = ".meta.json"
SIDECAR_KEYS = {"council", "committee", "date", "doc_type", "title", "source_url", "provenance"}
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
IGNORED_NAMES = {"SOURCES.md", "README.md", "council.json"}


@dataclass
class FoundFile:
    """A file under corpus/ that may be a paper, before it is read."""

    path: Path
    relpath: str
    council_slug: str
    outside: bool = False
    """A symbolic link to somewhere outside corpus/: reported and never read."""


def find_papers(corpus: Path) -> Iterator[FoundFile]:
    """Yields every candidate paper below corpus/ in a stable order."""
    for path in sorted(corpus.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(corpus.resolve()):
            # A link out of corpus/ would index (and serve) a file nobody put in the corpus.
            yield FoundFile(path, path.relative_to(corpus).as_posix(), "", outside=True)
            continue
        if path.name.startswith(".") or path.name in IGNORED_NAMES or path.name.endswith(SIDECAR_SUFFIX):
            continue
        if path.is_dir():
            continue
        relpath = path.relative_to(corpus).as_posix()
        if "/" not in relpath:
            continue
        yield FoundFile(path, relpath, relpath.split("/", 1)[0])


def read_council(corpus: Path, slug: str) -> Council:
    """Returns the council named by corpus/<slug>/council.json, or one named after the folder."""
    path = corpus / slug / "council.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        name = str(data.get("name") or "").strip()
    except (OSError, ValueError, AttributeError):
        name = ""
    return Council(slug=slug, name=name or slug.replace("-", " ").title())


def read_sidecar(path: Path, relpath: str) -> dict[str, str]:
    """Returns the sidecar's known keys as strings; raises ParseError when it cannot be read."""
    sidecar = Path(str(path) + SIDECAR_SUFFIX)
    if not sidecar.exists():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(relpath, f"sidecar could not be read ({exc})") from exc
    except ValueError as exc:
        raise ParseError(relpath, f"sidecar is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ParseError(relpath, "sidecar is not a JSON object")
    return {k: str(v).strip() for k, v in data.items() if k in SIDECAR_KEYS and v not in (None, "")}


def hash_file(path: Path) -> str:
    """Returns the SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_hash(path: Path) -> str:
    """Returns a hash of the sidecar's bytes, so editing a sidecar re-indexes its paper."""
    sidecar = Path(str(path) + SIDECAR_SUFFIX)
    try:
        return hashlib.sha256(sidecar.read_bytes()).hexdigest()[:16]
    except OSError:
        return "none"


def open_source(found: FoundFile, council: Council, max_bytes: int = DEFAULT_MAX_BYTES) -> SourceFile:
    """Returns a SourceFile for a found paper; raises SkipFile for types or sizes not indexed."""
    if found.outside:
        raise SkipFile(found.relpath, "symbolic link to a file outside the corpus folder; not read")
    suffix = found.path.suffix.lower()
    if suffix not in PAPER_SUFFIXES:
        raise SkipFile(found.relpath, f"file type {suffix or '(none)'} is not a paper format (html, pdf, txt, md, xml)")
    size = found.path.stat().st_size
    if size > max_bytes:
        limit = f"{max_bytes / 2**20:.0f} MB size limit (cpsearch index --max-mb)"
        raise SkipFile(found.relpath, f"file is {size / 2**20:.0f} MB, over the {limit}")
    content_hash = hash_file(found.path) + ":" + sidecar_hash(found.path)
    return SourceFile(path=found.path, relpath=found.relpath, council=council, content_hash=content_hash, size=size)
