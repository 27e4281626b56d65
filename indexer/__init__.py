"""The write side: corpus files -> extracted text -> agenda items -> Whoosh index."""

from indexer.build import build_index
from indexer.models import AgendaItem, BuildReport, Document, IndexRecord

__all__ = ["AgendaItem", "BuildReport", "Document", "IndexRecord", "build_index"]
