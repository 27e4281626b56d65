"""Item vectors kept with each index generation, and the per-paper cache that spares re-encoding unchanged text."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.embeddings import DIMENSIONS, MODEL_NAME
from indexer.store import write_atomically

VECTORS = "vectors.npz"
PASSAGES = "passages.npy"
VECTORS_VERSION = "2"


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
            assert generation is not None
            passages = np.load(generation / PASSAGES, mmap_mode="r" if mapped else None, allow_pickle=False)
        except (OSError, KeyError, ValueError):
            return cls()
        if passages.shape != (int(counts.sum()), DIMENSIONS) or len(ids) != len(counts):
            return cls()
        return cls(ids, doc_ids, matrix, counts, passages)

    def save(self, generation: Path) -> None:
        """Writes the vectors into the generation, each file through a temporary file and a rename."""
        buffer = io.BytesIO()
        np.save(buffer, self.passages.astype(np.float16))
        write_atomically(generation / PASSAGES, buffer.getvalue())
        buffer = io.BytesIO()
        np.savez(
            buffer,
            model=np.array(f"{MODEL_NAME}/{VECTORS_VERSION}"),
            ids=np.array(self.ids, dtype=str),
            doc_ids=np.array(self.doc_ids, dtype=str),
            matrix=self.matrix.astype(np.float32),
            counts=self.counts,
        )
        write_atomically(generation / VECTORS, buffer.getvalue())

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


@dataclass
class PendingPaper:
    """A paper's items waiting to be embedded: their ids and the texts each is embedded from."""

    doc_id: str
    ids: list[str]
    passages: list[list[str]]

    def digest(self) -> str:
        joined = "\x1d".join("\x1e".join(texts) for texts in self.passages)
        return hashlib.sha256(f"{MODEL_NAME}/{VECTORS_VERSION}\x1f{joined}".encode()).hexdigest()

    def counts(self) -> list[int]:
        return [len(texts) for texts in self.passages]


def embed_papers(
    papers: list[PendingPaper], cache_dir: Path, encode: Callable[[list[str]], np.ndarray]
) -> list[np.ndarray]:
    """Returns each paper's passage vectors, from the cache where its text is unchanged, else encoded and cached."""
    found: dict[int, np.ndarray] = {}
    missing = []
    for n, paper in enumerate(papers):
        cached = cache_dir / paper.digest()[:2] / f"{paper.digest()}.npy"
        try:
            matrix = np.load(cached, allow_pickle=False)
            if matrix.shape == (sum(paper.counts()), DIMENSIONS):
                found[n] = matrix
                continue
        except (OSError, ValueError):
            pass
        missing.append(n)
    # One encode call for every missing text, so batches mix papers and sort by length.
    texts = [text for n in missing for item in papers[n].passages for text in item]
    encoded = encode(texts) if texts else np.zeros((0, DIMENSIONS), dtype=np.float32)
    start = 0
    for n in missing:
        size = sum(papers[n].counts())
        matrix = encoded[start : start + size]
        start += size
        found[n] = matrix
        write_cache(cache_dir / papers[n].digest()[:2] / f"{papers[n].digest()}.npy", matrix)
    return [found[n] for n in range(len(papers))]


def write_cache(path: Path, matrix: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, matrix.astype(np.float32))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, buffer.getvalue())
    except OSError:
        pass  # a cache that cannot be written only costs time
