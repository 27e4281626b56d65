"""Runs the stages in order: find, extract, parse, enrich, index; returns a BuildReport.

Extract -> Parse -> Enrich -> Index. Files whose content hash is unchanged are not read again;
PDF extraction runs on every core and is cached by content hash.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from indexer.arrivals import forget_unpublished, record_arrivals
from indexer.decisions import find_decisions, find_figures
from indexer.embeddings import EmbeddingsUnavailable
from indexer.errors import IndexerError, SkipFile
from indexer.extract import extract_file
from indexer.items import split_items
from indexer.meaning import MeaningBusy, embed_index
from indexer.metadata import parse_sidecar_date, read_metadata
from indexer.models import (
    BuildFailure,
    BuildReport,
    Council,
    Document,
    ExtractedItem,
    ExtractedText,
    Page,
    SourceFile,
)
from indexer.records import make_records, record_fields
from indexer.sources import DEFAULT_MAX_BYTES, find_papers, open_source, read_council, read_sidecar
from indexer.store import (
    Vocabulary,
    build_lock,
    current_generation,
    discard_unpublished,
    next_generation,
    open_writer,
    publish,
    read_manifest,
)
from indexer.topics import tag_topics
from indexer.vectors import PASSAGES_PREFIX, VECTORS, ItemVectors
from indexer.workers import die_with_parent, usable_cores

# Bump when extraction changes, so cached text from an older extractor is not reused.
EXTRACTOR_VERSION = "2"
# Bump when parsing, enrichment or the schema change: an index of another format is rebuilt whole.
INDEX_FORMAT = "16"
FORMAT_KEY = "__index_format__"
Progress = Callable[[str], None]
IN_FLIGHT_PER_WORKER = 4
# Pages about one agenda item, issue or decision, and a single report, are one item however their
# text is numbered ("1.0 Purpose of Report" is a section of the report, not an agenda item).
SINGLE_ITEM_TYPES = {
    "item-page",
    "issue-page",
    "decision",
    "committee-page",
    "meetings-list",
    "report",
    "appendix",
    "motion",
}


def build_index(
    corpus: Path,
    index_dir: Path,
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int | None = None,
    progress: Progress | None = None,
    full: bool = False,
    embeddings: bool = True,
    show_progress: bool = False,
) -> BuildReport:
    """Builds or updates the index of corpus/ in index_dir; returns what was indexed, skipped and failed.

    The words are published first (searchable from then on); with `embeddings`, the meaning vectors of
    the new items follow in a second phase (indexer.meaning), which `cpsearch serve` can also run.

    Args:
        full: rebuild every file into a fresh generation instead of updating the current one.
    """
    started = time.monotonic()
    report = BuildReport(index_dir=str(index_dir))
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder {corpus} does not exist")
    with build_lock(index_dir):
        discard_unpublished(index_dir)
        served = current_generation(index_dir)
        forget_unpublished(index_dir, served.name if served else None)
        old_manifest = read_manifest(current_generation(index_dir))
        if full or old_manifest.pop(FORMAT_KEY, None) != INDEX_FORMAT:
            full, old_manifest = True, {}
        sources, manifest = find_sources(corpus, old_manifest, max_bytes, report)
        changed = [s for s in sources if old_manifest.get(s.relpath) != s.content_hash]
        report.unchanged = [s.relpath for s in sources if s not in changed]
        report.removed = sorted(set(old_manifest) - {s.relpath for s in sources} - failed_paths(report))
        if full or changed or report.removed or current_generation(index_dir) is None:
            write_generation(index_dir, changed, report, manifest, old_manifest, workers, progress, full)
    report.words_seconds = time.monotonic() - started
    if embeddings:
        add_meaning(index_dir, report, show_progress)
    report.seconds = time.monotonic() - started
    return report


def add_meaning(index_dir: Path, report: BuildReport, show_progress: bool) -> None:
    """Runs the meaning phase after the words are published; a missing model leaves words only."""
    try:
        report.meaning = embed_index(index_dir, show_progress=show_progress)
    except EmbeddingsUnavailable as exc:
        report.warnings.append(BuildFailure("(embeddings)", str(exc), "indexed without meaning-based matching"))
    except MeaningBusy as exc:
        report.warnings.append(BuildFailure("(embeddings)", str(exc), "left the new items' vectors to that run"))


def failed_paths(report: BuildReport) -> set[str]:
    """Returns the paths that could not be read this run (their previous version stays indexed)."""
    return {f.relpath for f in report.failed}


def find_sources(
    corpus: Path, old_manifest: dict[str, str], max_bytes: int, report: BuildReport
) -> tuple[list[SourceFile], dict[str, str]]:
    """Returns the papers to consider and the manifest of those already known to be good."""
    councils: dict[str, Council] = {}
    sources = []
    manifest: dict[str, str] = {}
    for found in find_papers(corpus):
        council = councils.setdefault(found.council_slug, read_council(corpus, found.council_slug or "unknown"))
        try:
            source = open_source(found, council, max_bytes)
        except SkipFile as exc:
            report.skipped.append(BuildFailure(exc.relpath, exc.reason, "skipped"))
            continue
        except OSError as exc:
            note_failure(
                report, found.relpath, f"file could not be read ({exc.strerror or exc})", old_manifest, manifest
            )
            continue
        try:
            source.sidecar = read_sidecar(found.path, found.relpath)
            if source.sidecar.get("date"):
                parse_sidecar_date(source.sidecar["date"], found.relpath)
        except IndexerError as exc:
            source.sidecar.pop("date", None)
            report.warnings.append(BuildFailure(exc.relpath, exc.reason, "indexed with metadata from the text"))
        sources.append(source)
    return sources, manifest


def note_failure(
    report: BuildReport, relpath: str, reason: str, old_manifest: dict[str, str], manifest: dict[str, str]
) -> None:
    """Records a failed file, keeping its previously indexed version if there is one."""
    if relpath in old_manifest:
        manifest[relpath] = old_manifest[relpath]
        report.failed.append(BuildFailure(relpath, reason, "kept the previously indexed version"))
    else:
        report.failed.append(BuildFailure(relpath, reason, "skipped"))


def write_generation(
    index_dir: Path,
    changed: list[SourceFile],
    report: BuildReport,
    manifest: dict[str, str],
    old_manifest: dict[str, str],
    workers: int | None,
    progress: Progress | None,
    full: bool = False,
) -> None:
    """Writes changed files into a new generation and publishes it; a failure leaves the old one serving.

    The vectors of unchanged papers are carried over; those of changed papers wait for the meaning phase."""
    generation = next_generation(index_dir, empty=full)
    writer = open_writer(generation, parallel=full)
    vocabulary = Vocabulary() if full else Vocabulary.load(generation)
    arrived: list[tuple[str, str]] = []
    try:
        for relpath in report.removed:
            writer.delete_paper(relpath)
        for relpath, hash_ in old_manifest.items():
            if relpath not in report.removed:
                manifest.setdefault(relpath, hash_)
        for source, outcome in extract_all(changed, index_dir / "cache", workers):
            if progress:
                progress(source.relpath)
            if isinstance(outcome, IndexerError):
                record_unreadable(report, source, outcome, manifest, old_manifest)
                continue
            try:
                document = parse_document(source, outcome)
            except IndexerError as exc:
                record_unreadable(report, source, exc, manifest, old_manifest)
                continue
            writer.delete_paper(source.relpath)
            records = list(make_records(document))
            for position, record in enumerate(records):
                writer.add_record(record_fields(record, position))
                vocabulary.add(record.item_title, record.title, record.body, *record.decisions)
                arrived.append((record.id, record.content_hash))
                report.items += 1
            manifest[source.relpath] = source.content_hash
            report.indexed.append(source.relpath)
        carry_vectors(generation, set(report.indexed) | set(report.removed) | failed_paths(report), full)
        writer.commit()
        vocabulary.save(generation)
        record_arrivals(index_dir, generation.name, arrived)  # before publishing: alerts must not miss one
        manifest[FORMAT_KEY] = INDEX_FORMAT
    except BaseException:
        writer.cancel()
        shutil.rmtree(generation, ignore_errors=True)
        raise
    publish(index_dir, generation, manifest)


def carry_vectors(generation: Path, changed: set[str], full: bool) -> None:
    """Keeps the vectors of the papers this build did not change; the meaning phase adds the rest."""
    if full:
        drop_vectors(generation)
        return
    vectors = ItemVectors.load(generation)
    if vectors.ids and changed & set(vectors.doc_ids):
        vectors.drop_papers(changed)
        vectors.save(generation)


def record_unreadable(
    report: BuildReport,
    source: SourceFile,
    exc: IndexerError,
    manifest: dict[str, str],
    old_manifest: dict[str, str],
) -> None:
    """Records a file that was skipped on purpose or could not be read."""
    if isinstance(exc, SkipFile):
        report.skipped.append(BuildFailure(source.relpath, exc.reason, "skipped"))
        manifest.pop(source.relpath, None)
        return
    manifest.pop(source.relpath, None)
    note_failure(report, source.relpath, exc.reason, old_manifest, manifest)


def parse_document(source: SourceFile, extracted: ExtractedText) -> Document:
    """Returns a paper's metadata and enriched agenda items."""
    meta, came_from = read_metadata(source, extracted)
    items = split_items(extracted, str(meta["title"]), single=meta["doc_type"] in SINGLE_ITEM_TYPES)
    for item in items:
        item.decisions = find_decisions(item.body)
        item.figures = find_figures(item.body)
        item.topics = tag_topics(item.title, item.body)
    return Document(
        source=source,
        title=str(meta["title"]),
        council_name=str(meta["council_name"]),
        committee=str(meta["committee"]),
        meeting_date=meta["date"] or None,  # type: ignore[arg-type]
        doc_type=str(meta["doc_type"]),
        source_url=str(meta["source_url"]),
        items=items,
        provenance=came_from,
        page_count=len(extracted.pages),
        format=extracted.format,
    )


