"""PubMed readers: PubMed XML (efetch output, annual baseline and update files, ``.xml``/``.xml.gz``)
and MEDLINE text, streamed record by record.

Text of a record: the title, a blank line, then the abstract; each ``AbstractText`` section is
one line, labelled sections starting ``LABEL: ``. Inline markup keeps all its text: ``<sup>``
becomes ``^`` plus its text (``10<sup>6</sup>`` -> ``10^6``), ``<sub>``, ``<b>``, ``<i>``, ``<u>``
keep their text, MathML is flattened in document order (``msup`` -> ``base^exponent``).
Section offsets are code points into the text, end exclusive.

A PMID found in several files resolves deterministically: files are read in sorted name order
and the last occurrence wins (earlier ones are ``superseded``); a ``DeleteCitation`` in a later
file marks earlier occurrences ``deleted``. The parser never fetches anything: lxml runs with
``resolve_entities=False, no_network=True, load_dtd=False``.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from msc_nlp.readers import ERROR, Record

log = logging.getLogger(__name__)

NO_ABSTRACT = "no_abstract"
OTHER_ABSTRACT_ONLY = "other_abstract_only"
DELETED = "deleted"
SUPERSEDED = "superseded"
MATHML = "{http://www.w3.org/1998/Math/MathML}"
PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}


def open_maybe_gzip(path: Path):
    """Open a file for binary reading, decompressing when it starts with the gzip magic bytes."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def unreadable_reason(path: Path, error: Exception) -> str:
    """Say why a file could not be read, with the byte offset where reading stopped.

    For a gzip file the offset is the compressed size: the stream ends there before its end
    marker (a truncated download, say).
    """
    size = path.stat().st_size
    if isinstance(error, EOFError) or "gzip" in type(error).__name__.lower() or "CRC" in str(error):
        return (f"cannot read file: the gzip stream ends early or is damaged at byte {size} of the compressed "
                f"file ({error}); download it again")
    return f"cannot read file at byte {size}: {error}"


def _local(tag) -> str:
    return tag.split("}", 1)[-1] if isinstance(tag, str) else ""


def flatten(element) -> str:
    """All text of an element with inline markup rendered as plain text (see module docstring)."""
    parts: list[str] = []
    _flatten_into(element, parts, top=True)
    return "".join(parts)


def _flatten_into(element, parts: list[str], top: bool = False) -> None:
    name = _local(element.tag)
    if not top and name == "sup":
        parts.append("^")
    if name == "msup" and len(element) == 2:
        _flatten_into(element[0], parts)
        parts.append("^")
        _flatten_into(element[1], parts)
    elif name == "msub" and len(element) == 2:
        _flatten_into(element[0], parts)
        _flatten_into(element[1], parts)
    else:
        if element.text:
            parts.append(element.text)
        for child in element:
            if isinstance(child.tag, str):
                _flatten_into(child, parts)
            if child.tail:
                parts.append(child.tail)


def _clean(text: str) -> str:
    return " ".join(text.split())


@dataclass
class _Article:
    pmid: str
    version: str | None
    title: str
    sections: list[tuple[str | None, str | None, str]]
    other_abstract: bool


def _parse_article(element) -> _Article:
    citation = element.find("MedlineCitation")
    if citation is None:
        citation = element.find("BookDocument")
    pmid_element = citation.find("PMID") if citation is not None else None
    if pmid_element is None or not (pmid_element.text or "").strip():
        raise ValueError("record has no PMID")
    article = citation.find("Article") if citation is not None else None
    title_element = None
    abstract = None
    if article is not None:
        title_element = article.find("ArticleTitle")
        abstract = article.find("Abstract")
    else:
        title_element = citation.find("ArticleTitle") or citation.find("Book/BookTitle")
        abstract = citation.find("Abstract")
    title = _clean(flatten(title_element)) if title_element is not None else ""
    sections = []
    if abstract is not None:
        for part in abstract.findall("AbstractText"):
            text = _clean(flatten(part))
            if text:
                sections.append((part.get("Label"), part.get("NlmCategory"), text))
    other = citation is not None and citation.find("OtherAbstract") is not None
    return _Article(pmid_element.text.strip(), pmid_element.get("Version"), title, sections, other)


def _record(article: _Article, source: str) -> Record:
    lines = []
    section_info = []
    position = len(article.title) + 2
    for label, category, text in article.sections:
        line = f"{label}: {text}" if label else text
        section_info.append({"label": label, "nlm_category": category, "start": position, "end": position + len(line)})
        lines.append(line)
        position += len(line) + 1
    abstract = "\n".join(lines)
    extra = {"pmid": article.pmid, "version": article.version, "title": article.title, "sections": section_info}
    if not abstract:
        status = OTHER_ABSTRACT_ONLY if article.other_abstract else NO_ABSTRACT
        reason = "only an OtherAbstract (not tagged)" if article.other_abstract else "the record has no abstract"
        return Record(article.pmid, article.title, source, status, reason, extra)
    return Record(article.pmid, f"{article.title}\n\n{abstract}", source, extra=extra)


RECORD_END = re.compile(rb"</(?:PubmedArticle|PubmedBookArticle|DeleteCitation)\s*>")
READ_SIZE = 1 << 16


