"""Item vectors kept with each index generation, and the cache of every text ever encoded, so that no text
is encoded twice and an encoding run that is killed resumes where it stopped."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.embeddings import DIMENSIONS, MODEL_NAME
from indexer.store import write_atomically

VECTORS = "vectors.npz"
PASSAGES_PREFIX = "passages-"
VECTORS_VERSION = "2"
# Texts encoded between two writes to the cache: what a kill can lose (about 10 s of encoding).
CHUNK = 256


@dataclass
class ItemVectors:
    """The embeddings of every indexed item, as parallel arrays by row: item id, paper (doc_id), the vector
    of the item as a whole (matrix) and how many of `passages` are the item's, in row order.

    `passages` holds every embedded text of every item (its whole-item vector first, then its windows),
    as float16: at 100,000 items it is the biggest thing the server reads, and it is memory-mapped so
    the workers share one copy.
    """

    ids: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float32))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    passages: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float16))

    @classmethod
    def load(cls, generation: Path | None, mapped: bool = False) -> ItemVectors:
        """Returns a generation's vectors (none when it has no files or ones from another model);
        `mapped` leaves the passages on disk, read as they are used."""
        try:
            with np.load(generation / VECTORS if generation else "", allow_pickle=False) as data:
                if str(data["model"]) != f"{MODEL_NAME}/{VECTORS_VERSION}":
                    return cls()
                ids, doc_ids = list(data["ids"]), list(data["doc_ids"])
                matrix, counts = data["matrix"].astype(np.float32), data["counts"].astype(np.int64)
                passages_file = str(data["passages_file"])
            assert generation is not None
            passages = np.load(generation / passages_file, mmap_mode="r" if mapped else None, allow_pickle=False)
        except (OSError, KeyError, ValueError):
            return cls()
        if passages.shape != (int(counts.sum()), DIMENSIONS) or len(ids) != len(counts):
            return cls()
        return cls(ids, doc_ids, matrix, counts, passages)

    def save(self, generation: Path) -> None:
        """Writes the vectors into the generation so that a reader sees the old set or the new, never a mix:
        the passages go to a file of their own name first, then vectors.npz, which names it, replaces the
        old one in one rename. Older passage files are removed (a server that maps one keeps its pages)."""
        name = f"{PASSAGES_PREFIX}{os.urandom(6).hex()}.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(self.passages).astype(np.float16))
        write_atomically(generation / name, buffer.getvalue())
        buffer = io.BytesIO()
        np.savez(
            buffer,
            model=np.array(f"{MODEL_NAME}/{VECTORS_VERSION}"),
            ids=np.array(self.ids, dtype=str),
            doc_ids=np.array(self.doc_ids, dtype=str),
            matrix=self.matrix.astype(np.float32),
            counts=self.counts,
            passages_file=np.array(name),
        )
        write_atomically(generation / VECTORS, buffer.getvalue())
        for old in generation.glob(f"{PASSAGES_PREFIX}*.npy"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def starts(self) -> np.ndarray:
        """Returns the row in `passages` where each item's vectors begin."""
        return np.cumsum(self.counts) - self.counts

    def drop_papers(self, doc_ids: set[str]) -> None:
        """Removes the vectors of every item of these papers."""
        keep = np.array([doc not in doc_ids for doc in self.doc_ids], dtype=bool)
        self.ids = [item for item, kept in zip(self.ids, keep, strict=True) if kept]
        self.doc_ids = [doc for doc, kept in zip(self.doc_ids, keep, strict=True) if kept]
        self.passages = np.asarray(self.passages)[np.repeat(keep, self.counts)]
        self.matrix, self.counts = self.matrix[keep], self.counts[keep]

    def add(self, ids: list[str], doc_ids: list[str], counts: list[int], passages: np.ndarray) -> None:
        """Adds items whose vectors are `passages`, `counts[i]` of them for item i, its whole-item vector first."""
        firsts = np.cumsum(counts) - np.array(counts, dtype=np.int64)
        self.ids += ids
        self.doc_ids += doc_ids
        self.matrix = np.vstack([self.matrix, passages[firsts].astype(np.float32)])
        self.counts = np.concatenate([self.counts, np.array(counts, dtype=np.int64)])
        self.passages = np.vstack([np.asarray(self.passages), passages.astype(np.float16)])


def text_key(text: str) -> bytes:
    """Returns the cache key of a text: the same text under the same model is the same vector."""
    return hashlib.sha256(f"{MODEL_NAME}/{VECTORS_VERSION}\x1f{text}".encode()).digest()[:16]


class TextCache:
    """Every text encoded, by the hash of its words, in one SQLite file: the same report in three packs,
    a folded copy or a re-run after a kill reads its vectors instead of encoding them again.

    SQLite commits a chunk at a time and survives a kill mid-write (its journal); several processes (a
    build, the server's background encoder) may share it.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")

    def get(self, keys: list[bytes]) -> dict[bytes, np.ndarray]:
        """Returns the cached vector of each key that has one."""
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters is 999 in old builds
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, blob in self.db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (DIMENSIONS,):
                    found[key] = vector
        return found

    def put(self, pairs: Iterable[tuple[bytes, np.ndarray]]) -> None:
        """Stores vectors and commits them: once this returns, a kill does not lose them."""
        rows = [(key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in pairs]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)", rows)

    def close(self) -> None:
        self.db.close()


@dataclass
class EncodingTally:
    """How many distinct texts a run encoded and how many it found in the cache."""

    encoded: int = 0
    cached: int = 0


def embed_texts(
    texts: list[str],
    cache: TextCache,
    encode: Callable[[list[str]], np.ndarray],
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, EncodingTally]:
    """Returns one vector per text, reading the cache first and encoding the rest a chunk at a time, each
    chunk written to the cache before the next begins. `progress` is told how many distinct texts each
    step settled (the cached ones first)."""
    keys = [text_key(text) for text in texts]
    unique: dict[bytes, str] = dict(zip(keys, texts, strict=True))
    vectors = cache.get(list(unique))
    tally = EncodingTally(cached=len(vectors))
    if progress and vectors:
        progress(len(vectors))
    # Longest first within the run, so each chunk's batches hold texts of like length (little padding).
    missing = sorted((key for key in unique if key not in vectors), key=lambda key: -len(unique[key]))
    for start in range(0, len(missing), chunk):
        part = missing[start : start + chunk]
        encoded = encode([unique[key] for key in part])
        cache.put(zip(part, encoded, strict=True))
        vectors.update(zip(part, encoded, strict=True))
        tally.encoded += len(part)
        if progress:
            progress(len(part))
    matrix = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for row, key in enumerate(keys):
        matrix[row] = vectors[key]
    return matrix, tally
