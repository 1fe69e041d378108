"""Tagging runs: records in, one output line per record out, every record accounted for.

Output lines (JSONL)::

    {"id", "text", "entities": [{"start", "end", "label", "text", "score"}], "status", "model", ...}

``start``/``end`` are code-point offsets into ``text``, end exclusive, and
``text[start:end] == entity["text"]`` for every entity. Records that are not ``ok`` keep their
status (``error`` or a skip code) and a ``reason``; errors are also listed in ``errors.jsonl``
with the place they were read from. Files are written to a temporary file in the target folder
and renamed at the end.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msc_nlp.document import Span
from msc_nlp.jsonl import dumps, write_atomic
from msc_nlp.readers import ERROR, OK, Record

log = logging.getLogger(__name__)


@dataclass
class TagSummary:
    """Counts of a tagging run; ``ok + errors + skipped == total``.

    Attributes:
        total: records read.
        ok: records tagged.
        errors: records that could not be read or tagged.
        skipped: skip code -> count (``no_abstract``, ``deleted`` ...).
        entities: label -> number of entities emitted.
    """

    total: int = 0
    ok: int = 0
    errors: int = 0
    skipped: Counter = field(default_factory=Counter)
    entities: Counter = field(default_factory=Counter)

    def add(self, record: Record, spans: list[Span]) -> None:
        self.total += 1
        if record.status == OK:
            self.ok += 1
            self.entities.update(span.label for span in spans)
        elif record.status == ERROR:
            self.errors += 1
        else:
            self.skipped[record.status] += 1

    @property
    def balanced(self) -> bool:
        """True when every record is counted exactly once."""
        return self.ok + self.errors + sum(self.skipped.values()) == self.total


def output_record(record: Record, spans: list[Span], model_id: str) -> dict[str, Any]:
    """The output object of one record (entity texts sliced from the record's text)."""
    entities = []
    for span in spans:
        entities.append({"start": span.start, "end": span.end, "label": span.label,
                         "text": record.text[span.start : span.end], "score": span.score})
    result: dict[str, Any] = {"id": record.id, "text": record.text, "entities": entities,
                              "status": record.status, "model": model_id}
    result.update(record.extra)
    if record.reason:
        result["reason"] = record.reason
    return result


def tagged(records: Iterable[Record], tagger, buffer_size: int = 256) -> Iterator[tuple[Record, list[Span]]]:
    """Tag ``ok`` records in bounded buffers; yield every record, in input order, with its spans."""
    buffer: list[Record] = []

    def flush() -> Iterator[tuple[Record, list[Span]]]:
        todo = [r for r in buffer if r.status == OK]
        predictions = iter(tagger.predict([r.text for r in todo]))
        for record in buffer:
            yield record, (next(predictions) if record.status == OK else [])

    for record in records:
        buffer.append(record)
        if len(buffer) >= buffer_size:
            yield from flush()
            buffer = []
    yield from flush()


def tag_records(records: Iterable[Record], tagger, output: Path, errors_path: Path | None = None,
                buffer_size: int = 256, progress: bool = False) -> TagSummary:
    """Tag records and write the output JSONL (and the errors file) atomically.

    Args:
        records: input records (see ``msc_nlp.readers``).
        tagger: a ``predict.Tagger``.
        output: output JSONL path.
        errors_path: where to list error records (default: ``errors.jsonl`` beside the output).
        buffer_size: records per length-sorted buffer.
        progress: show a progress bar with records per second.

    Returns:
        The run's counts.
    """
    from tqdm.auto import tqdm

    output = Path(output)
    errors_path = errors_path or output.with_name("errors.jsonl")
    summary = TagSummary()
    error_lines: list[str] = []

    def lines() -> Iterator[str]:
        bar = tqdm(disable=not progress, unit="abstract", desc="tagging")
        for record, spans in tagged(records, tagger, buffer_size):
            summary.add(record, spans)
            bar.update(1)
            if record.status == ERROR:
                error_lines.append(dumps({"id": record.id, "source": record.source, "reason": record.reason}))
            yield dumps(output_record(record, spans, tagger.model_id))
        bar.close()

    write_atomic(output, lines())
    write_atomic(errors_path, error_lines)
    return summary
