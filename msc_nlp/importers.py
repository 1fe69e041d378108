"""Importing annotations made with other tools into canonical documents for retraining.

Each tool counts offsets its own way; they are converted once, here, to Python code points (end
exclusive), and every span is checked against the text it claims to cover:

- **BRAT** standoff (``.txt`` + ``.ann``): code points into the ``.txt`` file as stored. The text
  is read without newline translation, so files with CRLF line ends keep their offsets.
- **Label Studio** JSON export: offsets count UTF-16 code units (JavaScript string indices);
  characters outside the Basic Multilingual Plane count twice there.
- **Prodigy** JSONL: ``start``/``end`` are code points, end exclusive (``token_end`` is inclusive
  and is not used).

A span whose text does not match, that is discontinuous, or whose label is not in the schema
(after ``label_map``) is an ``InputError`` naming the file and line or task; nothing is written
for a file that has one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from msc_nlp.document import Document, Span
from msc_nlp.errors import InputError
from msc_nlp.jsonl import iter_jsonl
from msc_nlp.schema import ENTITY_TYPES

FORMATS = ("brat", "labelstudio", "prodigy")


def _label(raw: str, label_map: dict[str, str], path: Path, where: str) -> str:
    label = label_map.get(raw, raw)
    if label not in ENTITY_TYPES:
        raise InputError(str(path), where, f"label {raw!r} is not one of {', '.join(ENTITY_TYPES)}; "
                         "map it with --label-map FROM=TO")
    return label


def _checked(document: Document, path: Path, where: str) -> Document:
    document.spans.sort()
    problems = document.span_problems()
    if problems:
        raise InputError(str(path), where, f"document {document.id}: {problems[0]}")
    return document


def _expect(text: str, start: int, end: int, mention: str | None, path: Path, where: str) -> None:
    if not 0 <= start < end <= len(text):
        raise InputError(str(path), where, f"offsets [{start}, {end}) outside a text of {len(text)} characters")
    if mention is not None and text[start:end] != mention:
        raise InputError(str(path), where, f"offsets [{start}, {end}) cover {text[start:end]!r}, not {mention!r}; "
                         "check the tool's offset convention")


def read_brat(ann_path: Path, label_map: dict[str, str] | None = None) -> Document:
    """One document from a BRAT ``.ann`` file and the ``.txt`` beside it (text-bound ``T`` lines only)."""
    label_map = label_map or {}
    txt_path = ann_path.with_suffix(".txt")
    with open(txt_path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    spans = []
    with open(ann_path, encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.startswith("T"):
                continue
            where = f"line {number}"
            try:
                _, middle, mention = line.split("\t", 2)
                raw_label, positions = middle.split(" ", 1)
            except ValueError:
                raise InputError(str(ann_path), where, "expected 'T<n>\\tLABEL START END\\tTEXT'") from None
            if ";" in positions:
                raise InputError(str(ann_path), where, "discontinuous span; msc_nlp spans are contiguous")
            start, end = (int(p) for p in positions.split())
            _expect(text, start, end, mention, ann_path, where)
            spans.append(Span(start, end, _label(raw_label, label_map, ann_path, where)))
    return _checked(Document(ann_path.stem, text, spans, {"source": "brat"}), ann_path, "document")


def utf16_to_codepoints(text: str) -> list[int]:
    """Map each UTF-16 offset (0 .. length in UTF-16 units) to a code-point offset."""
    mapping = []
    for index, char in enumerate(text):
        mapping.append(index)
        if ord(char) > 0xFFFF:
            mapping.append(index)  # the second unit of a surrogate pair
    mapping.append(len(text))
    return mapping


def read_label_studio(path: Path, label_map: dict[str, str] | None = None, text_key: str = "text") -> Iterator[Document]:
    """Documents from a Label Studio JSON export (a list of tasks with ``labels`` results)."""
    label_map = label_map or {}
    tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(tasks, list):
        raise InputError(str(path), "top level", "expected the JSON list of tasks that Label Studio exports")
    for number, task in enumerate(tasks, start=1):
        where = f"task {number} (id {task.get('id')})"
        text = task.get("data", {}).get(text_key)
        if not isinstance(text, str):
            raise InputError(str(path), where, f"no string data.{text_key}")
        mapping = utf16_to_codepoints(text)
        spans = []
        annotations = task.get("annotations") or []
        for result in (annotations[0].get("result", []) if annotations else []):
            value = result.get("value", {})
            if "labels" not in value:
                continue
            start, end = mapping[value["start"]], mapping[value["end"]]
            _expect(text, start, end, value.get("text"), path, where)
            for raw in value["labels"]:
                spans.append(Span(start, end, _label(raw, label_map, path, where)))
        yield _checked(Document(str(task.get("id", number)), text, spans, {"source": "labelstudio"}), path, where)


def read_prodigy(path: Path, label_map: dict[str, str] | None = None) -> Iterator[Document]:
    """Documents from a Prodigy JSONL export (accepted answers only)."""
    label_map = label_map or {}
    for number, record in iter_jsonl(path):
        if record.get("answer", "accept") != "accept":
            continue
        where = f"line {number}"
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(str(path), where, 'no string "text"')
        spans = []
        for span in record.get("spans", []):
            _expect(text, span["start"], span["end"], span.get("text"), path, where)
            spans.append(Span(span["start"], span["end"], _label(span["label"], label_map, path, where)))
        doc_id = str(record.get("meta", {}).get("id", record.get("_input_hash", f"{Path(path).stem}:{number}")))
        yield _checked(Document(doc_id, text, spans, {"source": "prodigy"}), path, where)


def import_documents(fmt: str, paths: list[Path], label_map: dict[str, str] | None = None) -> list[Document]:
    """All documents of the given files in one of ``FORMATS`` (for BRAT, ``.ann`` files or folders)."""
    documents: list[Document] = []
    for path in paths:
        if fmt == "brat":
            files = sorted(path.glob("*.ann")) if path.is_dir() else [path]
            documents += [read_brat(p, label_map) for p in files]
        elif fmt == "labelstudio":
            documents += list(read_label_studio(path, label_map))
        elif fmt == "prodigy":
            documents += list(read_prodigy(path, label_map))
        else:
            raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return documents
