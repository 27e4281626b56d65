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
VECTORS_VERSION = "1"


@dataclass
class ItemVectors:
    """The embedding of every indexed item, with its item id and paper (doc_id), as three parallel arrays."""

    ids: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float32))

    @classmethod
    def load(cls, generation: Path | None) -> ItemVectors:
        """Returns a generation's vectors (none when it has no file or one from another model)."""
        try:
            with np.load(generation / VECTORS if generation else "", allow_pickle=False) as data:
                if str(data["model"]) != f"{MODEL_NAME}/{VECTORS_VERSION}":
                    return cls()
                return cls(list(data["ids"]), list(data["doc_ids"]), data["matrix"].astype(np.float32))
        except (OSError, KeyError, ValueError):
            return cls()

    def save(self, generation: Path) -> None:
        """Writes the vectors into the generation through a temporary file and a rename."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            model=np.array(f"{MODEL_NAME}/{VECTORS_VERSION}"),
            ids=np.array(self.ids, dtype=str),
            doc_ids=np.array(self.doc_ids, dtype=str),
            matrix=self.matrix.astype(np.float32),
        )
        write_atomically(generation / VECTORS, buffer.getvalue())

    def drop_papers(self, doc_ids: set[str]) -> None:
        """Removes the vectors of every item of these papers."""
        keep = [i for i, doc in enumerate(self.doc_ids) if doc not in doc_ids]
        self.ids = [self.ids[i] for i in keep]
        self.doc_ids = [self.doc_ids[i] for i in keep]
        self.matrix = self.matrix[keep]

    def add(self, ids: list[str], doc_ids: list[str], matrix: np.ndarray) -> None:
        self.ids += ids
        self.doc_ids += doc_ids
        self.matrix = np.vstack([self.matrix, matrix.astype(np.float32)])


@dataclass
class PendingPaper:
    """A paper's items waiting to be embedded: their ids and the text each is embedded from."""

    doc_id: str
    ids: list[str]
    passages: list[str]

    def digest(self) -> str:
        joined = "\x1e".join(self.passages)
        return hashlib.sha256(f"{MODEL_NAME}/{VECTORS_VERSION}\x1f{joined}".encode()).hexdigest()


def embed_papers(
    papers: list[PendingPaper], cache_dir: Path, encode: Callable[[list[str]], np.ndarray]
) -> list[np.ndarray]:
    """Returns each paper's item vectors, from the cache where its text is unchanged, else encoded and cached."""
    found: dict[int, np.ndarray] = {}
    missing = []
    for n, paper in enumerate(papers):
        cached = cache_dir / paper.digest()[:2] / f"{paper.digest()}.npy"
        try:
            matrix = np.load(cached, allow_pickle=False)
            if matrix.shape == (len(paper.ids), DIMENSIONS):
                found[n] = matrix
                continue
        except (OSError, ValueError):
            pass
        missing.append(n)
    # One encode call for every missing item, so batches mix papers and sort by length.
    passages = [text for n in missing for text in papers[n].passages]
    encoded = encode(passages) if passages else np.zeros((0, DIMENSIONS), dtype=np.float32)
    start = 0
    for n in missing:
        matrix = encoded[start : start + len(papers[n].passages)]
        start += len(papers[n].passages)
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
