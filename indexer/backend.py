"""The index seam: what the search pipeline reads from an index and what the build writes to one.

Two kinds of backend plug in here (docs/design.md, "The index seam"):
- A backend that exposes postings (Whoosh, the embedded default) implements ItemReader. The pipeline
  scores its postings with the shared numpy code (search_app/ranking.py), so every such backend ranks
  alike, bit for bit.
- A backend that ranks on its own side (Xapian on remote shards, where reading postings is about 50 times
  slower) implements ItemReader's record, column and dictionary parts and answers the pipeline's one
  question itself: the best N matches for a plan and its filters, their scores, the total and the facet
  counts (search_app/engine.py, MatchEngine). It says what it cannot do in its Capabilities.
Both are written by an ItemWriter. Terms crossing the seam are already analysed (indexer/analysis.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Postings:
    """One term of one field: the items holding it (document numbers, ascending) and how often each does."""

    docnums: np.ndarray
    weights: np.ndarray


@dataclass(frozen=True)
class Capabilities:
    """What an opened index can do, stated once; the pipeline checks a request against it."""

    postings: bool
    """Postings, positions and lengths can be read as arrays (else the backend ranks on its own side)."""
    exact_facets: bool
    multi_valued_facets: bool
    spelling: bool
    """The term dictionary can be read for wildcard expansion and spelling suggestions."""


class ItemReader(Protocol):
    """One generation of the item index, read-only. Items are addressed by document number 0..size-1."""

    capabilities: Capabilities

    @property
    def size(self) -> int:
        """Returns how many document numbers there are, deleted items included."""

    def live(self) -> np.ndarray:
        """Returns which document numbers hold a live (not deleted) item."""

    def postings(self, field: str, term: str) -> Postings:
        """Returns the items holding a term in a field, deleted ones included (mask them with live)."""

    def occurrences(self, field: str, term: str) -> np.ndarray:
        """Returns every position of a term in a text field as sorted int64 docnum << 32 | position."""

    def field_lengths(self, field: str) -> tuple[np.ndarray, float]:
        """Returns each item's length in words in a text field, and the average over the items."""

    def has_term(self, field: str, term: str) -> bool:
        """Returns whether any item holds the term in the field."""

    def terms(self, field: str, prefix: str = "") -> Iterator[str]:
        """Yields the field's terms that start with prefix, in order: the term dictionary."""

    def column(self, field: str) -> list[Any]:
        """Returns a sortable field's value for every document number (strings; dates as date or None)."""

    def flags(self, field: str) -> np.ndarray:
        """Returns which document numbers have a boolean field set."""

    def stored(self, docnum: int) -> Mapping[str, Any]:
        """Returns an item's stored fields, as the build wrote them."""

    def docnum_of(self, item_id: str) -> int | None:
        """Returns the live document number of an item id, or None."""

    def stored_records(self) -> Iterator[Mapping[str, Any]]:
        """Yields the stored fields of every live item."""

    def close(self) -> None:
        """Lets go of the generation's files."""


class ItemWriter(Protocol):
    """Writes one generation: adds records, deletes a paper's records, then commits or cancels."""

    def add_record(self, fields: Mapping[str, Any]) -> None:
        """Adds one item record (records.record_fields)."""

    def delete_paper(self, doc_id: str) -> None:
        """Deletes every item of one source paper."""

    def commit(self) -> None:
        """Makes what was written durable in the generation."""

    def cancel(self) -> None:
        """Throws away what was written since opening."""
