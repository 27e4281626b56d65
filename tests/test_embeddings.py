"""Sentence embeddings: the published model reproduced, vectors kept with each generation, search by meaning."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import faiss
import numpy as np
import pytest

import indexer.meaning
import indexer.vectors
from indexer.build import build_index
from indexer.embeddings import (
    MAX_WINDOWS,
    WINDOW_STEP,
    EmbeddingsUnavailable,
    Encoder,
    model_zip,
    passage_texts,
    query_vector,
    shared_encoder,
)
from indexer.store import current_generation
from indexer.vectors import ItemVectors
from search_app import semantic
from search_app.expansion import meaning_text
from search_app.results import SearchRequest
from search_app.service import SearchIndex

EXAMPLE = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]


@functools.cache
def reference() -> Encoder:
    return Encoder()


def test_the_published_model_gives_its_published_similarities() -> None:
    # sentence-transformers' own example for all-MiniLM-L6-v2: 0.6660, 0.1046 and 0.1411, from the numpy
    # reference to the float32 figures' precision, and from the int8 encoder the product uses to 0.02.
    for encoder, within in ((reference(), 5e-4), (shared_encoder(), 0.02)):
        vectors = encoder.encode(EXAMPLE)
        similarity = vectors @ vectors.T
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert similarity[0, 1] == pytest.approx(0.6660, abs=within)
        assert similarity[0, 2] == pytest.approx(0.1046, abs=within)
        assert similarity[1, 2] == pytest.approx(0.1411, abs=within)


def test_the_int8_encoder_keeps_the_reference_vectors_of_real_papers(corpus_subset: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_index(corpus_subset, index_dir, embeddings=False)
    items = SearchIndex(index_dir).search(SearchRequest(q="children care", per_page=20)).hits
    texts = []
    for hit in items:
        item = SearchIndex(index_dir).get_item(hit.id)
        assert item is not None
        texts += passage_texts(item["item_title"], item["decisions"], item["body"])[:3]
    assert len(texts) >= 30
    fast, exact = shared_encoder().encode(texts), reference().encode(texts)
    # Every vector within cosine 0.99 of the float32 reference's (the bound issue 18 set).
    assert float(np.min(np.sum(fast * exact, axis=1))) >= 0.99


def test_weights_that_are_not_the_published_ones_are_refused(tmp_path: Path) -> None:
    tampered = tmp_path / "model.zip"
    with zipfile.ZipFile(model_zip()) as original, zipfile.ZipFile(tampered, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            copy.writestr(
                name, data.replace(b'"lowercase":true', b'"lowercase":false') if name == "tokenizer.json" else data
            )
    with pytest.raises(EmbeddingsUnavailable, match="not the published"):
        Encoder(tampered)


def vectors_of(index_dir: Path) -> ItemVectors:
    return ItemVectors.load(current_generation(index_dir))


def test_every_item_has_a_vector_and_updates_keep_them_in_step(
    corpus_subset: Path, tmp_path: Path, monkeypatch
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_subset, corpus)
    index_dir = tmp_path / "index"
    report = build_index(corpus, index_dir)
    vectors = vectors_of(index_dir)
    assert len(vectors.ids) == report.items == vectors.matrix.shape[0]
    assert len(set(vectors.ids)) == len(vectors.ids)
    # Deleting a paper drops its vectors; a rebuild from scratch encodes nothing again (the cache holds them).
    gone = next(corpus.rglob("*staying-put*.txt"))
    gone.unlink()
    build_index(corpus, index_dir)
    assert not any(doc.endswith(gone.name) for doc in vectors_of(index_dir).doc_ids)
    calls: list[int] = []
    real = indexer.meaning.shared_encoder

    class Counting:
        def encode(self, texts: list[str]) -> np.ndarray:
            calls.append(len(texts))
            return real().encode(texts)

    monkeypatch.setattr(indexer.meaning, "shared_encoder", Counting)
    rebuilt = build_index(corpus, index_dir, full=True)
    assert calls == [] and len(vectors_of(index_dir).ids) == rebuilt.items


def test_no_embeddings_build_serves_words_only(corpus_subset: Path, tmp_path: Path) -> None:
    build_index(corpus_subset, tmp_path / "index", embeddings=False)
    assert vectors_of(tmp_path / "index").ids == []
    results = SearchIndex(tmp_path / "index").search(SearchRequest(q="young people staying on with foster carers"))
    words_only = SearchIndex(tmp_path / "index").search(
        SearchRequest(q="young people staying on with foster carers", semantic=False)
    )
    assert [h.id for h in results.hits] == [h.id for h in words_only.hits]


def test_meaning_finds_the_paper_in_other_words(index_dir: Path) -> None:
    index = SearchIndex(index_dir)
    # Staying Put in other words: the policy says neither "remaining", "placement" nor "birthday".
    query = "remaining in placement after eighteenth birthday"
    words = [h.source for h in index.search(SearchRequest(q=query, semantic=False, per_page=50)).hits]
    meaning = [h.source for h in index.search(SearchRequest(q=query)).hits]
    staying_put = "kirklees/cpb_mgAi_18660_staying-put-fostering-policy.txt"
    # Words alone find it only through "after" and "eighteenth", below ten others; meaning brings it up.
    assert staying_put not in words[:10]
    assert staying_put in meaning[:8]


def test_an_acronym_is_searched_by_meaning_as_what_it_stands_for() -> None:
    # The encoder learnt general English: "LADO" alone is a few word pieces, near nothing in particular.
    papers = {
        "LADO referrals": "Allegations against staff who work with children were referred to the local authority "
        "designated officer, who oversaw each investigation.",
        "RHI completion": "Every child who goes missing is offered a return home interview within 72 hours; "
        "80% were completed on time.",
        "UASC numbers": "The number of unaccompanied asylum seeking children in our care rose to 112 this year.",
    }
    for typed, paper in papers.items():
        vector = shared_encoder().encode([paper])[0]
        as_typed = float(query_vector(typed) @ vector)
        as_read = float(query_vector(meaning_text(typed)) @ vector)
        assert as_read > as_typed + 0.2, (typed, as_typed, as_read)


def test_exact_syntax_gets_no_meaning_matches(index_dir: Path) -> None:
    index = SearchIndex(index_dir)
    for query in ('"foster families"', "council:kirklees foster", "foster AND families"):
        with_meaning = [h.id for h in index.search(SearchRequest(q=query, per_page=100)).hits]
        without = [h.id for h in index.search(SearchRequest(q=query, per_page=100, semantic=False)).hits]
        assert with_meaning == without, query


def test_the_nearest_neighbour_index_finds_what_the_exact_search_finds(
    full_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = [
        "young people leaving care staying with their foster carers",
        "reception centres for unaccompanied children",
        "laptops for children during lockdown",
        "mental health support for children in care",
        "what did we decide about Staying Put",
    ]
    exact = SearchIndex(full_index)
    expected = {q: [h.id for h in exact.search(SearchRequest(q=q, per_page=10)).hits] for q in queries}
    # As above 20,000 items: the same vectors saved with an inverted-file index, memory-mapped by the
    # server, whose nearest 300 (of 508) are scored again exactly. The pool's nearest 200 must come out the same.
    copy = tmp_path / "index"
    shutil.copytree(full_index, copy)
    monkeypatch.setattr(indexer.vectors, "APPROXIMATE_ABOVE", 0)
    monkeypatch.setattr(semantic, "CANDIDATES", 300)
    generation = current_generation(copy)
    ItemVectors.load(generation).save(generation)  # type: ignore[arg-type]
    approximate = SearchIndex(copy)
    nearest = approximate.meaning()[0].nearest  # type: ignore[index]
    assert nearest is not None
    # Mapped lists are read in place: faiss's default for them starts 32 threads a search to touch their
    # pages first, which cost six times the search itself at 100,000 items (docs/performance.md).
    assert faiss.downcast_InvertedLists(nearest.index.invlists).prefetch_nthread == 0
    for query in queries:
        assert [h.id for h in approximate.search(SearchRequest(q=query, per_page=10)).hits] == expected[query], query
    # A fresh process that loads the nearest-neighbour library before anything else, then maps the index
    # and encodes its first query. (usearch 2.26.6, tried before faiss, made ONNX Runtime's import crash
    # with a segmentation fault in any process that had imported it first; two native libraries in one
    # process is where that happens, and this process has loaded the encoder already.)
    worker = (
        "import sys, faiss; from pathlib import Path; from search_app.service import SearchIndex\n"
        "from search_app.results import SearchRequest; index = SearchIndex(Path(sys.argv[1]))\n"
        "assert index.meaning()[0].nearest is not None\n"
        "print(index.search(SearchRequest(q=sys.argv[2], per_page=10)).hits[0].id)"
    )
    query = queries[0]
    answer = subprocess.run(
        [sys.executable, "-c", worker, str(copy), query], capture_output=True, text=True, timeout=300
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.split() == [expected[query][0]]


def test_every_worker_maps_the_vectors_instead_of_holding_a_copy(index_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    first = SearchIndex(copy)
    query = "young people staying on with foster carers"
    expected = [h.id for h in first.search(SearchRequest(q=query)).hits]
    # The first worker wrote where each row stands by document number; the next one maps that file.
    generation = current_generation(copy)
    assert generation is not None and list(generation.glob("align-*-rows.npy"))
    second = SearchIndex(copy)
    held = second.meaning()[0]  # type: ignore[index]
    for array in (held.rows, held.held, held.docnums, held.starts, held.counts, held.matrix, held.passages):
        assert isinstance(array, np.memmap), type(array)
    assert [h.id for h in second.search(SearchRequest(q=query)).hits] == expected


def test_a_long_report_is_embedded_to_its_last_paragraph() -> None:
    # A 20,000-word performance appendix answers some questions on its last pages: each of its words is in
    # a window, so the meaning half of the score can find that paragraph (until 2026-12-07 it stopped at
    # about 3,900 words).
    words = [f"w{n}" for n in range(20_000)]
    texts = passage_texts("Quarterly Performance Report", [], " ".join(words))
    windowed = set(" ".join(texts[1:]).split())
    assert set(words) <= windowed
    assert all(text.startswith("Quarterly Performance Report\n") for text in texts[1:])


def test_a_huge_appendix_costs_no_more_than_max_windows() -> None:
    words = [f"w{n}" for n in range(WINDOW_STEP * MAX_WINDOWS * 2)]
    texts = passage_texts("Budget book", [], " ".join(words))
    assert len(texts) == 1 + MAX_WINDOWS
