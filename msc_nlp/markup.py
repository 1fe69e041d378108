"""The corpus authoring format: inline markup that converts to canonical character spans.

Authors write documents in ``annotations/src/*.txt``. Each document starts with a header line::

    ### <id> | <group> | <study_type>

followed by the title on one line, a blank line and the abstract (which may span several
lines). Entities are marked inline as ``[[span text|LABEL]]``. Converting removes the markup and
records each span as half-open Python code-point offsets ``[start, end)`` over the plain text.
The canonical JSONL files are produced from these sources (``msc-nlp annotations build``) and
CI checks that both agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from msc_nlp.schema import ENTITY_TYPES, STUDY_TYPES

HEADER_PREFIX = "### "
MARK_RE = re.compile(r"\[\[((?:(?!\[\[|\]\]).)+?)\|(" + "|".join(ENTITY_TYPES) + r")\]\]", re.S)


class MarkupError(ValueError):
    """A source document cannot be converted; the message names file, line and document."""


@dataclass
class MarkedDocument:
    """One document read from an authoring file.

    Attributes:
        id: document id, unique in the corpus.
        group: the study the abstract is about (a trial id from trial-facts.md or an invented id).
        study_type: one of ``schema.STUDY_TYPES``.
        text: plain text (title, blank line, abstract) with the markup removed.
        spans: ``(start, end, label)`` tuples, code-point offsets into ``text``, end exclusive.
        source: ``path:line`` of the header line, for messages.
        meta: further ``key=value`` fields from the header.
    """

    id: str
    group: str
    study_type: str
    text: str
    spans: list[tuple[int, int, str]]
    source: str
    meta: dict[str, str] = field(default_factory=dict)


def strip_markup(marked: str, where: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Remove ``[[text|LABEL]]`` marks and return the plain text with its spans.

    Args:
        marked: text with inline marks.
        where: ``path:line`` used in error messages.

    Returns:
        The plain text and a list of ``(start, end, label)`` code-point offsets, end exclusive.

    Raises:
        MarkupError: on a mark that is not closed, has an unknown label, or is nested.
    """
    pieces: list[str] = []
    spans: list[tuple[int, int, str]] = []
    length = 0
    last = 0
    for match in MARK_RE.finditer(marked):
        pieces.append(marked[last : match.start()])
        length += match.start() - last
        inner, label = match.group(1), match.group(2)
        spans.append((length, length + len(inner), label))
        pieces.append(inner)
        length += len(inner)
        last = match.end()
    pieces.append(marked[last:])
    text = "".join(pieces)
    for token in ("[[", "]]"):
        position = text.find(token)
        if position >= 0:
            snippet = text[max(0, position - 30) : position + 30].replace("\n", " ")
            raise MarkupError(
                f"{where}: stray {token!r} left after removing marks near '{snippet}'; "
                f"write marks as [[span text|LABEL]] with LABEL one of {', '.join(ENTITY_TYPES)}"
            )
    return text, spans


def read_marked_file(path: Path) -> list[MarkedDocument]:
    """Read every document of one authoring file.

    Raises:
        MarkupError: with ``path:line`` for a malformed header, text layout or mark.
    """
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    documents: list[MarkedDocument] = []
    header: tuple[int, str] | None = None
    body: list[str] = []

    def flush() -> None:
        if header is not None:
            documents.append(_parse_document(path, header[0], header[1], body))

    for number, line in enumerate(lines, start=1):
        if line.startswith(HEADER_PREFIX):
            flush()
            header, body = (number, line), []
        elif header is None:
            if line.strip():
                raise MarkupError(f"{path}:{number}: text before the first '### id | group | type' header")
        else:
            body.append(line)
    flush()
    return documents


def _parse_document(path: Path, line_number: int, header_line: str, body: list[str]) -> MarkedDocument:
    where = f"{path}:{line_number}"
    fields = [part.strip() for part in header_line[len(HEADER_PREFIX) :].split("|")]
    if len(fields) < 3 or not all(fields[:3]):
        raise MarkupError(f"{where}: header must be '### <id> | <group> | <study_type>', got {header_line!r}")
    doc_id, group, study_type = fields[:3]
    if study_type not in STUDY_TYPES:
        raise MarkupError(f"{where}: study_type {study_type!r} is not one of {', '.join(STUDY_TYPES)}")
    meta: dict[str, str] = {}
    for extra in fields[3:]:
        key, sep, value = extra.partition("=")
        if not sep:
            raise MarkupError(f"{where}: extra header field {extra!r} must be key=value")
        meta[key.strip()] = value.strip()
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    body = [line.rstrip() for line in body]
    if len(body) < 3 or body[1] != "" or not body[0].strip() or not body[2].strip():
        raise MarkupError(f"{where}: document {doc_id!r} must be a title line, a blank line, then the abstract")
    text, spans = strip_markup("\n".join(body), f"{where} (document {doc_id})")
    return MarkedDocument(doc_id, group, study_type, text, spans, where, meta)


def main(argv: list[str] | None = None) -> int:
    """Quick check for authors: ``python -m msc_nlp.markup FILE...`` prints problems per document."""
    import sys

    from msc_nlp.schema import edge_problem

    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    problems = 0
    for path in paths:
        try:
            documents = read_marked_file(path)
        except MarkupError as error:
            print(f"ERROR {error}")
            problems += 1
            continue
        for doc in documents:
            words = len(doc.text.split("\n", 2)[-1].split())
            if not 120 <= words <= 400:
                print(f"WARN  {doc.source} {doc.id}: abstract has {words} words (want 120-400)")
            ordered = sorted(doc.spans)
            for (s1, e1, l1), (s2, e2, l2) in zip(ordered, ordered[1:]):
                if s2 < e1:
                    print(f"ERROR {doc.source} {doc.id}: overlapping spans {doc.text[s1:e1]!r} and {doc.text[s2:e2]!r}")
                    problems += 1
            labelled: dict[str, str] = {}
            for start, end, label in doc.spans:
                surface = doc.text[start:end]
                reason = edge_problem(surface)
                if reason:
                    print(f"ERROR {doc.source} {doc.id}: span {surface!r} {reason}")
                    problems += 1
                labelled.setdefault(surface, label)
            covered = [False] * len(doc.text)
            for start, end, _ in doc.spans:
                covered[start:end] = [True] * (end - start)
            for surface, label in labelled.items():
                pattern = re.compile(r"(?<![\w-])" + re.escape(surface) + r"(?![\w-])")
                for match in pattern.finditer(doc.text):
                    if not any(covered[match.start() : match.end()]):
                        print(f"WARN  {doc.source} {doc.id}: {surface!r} labelled {label} elsewhere "
                              f"but not at offset {match.start()}")
        print(f"{path}: {len(documents)} documents")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
