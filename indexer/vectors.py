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
from typing import Any, Literal

import numpy as np

from indexer.embeddings import DIMENSIONS, MAX_WINDOWS, MODEL_NAME, WINDOW_STEP, WINDOW_WORDS
from indexer.store import write_atomically
from indexer.workers import usable_cores

VECTORS = "vectors.npz"
# The files vectors.npz names; each save writes new ones, so a reader sees one whole set or another.
PASSAGES_PREFIX = "passages-"
ITEMS_PREFIX = "items-"
NEAREST_PREFIX = "nearest-"
# By row, for the server to map instead of reading into each worker: item ids, passage counts and starts.
IDS_PREFIX = "ids-"
COUNTS_PREFIX = "counts-"
STARTS_PREFIX = "starts-"
# The server's placing of rows at one generation's document numbers, written by its first worker.
ALIGN_PREFIX = "align-"
# 3: the int8 ONNX Runtime encoder (2 was the numpy float32 one; its vectors and cache entries are not mixed in).
VECTORS_VERSION = "3"
# What a generation's vectors were made with: the encoder, and the windows an item gets (words, step, most).
# Vectors made with fewer windows are still served, and the next meaning run embeds again the items they cut
# short (their texts' vectors come from the cache, keyed by the encoder alone: only the windows they lacked
# are encoded); vectors labelled before windows were recorded had at most 32. Any other label is not used.
WINDOWS_LABEL = f"{MODEL_NAME}/{VECTORS_VERSION}/windows-{WINDOW_WORDS}-{WINDOW_STEP}-"
VECTORS_MODEL = f"{WINDOWS_LABEL}{MAX_WINDOWS}"
LABELLED_BEFORE_WINDOWS = (f"{MODEL_NAME}/{VECTORS_VERSION}", 32)


def windows_of(label: str) -> int | None:
    """Returns the most windows an item got in vectors with this label, or None if they are not usable."""
    if label == LABELLED_BEFORE_WINDOWS[0]:
        return LABELLED_BEFORE_WINDOWS[1]
    most = label.removeprefix(WINDOWS_LABEL)
    if most == label or not most.isdigit() or int(most) > MAX_WINDOWS:
        return None
    return int(most)


# Above this many items, the items nearest a query come from an approximate-nearest-neighbour index
# (faiss's inverted file over 8-bit vectors) and are then scored again exactly. Below it an exact product
# over every item's vector is as fast (20,000 x 384 numbers: about 3 ms) and never misses one.
APPROXIMATE_ABOVE = 20_000
# The inverted file: LISTS_PER_ROOT x sqrt(items) lists (2,000 at 1M items), trained on TRAIN_PER_LIST
# items a list, and a query reads the nearest 1 / PROBED_SHARE of them. At 1M synthetic items, the best
# 1,000 found and scored again exactly: recall@100 against exact search 0.923 reading 16 of 2,048 lists,
# 0.953 with 32, 0.970 with 64, 0.985 with 128 (scripts/benchmark_meaning.py and docs/performance.md).
# usearch's HNSW reached 0.948 with 4,000 rescored, and each worker held 62 bytes an item of its graph.
LISTS_PER_ROOT = 2
TRAIN_PER_LIST = 64
PROBED_SHARE = 16
# Texts encoded between two writes to the cache: what a kill can lose (about 10 s of encoding).
CHUNK = 256


