"""The stored record: written by records.record_fields and read back by records.read_item unchanged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from indexer.models import IndexRecord
from indexer.records import read_item, read_other_source, record_fields
from indexer.whoosh_backend import create_index, open_reader, open_writer


def a_record(**changes: object) -> IndexRecord:
    values: dict[str, object] = {
        "id": "abc123def456-3",
        "doc_id": "croydon/cpp_2021-03-03_minutes.txt",
        "content_hash": "f00d",
        "council": "croydon",
        "council_name": "London Borough of Croydon",
        "committee": "corporate-parenting-panel",
        "committee_name": "Corporate Parenting Panel",
        "doc_type": "minutes",
        "date": date(2021, 3, 3),
        "earlier_minutes": False,
        "title": "Minutes",
        "item_number": "16/21",
        "item_title": "Staying Put",
        "body": "The Panel discussed Staying Put.\n\nRESOLVED: to review the policy.",
        "decisions": ["RESOLVED: to review the policy.", "ACTION: report back in June."],
        "figures": ["58% of care leavers were in EET"],
        "topics": ["staying-put", "eet"],
        "page": 3,
        "source": "croydon/cpp_2021-03-03_minutes.txt",
        "source_url": "https://example.org/mgAi.aspx?ID=1",
        "format": "pdf",
        "provenance": {"date": "sidecar"},
    }
    values.update(changes)
    return IndexRecord(**values)  # type: ignore[arg-type]


def test_a_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    dated, undated = a_record(), a_record(id="abc123def456-4", date=None, topics=[], decisions=[], figures=[])
    create_index(tmp_path)
    writer = open_writer(tmp_path)
    for position, record in enumerate((dated, undated)):
        writer.add_record(record_fields(record, position))
    writer.commit()
    reader = open_reader(tmp_path)
    for record in (dated, undated):
        docnum = reader.docnum_of(record.id)
        assert docnum is not None
        item = read_item(reader.stored(docnum))
        assert item == {
            "id": record.id,
            "doc_id": record.doc_id,
            "council": record.council,
            "council_name": record.council_name,
            "committee": record.committee,
            "committee_name": record.committee_name,
            "date": record.date.isoformat() if record.date else None,
            "doc_type": record.doc_type,
            "title": record.title,
            "item_number": record.item_number,
            "item_title": record.item_title,
            "topics": record.topics,
            "decisions": record.decisions,
            "figures": record.figures,
            "body": record.body,
            "source": record.source,
            "page": record.page,
            "source_url": record.source_url,
            "format": record.format,
            "earlier_minutes": record.earlier_minutes,
            "provenance": record.provenance,
        }
        other = read_other_source(reader.stored(docnum))
        assert other == {k: item[k] for k in ("id", "source", "page", "doc_type", "format", "title", "earlier_minutes")}
    assert reader.column("topics")[reader.docnum_of(dated.id) or 0] == "staying-put,eet"
    assert [d for d in reader.column("date") if d] == [date(2021, 3, 3)]
    reader.close()
