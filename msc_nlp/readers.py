"""Input records for tagging: JSONL and plain-text readers (PubMed readers live in ``msc_nlp.pubmed``).

Every input record ends as a ``Record`` whose ``status`` is ``ok``, ``error`` or a skip reason,
so that nothing read is lost silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
ERROR = "error"


@dataclass
class Record:
    """One input document to tag.

    Attributes:
        id: identifier (PMID, the JSONL ``id``, or the file stem for text files).
        text: the text to tag (title, blank line, abstract when a title is known).
        source: where it was read: ``file:line``, ``file`` or ``file#PMID``.
        status: ``ok``, ``error`` or a skip code such as ``no_abstract`` or ``deleted``.
        reason: why the record is not ``ok``.
        extra: format-specific fields copied to the output (``pmid``, ``version``, ``title``, ``sections``).
    """

    id: str
    text: str
    source: str
    status: str = OK
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def read_jsonl_records(path: Path) -> Iterator[Record]:
    """Records from a JSONL file of ``{"id", "text"}`` objects (optional ``"title"``).

    With a title, the text tagged is ``title + "\\n\\n" + text``. A line that is not valid JSON,
    or lacks ``text``, becomes an ``error`` record naming the line; reading goes on.
    """
    with open(path, encoding="utf-8", errors="strict") as handle:
        number = 0
        while True:
            try:
                line = handle.readline()
            except UnicodeDecodeError as error:
                yield Record(f"{path.name}:{number + 1}", "", f"{path}:{number + 1}", ERROR,
                             f"not UTF-8 ({error.reason}); the rest of the file cannot be read")
                return
            if not line:
                return
            number += 1
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                yield Record(f"{path.name}:{number}", "", where, ERROR, f"not valid JSON ({error.msg}, column {error.colno})")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                yield Record(f"{path.name}:{number}", "", where, ERROR, 'expected an object with a string "text"')
                continue
            doc_id = str(data.get("id", f"{path.name}:{number}"))
            title = data.get("title")
            text = f"{title}\n\n{data['text']}" if isinstance(title, str) and title else data["text"]
            extra = {"title": title} if isinstance(title, str) and title else {}
            yield Record(doc_id, text, where, extra=extra)


def read_text_record(path: Path) -> Iterator[Record]:
    """One record for a UTF-8 text file: the whole file (first line the title by convention)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        yield Record(path.stem, "", f"{path}", ERROR, f"not UTF-8 at byte {error.start} ({error.reason})")
        return
    yield Record(path.stem, text, str(path))
