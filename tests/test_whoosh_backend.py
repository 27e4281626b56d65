"""The Whoosh backend reads postings, positions and lengths as Whoosh's own public API gives them, and
says clearly when an upgrade moves a private name it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer import whoosh_backend
from indexer.store import current_generation
from indexer.whoosh_backend import WhooshChanged, check_private_names, open_reader


def test_block_reads_give_what_whooshs_matchers_give(index_dir: Path) -> None:
    generation = current_generation(index_dir)
    assert generation is not None
    reader = open_reader(generation)
    whoosh_reader = reader._reader  # the public Whoosh API to compare with
    for field, term in (("body", "foster"), ("body", "care"), ("item_title", "leaver"), ("council", "croydon")):
        expected_docnums, expected_weights, expected_positions = [], [], []
        matcher = whoosh_reader.postings(field, term.encode())
        while matcher.is_active():
            expected_docnums.append(matcher.id())
            expected_weights.append(matcher.weight())
            if field != "council":
                expected_positions.extend((matcher.id() << 32) | p for p in matcher.value_as("positions"))
            matcher.next()
        postings = reader.postings(field, term)
        assert postings.docnums.tolist() == expected_docnums and postings.weights.tolist() == expected_weights
        if field != "council":
            assert reader.occurrences(field, term).tolist() == sorted(expected_positions)
    lengths, average = reader.field_lengths("body")
    for docnum in range(0, reader.size, 7):
        assert lengths[docnum] == (whoosh_reader.doc_field_length(docnum, "body") or 0)
    assert average == pytest.approx(whoosh_reader.field_length("body") / reader.size)
    assert "foster" in list(reader.terms("body", "fos"))
    assert np.array_equal(reader.live(), np.ones(reader.size, dtype=bool))
    reader.close()


def test_a_moved_private_name_fails_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    check_private_names()
    owner, name = whoosh_backend.PRIVATE_NAMES[0]
    monkeypatch.delattr(owner, name)
    with pytest.raises(WhooshChanged, match=name):
        check_private_names()
