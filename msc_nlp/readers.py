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
EMPTY = "empty"
"""Skip code: the document has no text to tag (an empty file, a whitespace-only JSONL text)."""
BINARY = "binary"
"""Skip code: the file is not text (a PDF, an image, an archive other than gzip)."""
NOT_ENGLISH = "not_english"
"""Skip code: the text is not in English; the model was trained on English abstracts only."""

ENGLISH_FUNCTION_WORDS = frozenset(
    "the of and in to with was were a for by on or at from is as that after than this be are an".split())


def language_problem(text: str) -> str | None:
    """Say why ``text`` does not look like English, or return None when it does (or is too short to tell).

    A cheap check, no model: most letters must be Latin (Chinese, Cyrillic or Arabic text fails),
    and a text of 30 Latin words or more must contain common English function words (Spanish,
    German or French text fails). Greek letters and symbols of an English abstract pass.
    """
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < 40:
        return None
    latin = sum(1 for ch in letters if ch.isascii() or "\u00c0" <= ch <= "\u024f")
    if latin / len(letters) < 0.7:
        return f"only {latin / len(letters):.0%} of its letters are Latin; the model reads English abstracts only"
    words = [w.lower() for w in text.split() if w.isalpha() and w.isascii()]
    if len(words) >= 30:
        share = sum(1 for w in words if w in ENGLISH_FUNCTION_WORDS) / len(words)
        if share < 0.06:
            return (f"only {share:.0%} of its words are common English function words; "
                    "the model reads English abstracts only")
    return None


def screen(record: Record) -> Record:
    """Give an ``ok`` record with nothing to tag, or text in another language, its own skip code."""
    if record.status != OK:
        return record
    if not record.text.strip():
        return Record(record.id, record.text, record.source, EMPTY, "the document has no text", record.extra)
    problem = language_problem(record.text)
    if problem:
        return Record(record.id, record.text, record.source, NOT_ENGLISH, problem, record.extra)
    return record


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
