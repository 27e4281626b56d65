"""indexer.analysis, as the Whoosh analyzer, gives exactly the tokens of Whoosh's StemmingAnalyzer, on real
papers and on any text: indexes built before and after it hold the same terms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.analysis import StemmingAnalyzer
from whoosh.formats import Positions

from indexer.whoosh_backend import ItemAnalyzer

STEMMED = ItemAnalyzer()

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CHAIN = StemmingAnalyzer()
CALLS: list[dict[str, Any]] = [
    {"positions": True, "boosts": True, "mode": "index"},  # what indexing asks (formats.Positions)
    {"no_morph": True},  # the unstemmed words kept for spelling suggestions
    {"mode": "query"},
    {"positions": True, "start_pos": 7},
]


def tokens(analyzer: Any, text: str, **kwargs: Any) -> list[tuple[str, int | None]]:
    return [(t.text, t.pos if kwargs.get("positions") else None) for t in analyzer(text, **kwargs)]


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.txt"))[::3], ids=lambda p: p.name[:40])
def test_same_tokens_as_whooshs_chain_on_real_papers(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    for kwargs in CALLS:
        assert tokens(STEMMED, text, **kwargs) == tokens(CHAIN, text, **kwargs), kwargs
    assert list(Positions().word_values(text, STEMMED, mode="index")) == list(
        Positions().word_values(text, CHAIN, mode="index")
    )


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_same_tokens_as_whooshs_chain_on_any_text(text: str) -> None:
    for kwargs in CALLS:
        assert tokens(STEMMED, text, **kwargs) == tokens(CHAIN, text, **kwargs)


def test_calls_it_does_not_speed_up_go_to_the_chain() -> None:
    text = "The Panel NOTED the report on care leavers."
    with_chars = [(t.text, t.startchar, t.endchar) for t in STEMMED(text, chars=True)]
    assert with_chars == [(t.text, t.startchar, t.endchar) for t in CHAIN(text, chars=True)]
    kept = [(t.text, t.stopped) for t in STEMMED(text, removestops=False)]
    assert ("the", True) in kept and kept == [(t.text, t.stopped) for t in CHAIN(text, removestops=False)]
    assert STEMMED.has_morph()
