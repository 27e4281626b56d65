"""Opens or creates the index; updates it by content hash in a new generation and swaps it in atomically.

Layout of an index directory:
    CURRENT          the name of the generation being served, replaced atomically (os.replace)
    gen-000007/      a complete Whoosh index plus manifest.json (source path -> content hash)
                     and vocabulary.tsv (the words of the text, for spelling suggestions)
    build.lock       held with flock during a build: the kernel frees it if the build is killed
A build copies the current generation, updates the copy and only then points CURRENT at it,
so a build that dies at any point leaves the previous generation serving.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.backend import ItemReader, ItemWriter
from indexer.whoosh_backend import create_index, index_exists, open_reader
from indexer.whoosh_backend import open_writer as open_backend_writer

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.tsv"
# Words as spelling suggestions see them: letters only, at least three (numbers and codes are not misspelt).
WORD = re.compile(r"[^\W\d_]{3,}")
LOCK = "build.lock"
GENERATION = re.compile(r"^gen-(\d{6})$")
KEEP_GENERATIONS = 2


class IndexBusyError(RuntimeError):
    """Another build holds the index directory's lock."""


class NoIndexError(RuntimeError):
    """No complete index generation exists yet."""


def current_generation(index_dir: Path) -> Path | None:
    """Returns the directory of the generation being served, or None before the first build."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = index_dir / name
    return path if GENERATION.match(name) and path.is_dir() else None


def open_index(index_dir: Path) -> ItemReader:
    """Returns a reader on the current generation; raises NoIndexError before the first build."""
    generation = current_generation(index_dir)
    if generation is None or not index_exists(generation):
        raise NoIndexError(f"no index in {index_dir}: run `cpsearch index` first")
    return open_reader(generation)


def open_generation(generation: Path) -> ItemReader:
    """Returns a reader on one generation, whichever is served (it stays readable until two newer exist)."""
    if not index_exists(generation):
        raise NoIndexError(f"no index in {generation}")
    return open_reader(generation)


class Vocabulary:
    """The words of the indexed text as written (not stemmed), with how many items hold each: what
    spelling suggestions are drawn from. Kept as a file in each generation.

    Whoosh's own spelling field indexed every distinct word of every item a second time and was half
    the time of a build; counting words with one C-level regular expression costs a few percent.
    A build that only updates keeps the words of replaced items: a suggestion is checked against the
    index before it is offered.
    """

    def __init__(self, counts: Counter[str] | None = None) -> None:
        self.counts: Counter[str] = counts or Counter()

    def add(self, *texts: str) -> None:
        """Counts the distinct words of one item's texts."""
        self.counts.update({word for text in texts if text for word in WORD.findall(text.lower())})

    def save(self, generation: Path) -> None:
        lines = (f"{word}\t{count}\n" for word, count in sorted(self.counts.items()))
        write_atomically(generation / VOCABULARY, "".join(lines))

    @classmethod
    def load(cls, generation: Path | None) -> Vocabulary:
        """Returns a generation's vocabulary (empty when it has none)."""
        counts: Counter[str] = Counter()
        try:
            text = (generation / VOCABULARY).read_text(encoding="utf-8") if generation else ""
        except OSError:
            text = ""
        for line in text.splitlines():
            word, _, count = line.partition("\t")
            if count.isdigit():
                counts[word] = int(count)
        return cls(counts)


def read_manifest(generation: Path | None) -> dict[str, str]:
    """Returns source path -> content hash of the files a generation holds."""
    if generation is None:
        return {}
    try:
        data = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


@contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """Holds the directory's build lock; raises IndexBusyError when another build has it, or with `wait`
    waits for that build to finish."""
    busy = IndexBusyError(f"another index build is running on {index_dir}")
    with file_lock(index_dir / LOCK, busy, wait):
        yield


@contextmanager
def file_lock(path: Path, busy: Exception, wait: bool = False) -> Iterator[None]:
    """Holds an flock on a file (the kernel frees it if the holder is killed); raises `busy` when another
    process has it, or with `wait` waits for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise busy from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def generations(index_dir: Path) -> list[Path]:
    """Returns the generation directories present, oldest first."""
    return sorted(p for p in index_dir.iterdir() if p.is_dir() and GENERATION.match(p.name))


def next_generation(index_dir: Path, empty: bool = False) -> Path:
    """Returns a fresh generation directory holding a copy of the current one, or an empty index."""
    existing = generations(index_dir)
    number = int(GENERATION.match(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
    target = index_dir / f"gen-{number:06d}"
    current = current_generation(index_dir)
    if not empty and current is not None and index_exists(current):
        shutil.copytree(current, target, ignore=shutil.ignore_patterns("*.lock", "*_LOCK", "align-*"))
    else:
        target.mkdir(parents=True)
        create_index(target)
    return target


def open_writer(generation: Path, parallel: bool = False) -> ItemWriter:
    """Returns a writer on a generation being built; parallel (one writer process per core) for a build
    from scratch."""
    return open_backend_writer(generation, parallel)


def publish(index_dir: Path, generation: Path, manifest: dict[str, str]) -> None:
    """Writes the generation's manifest and makes it the one served, atomically."""
    write_atomically(generation / MANIFEST, json.dumps(manifest, sort_keys=True, indent=0))
    write_atomically(index_dir / CURRENT, generation.name + "\n")
    remove_old_generations(index_dir)


def write_atomically(path: Path, content: str | bytes) -> None:
    """Writes a file so that readers see the old or the new content, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def remove_old_generations(index_dir: Path) -> None:
    """Removes generations older than the last few, and any left half-built by a killed run."""
    current = current_generation(index_dir)
    keep = generations(index_dir)[-KEEP_GENERATIONS:] if current else []
    for path in generations(index_dir):
        if path not in keep and path != current:
            shutil.rmtree(path, ignore_errors=True)


def discard_unpublished(index_dir: Path) -> None:
    """Removes generations newer than the current one: what a killed build left behind."""
    current = current_generation(index_dir)
    for path in generations(index_dir):
        if current is None or path.name > current.name:
            shutil.rmtree(path, ignore_errors=True)