def extract_all(
    sources: list[SourceFile], cache_dir: Path, workers: int | None
) -> Iterator[tuple[SourceFile, ExtractedText | IndexerError]]:
    """Yields each source with its extracted text or error, in order, PDFs on several cores."""
    jobs = [(s.path, s.relpath, s.content_hash.split(":")[0], cache_dir) for s in sources]
    workers = workers or usable_cores()
    pdfs = sum(1 for s in sources if s.path.suffix.lower() == ".pdf")
    if workers <= 1 or pdfs < 4:
        yield from zip(sources, (extract_cached(*job) for job in jobs), strict=True)
        return
    # A bounded window of jobs in flight: memory stays flat however large the corpus is.
    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        pending: deque[tuple[SourceFile, Future[ExtractedText | IndexerError]]] = deque()
        for source, job in zip(sources, jobs, strict=True):
            pending.append((source, pool.submit(extract_cached, *job)))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def extract_cached(path: Path, relpath: str, file_hash: str, cache_dir: Path) -> ExtractedText | IndexerError:
    """Returns a file's extracted text from the cache, or extracts and caches it; errors are returned."""
    cache_file = cache_dir / f"{file_hash[:2]}/{file_hash}-v{EXTRACTOR_VERSION}.json"
    try:
        return load_extracted(cache_file)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        extracted = extract_file(path, relpath)
    except IndexerError as exc:
        return exc
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(extracted)), encoding="utf-8")
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return extracted


def load_extracted(cache_file: Path) -> ExtractedText:
    """Returns ExtractedText saved by extract_cached."""
    data = json.loads(cache_file.read_text(encoding="utf-8"))
    items = [ExtractedItem(**i) for i in data["items"]] if data.get("items") is not None else None
    return ExtractedText(
        pages=[Page(**p) for p in data["pages"]],
        format=data["format"],
        title=data.get("title", ""),
        metadata=data.get("metadata", {}),
        items=items,
    )


def drop_vectors(generation: Path) -> None:
    """Removes a generation's vectors, so that it serves words only."""
    (generation / VECTORS).unlink(missing_ok=True)
    for passages in generation.glob(f"{PASSAGES_PREFIX}*.npy"):
        passages.unlink()