@dataclass
class ItemVectors:
    """The embeddings of every indexed item, as parallel arrays by row: item id, paper (doc_id), the vector
    of the item as a whole (matrix) and how many of `passages` are the item's, in row order.

    `passages` holds every embedded text of every item (its whole-item vector first, then its windows),
    as float16. It, `matrix` and the nearest-neighbour index (`nearest`, above APPROXIMATE_ABOVE items)
    are memory-mapped by the server, so every worker reads the same pages of the page cache instead of
    holding a copy that grows with the index.
    """

    ids: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float32))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    passages: np.ndarray = field(default_factory=lambda: np.zeros((0, DIMENSIONS), dtype=np.float16))
    nearest: Any = None
    """The inverted-file index over `matrix`, searched for rows, or None (exact search)."""
    token: str = ""
    """The name shared by the files of this set of vectors (new with every save)."""
    first_rows: np.ndarray | None = None
    """Where each item's passages begin, from its own file when mapped (else worked out from counts)."""
    windows: int = MAX_WINDOWS
    """The most windows an item got when these vectors were made (fewer than MAX_WINDOWS: made before)."""

    @classmethod
    def load(cls, generation: Path | None, mapped: bool = False) -> ItemVectors:
        """Returns a generation's vectors (none when it has no files or ones from another model);
        `mapped` leaves everything on disk, read as it is used: a read-only view for the server, whose ids
        are an array and which has no doc_ids."""
        first_rows = None
        try:
            with np.load(generation / VECTORS if generation else "", allow_pickle=False) as data:
                windows = windows_of(str(data["model"]))
                if windows is None:
                    return cls()
                names = {part: str(data[f"{part}_file"]) for part in ("passages", "items", "nearest")}
                by_row = {
                    part: str(data[f"{part}_file"]) for part in ("ids", "counts", "starts") if f"{part}_file" in data
                }
                if not (mapped and len(by_row) == 3):
                    ids: Any = list(data["ids"])
                    doc_ids, counts = list(data["doc_ids"]), data["counts"].astype(np.int64)
            assert generation is not None
            mode: Literal["r"] | None = "r" if mapped else None
            if mapped and len(by_row) == 3:
                ids, doc_ids = np.load(generation / by_row["ids"], mmap_mode="r", allow_pickle=False), []
                counts = np.load(generation / by_row["counts"], mmap_mode="r", allow_pickle=False)
                first_rows = np.load(generation / by_row["starts"], mmap_mode="r", allow_pickle=False)
            passages = np.load(generation / names["passages"], mmap_mode=mode, allow_pickle=False)
            matrix = np.load(generation / names["items"], mmap_mode=mode, allow_pickle=False)
            nearest = open_nearest(generation / names["nearest"], mapped) if names["nearest"] else None
        except (OSError, KeyError, ValueError, RuntimeError):
            return cls()
        if passages.shape != (int(counts.sum()), DIMENSIONS) or matrix.shape != (len(ids), DIMENSIONS):
            return cls()
        if len(ids) != len(counts) or (nearest is not None and len(nearest) != len(ids)):
            return cls()
        token = names["passages"].removeprefix(PASSAGES_PREFIX).removesuffix(".npy")
        return cls(ids, doc_ids, matrix, counts, passages, nearest, token, first_rows, windows)

    def save(self, generation: Path) -> None:
        """Writes the vectors into the generation so that a reader sees the old set or the new, never a mix:
        the passages go to a file of their own name first, then vectors.npz, which names it, replaces the
        old one in one rename. Older passage files are removed (a server that maps one keeps its pages)."""
        token = os.urandom(6).hex()
        names = {"passages": f"{PASSAGES_PREFIX}{token}.npy", "items": f"{ITEMS_PREFIX}{token}.npy", "nearest": ""}
        names |= {"ids": f"{IDS_PREFIX}{token}.npy", "counts": f"{COUNTS_PREFIX}{token}.npy"}
        names["starts"] = f"{STARTS_PREFIX}{token}.npy"
        save_array(generation / names["passages"], np.asarray(self.passages).astype(np.float16))
        save_array(generation / names["items"], np.asarray(self.matrix).astype(np.float32))
        save_array(generation / names["ids"], np.array(self.ids, dtype=str))
        save_array(generation / names["counts"], np.asarray(self.counts).astype(np.int32))
        save_array(generation / names["starts"], self.starts().astype(np.int32))
        if len(self.ids) > APPROXIMATE_ABOVE:
            names["nearest"] = f"{NEAREST_PREFIX}{token}.faiss"
            build_nearest(np.asarray(self.matrix, dtype=np.float32), generation / names["nearest"])
        arrays: dict[str, Any] = {f"{part}_file": np.array(name) for part, name in names.items()}
        arrays["model"] = np.array(VECTORS_MODEL)
        arrays["ids"] = np.array(self.ids, dtype=str)
        arrays["doc_ids"] = np.array(self.doc_ids, dtype=str)
        arrays["counts"] = self.counts
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomically(generation / VECTORS, buffer.getvalue())
        kept = set(names.values())
        for prefix in (
            PASSAGES_PREFIX,
            ITEMS_PREFIX,
            NEAREST_PREFIX,
            IDS_PREFIX,
            COUNTS_PREFIX,
            STARTS_PREFIX,
            ALIGN_PREFIX,
        ):
            for old in generation.glob(f"{prefix}*"):
                if old.name not in kept:
                    old.unlink(missing_ok=True)

    def starts(self) -> np.ndarray:
        """Returns the row in `passages` where each item's vectors begin."""
        if self.first_rows is not None:
            return self.first_rows
        return np.cumsum(self.counts) - self.counts

    def cut_short(self) -> set[str]:
        """Returns the papers of the items these vectors gave fewer windows than an item gets now: those that
        reached the most windows they were made with (the opening and `windows` windows)."""
        if self.windows >= MAX_WINDOWS:
            return set()
        return {doc for doc, count in zip(self.doc_ids, self.counts, strict=True) if count >= self.windows + 1}

    def drop_papers(self, doc_ids: set[str]) -> None:
        """Removes the vectors of every item of these papers."""
        keep = np.array([doc not in doc_ids for doc in self.doc_ids], dtype=bool)
        self.ids = [item for item, kept in zip(self.ids, keep, strict=True) if kept]
        self.doc_ids = [doc for doc, kept in zip(self.doc_ids, keep, strict=True) if kept]
        self.passages = np.asarray(self.passages)[np.repeat(keep, self.counts)]
        self.matrix, self.counts = np.asarray(self.matrix)[keep], self.counts[keep]
        self.nearest, self.first_rows = None, None  # rows have moved: save builds the index again

    def add(self, ids: list[str], doc_ids: list[str], counts: list[int], passages: np.ndarray) -> None:
        """Adds items whose vectors are `passages`, `counts[i]` of them for item i, its whole-item vector first."""
        firsts = np.cumsum(counts) - np.array(counts, dtype=np.int64)
        self.ids += ids
        self.doc_ids += doc_ids
        self.matrix = np.vstack([np.asarray(self.matrix), passages[firsts].astype(np.float32)])
        self.counts = np.concatenate([self.counts, np.array(counts, dtype=np.int64)])
        self.passages = np.vstack([np.asarray(self.passages), passages.astype(np.float16)])
        self.nearest, self.first_rows = None, None


