"""Tagging runs: records in, one output line per record out, every record accounted for.

Output lines (JSONL)::

    {"id", "text", "entities": [{"start", "end", "label", "text", "score"}], "status", "model", ...}

``start``/``end`` are code-point offsets into ``text``, end exclusive, and
``text[start:end] == entity["text"]`` for every entity. Records that are not ``ok`` keep their
status (``error`` or a skip code such as ``no_abstract``) with a ``reason`` and the ``source``
they were read from; errors are also listed in ``<output stem>.errors.jsonl`` beside the output
(``out/examples.jsonl`` -> ``out/examples.errors.jsonl``), so two runs into one folder keep both lists.

Writing is crash-safe: lines go to ``<output>.partial`` in the output folder, flushed after each
buffer; at the end the file is renamed to the output. ``resume=True`` keeps the complete lines
of an existing partial file, skips that many input records and goes on, so a killed run ends
with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msc_nlp.document import Span
from msc_nlp.errors import MscNlpError
from msc_nlp.jsonl import check_output_path, dumps, write_atomic
from msc_nlp.readers import ERROR, OK, Record

log = logging.getLogger(__name__)

ROUTINE_SKIPS = ("deleted", "superseded", "no_abstract", "other_abstract_only")
"""Skip codes that PubMed files produce in normal use; they are counted but not shown as problems."""
EXAMPLES_PER_STATUS = 3


@dataclass
class TagSummary:
    """Counts of a tagging run; ``ok + errors + sum(skipped) == total``.

    Attributes:
        total: records in the output.
        ok: records tagged.
        errors: records that could not be read or tagged.
        skipped: skip code -> count (``no_abstract``, ``deleted``, ``superseded`` ...).
        entities: label -> number of entities emitted.
        resumed: records taken over from an earlier, interrupted run.
        examples: status -> the first few ``source: reason`` lines of records with that status
            (errors and problem skips; routine PubMed skips such as ``superseded`` are left out).
    """

    total: int = 0
    ok: int = 0
    errors: int = 0
    skipped: Counter = field(default_factory=Counter)
    entities: Counter = field(default_factory=Counter)
    resumed: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, output: dict[str, Any]) -> None:
        """Count one output record."""
        self.total += 1
        status = output["status"]
        if status not in (OK, *ROUTINE_SKIPS):
            shown = self.examples.setdefault(status, [])
            if len(shown) < EXAMPLES_PER_STATUS:
                shown.append(f"{output.get('source')}: {output.get('reason')}")
        if status == OK:
            self.ok += 1
            self.entities.update(entity["label"] for entity in output["entities"])
        elif status == ERROR:
            self.errors += 1
        else:
            self.skipped[status] += 1

    @property
    def balanced(self) -> bool:
        """True when every record is counted exactly once."""
        return self.ok + self.errors + sum(self.skipped.values()) == self.total


def output_record(record: Record, spans: list[Span], model_id: str) -> dict[str, Any]:
    """The output object of one record (entity texts sliced from the record's text)."""
    entities = [{"start": s.start, "end": s.end, "label": s.label, "text": record.text[s.start : s.end],
                 "score": s.score} for s in spans]
    result: dict[str, Any] = {"id": record.id, "text": record.text, "entities": entities,
                              "status": record.status, "model": model_id}
    result.update(record.extra)
    if record.status != OK:
        result["reason"] = record.reason
        result["source"] = record.source
    return result


def tagged(records: Iterable[Record], tagger, buffer_size: int = 256) -> Iterator[list[tuple[Record, list[Span]]]]:
    """Tag ``ok`` records in bounded buffers; yield each buffer's records, in input order, with spans."""
    buffer: list[Record] = []

    def flush() -> list[tuple[Record, list[Span]]]:
        todo = [r for r in buffer if r.status == OK]
        predictions = iter(tagger.predict([r.text for r in todo]))
        return [(record, next(predictions) if record.status == OK else []) for record in buffer]

    for record in records:
        buffer.append(record)
        if len(buffer) >= buffer_size:
            yield flush()
            buffer = []
    if buffer:
        yield flush()


def _complete_lines(partial: Path) -> list[str]:
    """Complete JSON lines of a partial output; a torn last line is dropped."""
    data = partial.read_bytes()
    cut = data.rfind(b"\n") + 1
    lines = data[:cut].decode("utf-8").splitlines()
    good = []
    for line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            break
        good.append(line)
    return good


def errors_path_for(output: Path) -> Path:
    """The error list that belongs to an output: ``run.jsonl`` -> ``run.errors.jsonl`` in the same folder."""
    return output.with_name(f"{output.stem}.errors.jsonl" if output.suffix == ".jsonl" else f"{output.name}.errors.jsonl")


def tag_records(records: Iterable[Record], tagger, output: Path, errors_path: Path | None = None,
                buffer_size: int = 256, progress: bool = False, resume: bool = False) -> TagSummary:
    """Tag records and write the output JSONL (and ``errors.jsonl``).

    Args:
        records: input records (see ``msc_nlp.inputs.iter_records``); must be the same, in the same
            order, when resuming.
        tagger: a ``predict.Tagger``.
        output: output JSONL path.
        errors_path: where to list error records (default: ``errors_path_for(output)``). The list
            is made from the whole output, so after ``resume`` it holds the errors of the interrupted
            part and of the rest.
        buffer_size: records per length-sorted buffer (bounds memory).
        progress: show a progress bar with records per second.
        resume: continue from ``<output>.partial`` left by an interrupted run.

    Returns:
        The run's counts.

    Raises:
        MscNlpError: when resuming and the partial output does not match the inputs.
    """
    from tqdm.auto import tqdm

    output = Path(output)
    check_output_path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    errors_path = errors_path or errors_path_for(output)
    summary = TagSummary()
    kept: list[str] = _complete_lines(partial) if resume and partial.exists() else []
    records = iter(records)
    for number, line in enumerate(kept, start=1):
        record = next(records, None)
        expected = json.loads(line)["id"]
        if record is None or record.id != expected:
            raise MscNlpError(f"{partial}: line {number} is record {expected!r} but the inputs give "
                              f"{None if record is None else record.id!r} there; the partial output is from other "
                              "inputs: delete it or run without --resume")
    summary.resumed = len(kept)
    with open(partial, "w", encoding="utf-8") as handle:
        for line in kept:
            handle.write(line + "\n")
        handle.flush()
        bar = tqdm(disable=not progress, unit=" abstracts", desc="tagging", initial=len(kept))
        for batch in tagged(records, tagger, buffer_size):
            handle.write("".join(dumps(output_record(r, s, tagger.model_id)) + "\n" for r, s in batch))
            handle.flush()
            bar.update(len(batch))
        bar.close()
        os.fsync(handle.fileno())
    error_lines = []
    with open(partial, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            summary.add(record)
            if record["status"] == ERROR:
                error_lines.append(dumps({"id": record["id"], "source": record.get("source"),
                                          "reason": record.get("reason")}))
    write_atomic(errors_path, error_lines)
    os.replace(partial, output)
    return summary