def _events(path: Path):
    """``(event, element)`` pairs for each record of one file, fed to the parser record by record.

    The bytes are cut after each record's end tag and fed to a pull parser one record at a time,
    and a record's event is handed out before the next record's bytes are fed. A syntax error
    later in the file therefore cannot take back a record that precedes it, however far ahead the
    installed libxml2 buffers (lxml 6.2 raises from ``iterparse`` before yielding the record in
    front of the damage; 6.1 did not).
    """
    parser = etree.XMLPullParser(events=("end",), tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
                                 **PARSER_OPTIONS)
    with open_maybe_gzip(path) as handle:
        pending = b""
        while chunk := handle.read(READ_SIZE):
            searched_from = max(0, len(pending) - 32)
            pending += chunk
            fed = 0
            for match in RECORD_END.finditer(pending, searched_from):
                parser.feed(pending[fed : match.end()])
                fed = match.end()
                yield from parser.read_events()
            pending = pending[fed:]
        if pending:
            parser.feed(pending)
        parser.close()
        yield from parser.read_events()


def _release(element) -> None:
    element.clear(keep_tail=True)
    parent = element.getparent()
    while element.getprevious() is not None and parent is not None:
        del parent[0]


def iter_file(path: Path) -> Iterator[tuple[str, Record | None, list[str]]]:
    """Raw events of one PubMed XML file: ``("article", record, [])``, ``("delete", None, pmids)``,
    or ``("error", record, [])`` for a record or a file that cannot be parsed (reading stops at a
    syntax error; everything before it has been yielded)."""
    index = 0
    try:
        for _, element in _events(path):
            index += 1
            name = element.tag
            if name == "DeleteCitation":
                yield "delete", None, [p.text.strip() for p in element.findall("PMID") if p.text]
            else:
                try:
                    article = _parse_article(element)
                    yield "article", _record(article, f"{path}#{article.pmid}"), []
                except ValueError as error:
                    line = element.sourceline
                    yield "error", Record(f"{path.name}:{line}", "", f"{path}:{line}", ERROR,
                                          f"record {index} at line {line}: {error}"), []
            _release(element)
    except etree.XMLSyntaxError as error:
        line = error.lineno
        yield "error", Record(f"{path.name}:{line}", "", f"{path}:{line}", ERROR,
                              f"XML syntax error at line {line}, column {error.offset}: {error.msg}; "
                              "records after this point could not be read"), []
    except (OSError, EOFError) as error:
        yield "error", Record(path.name, "", str(path), ERROR, unreadable_reason(path, error)), []


def iter_pubmed(paths: list[Path]) -> Iterator[Record]:
    """Records of several PubMed XML files, resolving repeated and deleted PMIDs (last file wins).

    Files are processed in sorted name order whatever order they were given in. Two passes: the
    first finds where each PMID last occurs and which are deleted, the second emits records.
    """
    files = sorted(paths, key=lambda p: (p.name, str(p)))
    last_seen: dict[str, tuple[int, int]] = {}
    for file_index, path in enumerate(files):
        position = 0
        for kind, record, pmids in iter_file(path):
            position += 1
            if kind == "article":
                last_seen[record.id] = (file_index, position)
            elif kind == "delete":
                for pmid in pmids:
                    last_seen[pmid] = (file_index, -position)
    for file_index, path in enumerate(files):
        position = 0
        for kind, record, pmids in iter_file(path):
            position += 1
            if kind == "delete":
                for pmid in pmids:
                    yield Record(pmid, "", f"{path}#{pmid}", DELETED, f"DeleteCitation in {path.name}", {"pmid": pmid})
                continue
            if kind == "article":
                final = last_seen.get(record.id)
                if final is not None and final != (file_index, position):
                    where = files[final[0]].name
                    if final[1] < 0:
                        record = Record(record.id, record.text, record.source, DELETED,
                                        f"deleted by DeleteCitation in {where}", record.extra)
                    else:
                        record = Record(record.id, record.text, record.source, SUPERSEDED,
                                        f"a later version is in {where}", record.extra)
            yield record


def iter_medline(path: Path) -> Iterator[Record]:
    """Records of a MEDLINE text file (``PMID- ``, ``TI  - ``, ``AB  - `` fields, blank-line separated)."""
    fields: dict[str, str] = {}
    current = None
    start_line = 1

    def emit() -> Record | None:
        if not fields:
            return None
        pmid = fields.get("PMID", "").strip()
        title = _clean(fields.get("TI", ""))
        abstract = _clean(fields.get("AB", ""))
        if not pmid:
            return Record(f"{path.name}:{start_line}", "", f"{path}:{start_line}", ERROR, "MEDLINE record without PMID")
        extra = {"pmid": pmid, "version": None, "title": title, "sections": []}
        if not abstract:
            return Record(pmid, title, f"{path}:{start_line}", NO_ABSTRACT, "the record has no abstract", extra)
        text = f"{title}\n\n{abstract}"
        extra["sections"] = [{"label": None, "nlm_category": None, "start": len(title) + 2, "end": len(text)}]
        return Record(pmid, text, f"{path}:{start_line}", extra=extra)

    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                record = emit()
                if record:
                    yield record
                fields, current = {}, None
                start_line = number + 1
                continue
            if line.startswith("      ") and current:
                fields[current] += " " + line.strip()
            elif len(line) >= 5 and line[4] == "-":
                current = line[:4].strip()
                value = line[5:].strip()
                fields[current] = fields[current] + " " + value if current in fields and current in ("AB", "TI") else value
            else:
                if not fields:
                    start_line = number
                current = None
    record = emit()
    if record:
        yield record