def save_array(path: Path, array: np.ndarray) -> None:
    """Writes an array as .npy through a temporary file (of this process: server workers may write the same
    file at once) and a rename."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def nearest_lists(items: int) -> int:
    """Returns how many inverted lists an index of this many items gets (enough items to train each)."""
    return max(1, min(int(LISTS_PER_ROOT * np.sqrt(items)), items // 39))


def build_nearest(matrix: np.ndarray, path: Path) -> None:
    """Writes an inverted-file index of the vectors (faiss IVF, 8-bit scalar quantised, inner product),
    whose ids are rows; the nearest it finds are scored again with the float vectors."""
    import faiss

    faiss.omp_set_num_threads(usable_cores())
    lists = nearest_lists(len(matrix))
    quantiser = faiss.IndexFlatIP(DIMENSIONS)
    index = faiss.IndexIVFScalarQuantizer(
        quantiser, DIMENSIONS, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    # A fixed sample: the same vectors train the same lists.
    sample = np.random.default_rng(0).choice(len(matrix), min(len(matrix), TRAIN_PER_LIST * lists), replace=False)
    index.train(np.ascontiguousarray(matrix[np.sort(sample)], dtype=np.float32))
    for start in range(0, len(matrix), 100_000):
        index.add(np.ascontiguousarray(matrix[start : start + 100_000], dtype=np.float32))
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


class NearestIndex:
    """The inverted-file index of a generation's whole-item vectors, searched for rows."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.index.nprobe = max(1, min(index.nlist, max(16, index.nlist // PROBED_SHARE)))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Returns the rows of up to `count` items nearest the query, best first by the 8-bit vectors."""
        _, rows = self.index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), count)
        return rows[0][rows[0] >= 0]


def open_nearest(path: Path, mapped: bool) -> NearestIndex:
    """Returns the index in a file; `mapped` reads its lists in place (the page cache's copy serves every
    worker, and a worker holds only the list centres: 3 MB at 1M items)."""
    import faiss

    if path.suffix != ".faiss":
        raise ValueError(f"{path} is not a faiss index (an older format: the meaning phase builds it again)")
    if mapped:
        faiss.omp_set_num_threads(1)  # a search reads a few lists; the workers are the parallelism
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mapped else 0
    index = faiss.read_index(str(path), flags)
    held = faiss.extract_index_ivf(index).invlists
    lists = faiss.downcast_InvertedLists(held) if held is not None else None
    if isinstance(lists, faiss.OnDiskInvertedLists):
        # Mapped lists are "on disk" to faiss, which then starts 32 threads a search to touch the lists'
        # pages before reading them: 2.5 ms of (mostly kernel) CPU a search at 100,000 items, against
        # 0.4 ms for the search itself. The pages are in the page cache every worker shares; read them.
        lists.prefetch_nthread = 0
    return NearestIndex(index)


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
