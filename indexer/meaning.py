"""The second phase of a build: meaning vectors for every item the served generation has none for.

The words of a build are published first and answer searches at once; the vectors follow. This phase
reads each waiting item's text from the index, takes what the text cache already holds, encodes the
rest a chunk at a time into the cache (a kill loses one chunk) and then writes the generation's
vectors in one swap. Until then the server searches by words and says how far the vectors have got.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from indexer.embeddings import MAX_WINDOWS, passage_texts, shared_encoder
from indexer.models import MeaningReport, MeaningStatus
from indexer.progress import Meter
from indexer.records import read_item
from indexer.store import build_lock, current_generation, file_lock, open_generation, write_atomically
from indexer.vectors import CHUNK, EncodingTally, ItemVectors, TextCache, embed_texts

STATUS = "meaning.json"
LOCK = "meaning.lock"
CACHE = "cache/texts.sqlite"
# Items whose texts are gathered and encoded together: enough for batches of like length, few enough
# that their texts and vectors stay small in memory at any index size.
GROUP = 400


class MeaningBusy(RuntimeError):
    """Another process is already adding this index's meaning vectors."""


@contextmanager
def meaning_lock(index_dir: Path) -> Iterator[None]:
    """Holds the lock of the meaning phase; raises MeaningBusy when another process has it."""
    with file_lock(index_dir / LOCK, MeaningBusy(f"another run is adding the meaning vectors of {index_dir}")):
        yield


def lock_is_held(index_dir: Path) -> bool:
    """Returns whether a meaning run holds the index's lock (the kernel frees it when that run dies)."""
    try:
        with (index_dir / LOCK).open("a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def embed_index(
    index_dir: Path,
    encode: Callable[[list[str]], np.ndarray] | None = None,
    show_progress: bool = False,
    chunk: int = CHUNK,
) -> MeaningReport:
    """Gives every live item of the served generation its vectors; returns what was done.

    A build that publishes a newer generation meanwhile is followed: its new items are encoded too, and
    what was already encoded comes from the cache.
    """
    started = time.monotonic()
    encoder = encode or (lambda texts: shared_encoder().encode(texts))
    report = MeaningReport()
    cache = TextCache(index_dir / CACHE)
    try:
        with meaning_lock(index_dir):
            while True:
                generation = current_generation(index_dir)
                if generation is None:
                    break
                vectors, waiting = gather(index_dir, generation, report)
                added = encode_waiting(index_dir, generation, waiting, cache, encoder, report, show_progress, chunk)
                with build_lock(index_dir, wait=True):
                    if current_generation(index_dir) != generation:
                        continue  # a build published meanwhile: its generation lacks these vectors
                    if added:
                        vectors.add(*join_groups(added))
                    if added or waiting is None:
                        vectors.save(generation)
                break
    finally:
        cache.close()
        (index_dir / STATUS).unlink(missing_ok=True)
    report.seconds = time.monotonic() - started
    return report


def gather(index_dir: Path, generation: Path, report: MeaningReport) -> tuple[ItemVectors, list[int] | None]:
    """Returns the generation's vectors of live items and the document numbers of live items without any
    (None when vectors of deleted items were dropped and must be saved even if nothing is encoded)."""
    reader = open_generation(generation)
    try:
        live = reader.live()
        ids = [str(item_id) for item_id in reader.column("id")]
    finally:
        reader.close()
    vectors = ItemVectors.load(generation)
    live_ids = {ids[d] for d in np.flatnonzero(live)}
    stale = {doc for item_id, doc in zip(vectors.ids, vectors.doc_ids, strict=True) if item_id not in live_ids}
    # Made when items got fewer windows: those cut short are embedded again (served meanwhile as they are),
    # and the rest saved under the current label.
    relabel = vectors.windows < MAX_WINDOWS
    stale |= vectors.cut_short()
    if stale:
        vectors.drop_papers(stale)
    vectors.windows = MAX_WINDOWS
    held = set(vectors.ids)
    waiting = [int(d) for d in np.flatnonzero(live) if ids[d] not in held]
    report.items = len(live_ids)
    return vectors, None if (stale or relabel) and not waiting else waiting


def encode_waiting(
    index_dir: Path,
    generation: Path,
    waiting: list[int] | None,
    cache: TextCache,
    encode: Callable[[list[str]], np.ndarray],
    report: MeaningReport,
    show_progress: bool,
    chunk: int,
) -> list[tuple[list[str], list[str], list[int], np.ndarray]]:
    """Encodes the waiting items' texts group by group; returns their ids, papers, counts and vectors."""
    if not waiting:
        return []
    meter = Meter(len(waiting), "meaning", "item") if show_progress else None
    ready = report.items - len(waiting)
    write_status(index_dir, generation, report.items, ready)
    added = []
    reader = open_generation(generation)
    try:
        for start in range(0, len(waiting), GROUP):
            items = [read_item(reader.stored(d)) for d in waiting[start : start + GROUP]]
            texts = [passage_texts(i["item_title"], i["decisions"], i["body"]) for i in items]
            flat = [text for item_texts in texts for text in item_texts]
            per_text = len(items) / max(len(flat), 1)

            progress = {"texts": 0}

            def settled(
                count: int, per_text: float = per_text, ready: int = ready, progress: dict[str, int] = progress
            ) -> None:
                # Told after each chunk: the page's "N of M items" moves as the bar does, not per group.
                progress["texts"] += count
                write_status(index_dir, generation, report.items, ready + int(progress["texts"] * per_text))
                if meter:
                    meter.update(count * per_text)

            matrix, tally = embed_texts(flat, cache, encode, settled, chunk)
            add_tally(report, tally, len(flat), len(items))
            added.append(([i["id"] for i in items], [i["doc_id"] for i in items], [len(t) for t in texts], matrix))
            ready += len(items)
            write_status(index_dir, generation, report.items, ready)
    finally:
        reader.close()
        if meter:
            meter.close()
    return added


def join_groups(
    groups: list[tuple[list[str], list[str], list[int], np.ndarray]],
) -> tuple[list[str], list[str], list[int], np.ndarray]:
    """Returns the groups' ids, papers, counts and vectors as one (one copy, not one per group)."""
    return (
        [item for group in groups for item in group[0]],
        [doc for group in groups for doc in group[1]],
        [count for group in groups for count in group[2]],
        np.concatenate([group[3] for group in groups]),
    )


def add_tally(report: MeaningReport, tally: EncodingTally, texts: int, items: int) -> None:
    report.texts += texts
    report.encoded += tally.encoded
    report.cached += tally.cached
    report.added += items


def write_status(index_dir: Path, generation: Path, items: int, ready: int) -> None:
    """Writes how far the run has got, for the server's pages to show."""
    status = {"generation": generation.name, "items": items, "ready": ready, "pid": os.getpid()}
    write_atomically(index_dir / STATUS, json.dumps({**status, "updated": time.time()}))


def meaning_status(index_dir: Path, items: int, held: int) -> MeaningStatus:
    """Returns how far the meaning vectors have got: `held` of `items` in the served generation, or a
    running meaning phase's own count (the items whose vectors are encoded but not yet swapped in)."""
    if held >= items:
        return MeaningStatus(items=items, ready=items, running=False)
    running = lock_is_held(index_dir)
    ready = held
    if running:
        try:
            status = json.loads((index_dir / STATUS).read_text(encoding="utf-8"))
            ready = max(held, min(int(status["ready"]), items))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return MeaningStatus(items=items, ready=ready, running=running)
