"""Finding input records in files and folders, by format detected from content or given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from msc_nlp.errors import InputError
from msc_nlp.readers import Record, read_jsonl_records, read_text_record

FORMATS = ("jsonl", "text")


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named, plus the files inside named folders (sorted, hidden files skipped)."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            files.append(path)
        else:
            raise InputError(str(path), "path", "no such file or folder")
    return files


def detect_format(path: Path) -> str:
    """Guess a file's format from its first bytes: ``jsonl`` when it starts with ``{``, else ``text``."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "text"


def iter_records(paths: list[Path], fmt: str = "auto") -> Iterator[Record]:
    """Records from every input, file by file in the order given (folders sorted)."""
    for path in expand_paths(paths):
        kind = detect_format(path) if fmt == "auto" else fmt
        if kind == "jsonl":
            yield from read_jsonl_records(path)
        elif kind == "text":
            yield from read_text_record(path)
        else:
            raise InputError(str(path), "format", f"unknown format {kind!r}; use one of {', '.join(FORMATS)}")
