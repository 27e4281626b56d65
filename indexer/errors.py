"""The indexer's errors: each carries the source path and a reason a person can act on."""

from __future__ import annotations


class IndexerError(Exception):
    """Base of the indexer's errors."""

    def __init__(self, relpath: str, reason: str) -> None:
        super().__init__(f"{relpath}: {reason}")
        self.relpath = relpath
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Errors cross from extraction worker processes, so they must pickle with both arguments.
        return (type(self), (self.relpath, self.reason))


class ExtractionError(IndexerError):
    """A file's bytes could not be turned into text."""


class ParseError(IndexerError):
    """Text was extracted but its metadata or items could not be read."""


class SkipFile(IndexerError):
    """A file that is deliberately not indexed as a paper (metadata responses, unknown types)."""
