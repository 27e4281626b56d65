"""Words first, meaning after: the words of a build answer at once, the vectors follow, resumably."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote
from urllib.request import urlopen

import numpy as np
import pytest

import indexer.embeddings
import indexer.meaning
import indexer.vectors
from indexer.build import build_index
from indexer.meaning import CACHE, embed_index, meaning_lock, write_status
from indexer.store import current_generation
from indexer.vectors import ItemVectors
from search_app import create_app
from search_app.results import SearchRequest
from search_app.service import SearchIndex

# Staying Put in other words: only meaning finds the policy in the top 8 (see test_embeddings).
PARAPHRASE = "remaining in placement after eighteenth birthday"


def cached_texts(index_dir: Path) -> int:
    try:
        with sqlite3.connect(index_dir / CACHE, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_words_answer_before_the_vectors_and_meaning_follows_in_without_a_restart(
    corpus_subset: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    report = build_index(corpus_subset, index_dir, embeddings=False)
    index = SearchIndex(index_dir)
    client = create_app({"INDEX_DIR": str(index_dir), "CORPUS_DIR": str(corpus_subset), "TESTING": True}).test_client()
    before = index.search(SearchRequest(q=PARAPHRASE))
    assert before.total > 0 and not before.meaning_used
    assert before.meaning_status is not None and before.meaning_status.ready == 0
    assert client.get(f"/api/search?q={PARAPHRASE}").get_json()["meaning"] == {
        "status": "off",
        "items": report.items,
        "items_ready": 0,
        "used": False,
    }
    # While a meaning run holds its lock, the page and the API say how far it has got.
    with meaning_lock(index_dir):
        write_status(index_dir, current_generation(index_dir), report.items, 7)  # type: ignore[arg-type]
        page = client.get(f"/?q={PARAPHRASE}").get_data(as_text=True)
        assert f"Matching by meaning is still being prepared\n      (7 of {report.items} items)" in page
        api = client.get(f"/api/search?q={PARAPHRASE}").get_json()["meaning"]
        assert api == {"status": "preparing", "items": report.items, "items_ready": 7, "used": False}
    meaning = embed_index(index_dir)
    assert meaning.added == report.items and meaning.encoded + meaning.cached <= meaning.texts
    after = index.search(SearchRequest(q=PARAPHRASE))
    assert after.meaning_used and after.meaning_status is not None and after.meaning_status.complete
    assert "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt" in [h.source for h in after.hits[:8]]
    assert client.get(f"/api/search?q={PARAPHRASE}").get_json()["meaning"]["status"] == "ready"
    assert "still being prepared" not in client.get(f"/?q={PARAPHRASE}").get_data(as_text=True)


def test_a_partial_set_of_vectors_is_not_used_to_rank(corpus_subset: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_subset, corpus)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir)
    paper = next(corpus.rglob("*staying-put*.txt"))
    paper.write_text(paper.read_text(encoding="utf-8") + "\nA late addendum.\n", encoding="utf-8")
    build_index(corpus, index_dir, embeddings=False)
    # The changed paper's items wait for their vectors: until they have them, meaning ranks nothing,
    # or every other item would outrank them on meaning alone.
    vectors = ItemVectors.load(current_generation(index_dir))
    assert vectors.ids and not any(doc.endswith(paper.name) for doc in vectors.doc_ids)
    results = SearchIndex(index_dir).search(SearchRequest(q=PARAPHRASE))
    assert not results.meaning_used and results.meaning_status is not None
    assert 0 < results.meaning_status.ready < results.meaning_status.items


def test_an_encoding_run_killed_half_way_resumes_and_ends_as_an_unbroken_run(
    corpus_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unbroken, killed = tmp_path / "unbroken", tmp_path / "killed"
    for index_dir in (unbroken, killed):
        build_index(corpus_subset, index_dir, embeddings=False)
    whole = embed_index(unbroken)
    command = [sys.executable, "-m", "search_app.cli", "embed", "--index", str(killed), "--chunk", "8"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while cached_texts(killed) < 16 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    kept = cached_texts(killed)
    assert 16 <= kept < whole.encoded, "the run was not stopped half-way"
    assert ItemVectors.load(current_generation(killed)).ids == []  # nothing half-written was swapped in
    # The page's "N of M items" had moved with the chunks written, before the first group was done.
    assert 0 < json.loads((killed / "meaning.json").read_text(encoding="utf-8"))["ready"] < whole.added
    encoded: list[str] = []
    real = indexer.meaning.shared_encoder

    class Counting:
        def encode(self, texts: list[str]) -> np.ndarray:
            encoded.extend(texts)
            return real().encode(texts)

    monkeypatch.setattr(indexer.meaning, "shared_encoder", Counting)
    resumed = embed_index(killed)
    # Only what the killed run had not written is encoded, each text once.
    assert resumed.cached == kept and resumed.encoded == whole.encoded - kept == len(encoded)
    assert len(set(encoded)) == len(encoded)
    a, b = ItemVectors.load(current_generation(unbroken)), ItemVectors.load(current_generation(killed))
    order = np.argsort(a.ids)
    assert sorted(a.ids) == sorted(b.ids) and a.counts[order].tolist() == b.counts[np.argsort(b.ids)].tolist()
    # The same vectors, to float rounding (batches of other texts change the last bits of a product).
    assert np.allclose(a.matrix[order], b.matrix[np.argsort(b.ids)], atol=1e-5)
    assert np.allclose(np.asarray(a.passages, dtype=np.float32), np.asarray(b.passages, dtype=np.float32), atol=2e-3)
    assert embed_index(killed).encoded == 0  # a run with nothing missing encodes nothing


def ask(port: int, query: str) -> dict | None:
    try:
        with urlopen(f"http://127.0.0.1:{port}/api/search?q={quote(query)}", timeout=10) as response:
            return json.load(response)  # type: ignore[no-any-return]
    except OSError:
        return None


def test_serve_answers_by_words_at_once_and_adds_meaning_in_the_background(corpus_subset: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(corpus_subset, index_dir, embeddings=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "search_app.cli", "serve", "--index", str(index_dir), "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--corpus", str(corpus_subset), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        first = None
        for _ in range(150):
            first = ask(port, PARAPHRASE)
            if first:
                break
            time.sleep(0.2)
        assert first is not None, "the server never answered"
        assert first["total"] > 0 and first["meaning"]["status"] in ("off", "preparing")
        assert not first["meaning"]["used"]
        deadline = time.monotonic() + 600
        answer = first
        while answer["meaning"]["status"] != "ready" and time.monotonic() < deadline:
            time.sleep(1)
            answer = ask(port, PARAPHRASE) or answer
        assert answer["meaning"]["status"] == "ready", answer["meaning"]
        assert answer["meaning"]["used"] and answer["meaning"]["items_ready"] == answer["meaning"]["items"]
        staying_put = "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt"
        assert staying_put in [hit["source"] for hit in answer["results"][:8]]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_vectors_made_with_fewer_windows_are_served_and_their_cut_items_embedded_again(
    corpus_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An index whose vectors gave items fewer windows than an item gets now keeps meaning on with them, and
    # the next meaning run embeds again the items they cut short: from the cache, but for the windows added.
    index_dir = tmp_path / "index"
    with monkeypatch.context() as old:
        old.setattr(indexer.embeddings, "MAX_WINDOWS", 2)
        old.setattr(indexer.vectors, "VECTORS_MODEL", f"{indexer.vectors.WINDOWS_LABEL}2")
        report = build_index(corpus_subset, index_dir)
    before = ItemVectors.load(current_generation(index_dir))
    assert len(before.ids) == report.items and before.windows == 2 and int(before.counts.max()) == 3
    assert SearchIndex(index_dir).search(SearchRequest(q=PARAPHRASE)).meaning_used
    meaning = embed_index(index_dir)
    after = ItemVectors.load(current_generation(index_dir))
    assert len(after.ids) == report.items and after.windows == indexer.embeddings.MAX_WINDOWS
    assert int(after.counts.max()) > 3 and meaning.encoded > 0 and meaning.cached > 0
    assert meaning.encoded <= int(after.counts.sum()) - int(before.counts.sum())  # copies' windows once
    assert SearchIndex(index_dir).search(SearchRequest(q=PARAPHRASE)).meaning_used


def test_vectors_are_used_only_if_made_by_this_encoder_with_at_most_todays_windows() -> None:
    from indexer.vectors import VECTORS_MODEL, WINDOWS_LABEL, windows_of

    assert windows_of(VECTORS_MODEL) == indexer.embeddings.MAX_WINDOWS
    assert windows_of("all-MiniLM-L6-v2/3") == 32  # labelled before windows were recorded
    assert windows_of(f"{WINDOWS_LABEL}{indexer.embeddings.MAX_WINDOWS + 1}") is None
    assert windows_of("all-MiniLM-L6-v2/2") is None  # the numpy encoder's
    assert windows_of("all-MiniLM-L6-v2/3/windows-60-50-32") is None  # other windows
