"""Finding input records in files and folders, by format detected from content or given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from msc_nlp.errors import InputError
from msc_nlp.pubmed import iter_medline, iter_pubmed, open_maybe_gzip, unreadable_reason
from msc_nlp.readers import BINARY, ERROR, Record, read_jsonl_records, read_text_record, screen

FORMATS = ("jsonl", "text", "pubmed", "medline")
BINARY_SIGNATURES = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\xd0\xcf\x11\xe0")


def looks_binary(head: bytes) -> bool:
    """True for the first bytes of a file that is not text: a known binary signature or NUL bytes."""
    return head.startswith(BINARY_SIGNATURES) or b"\x00" in head[:1024]


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
    """Guess a file's format from its first bytes (gzip is looked through).

    ``binary`` for a file that is not text (PDF, image, NUL bytes); ``pubmed`` for XML whose root
    is ``PubmedArticleSet`` (or any XML declaration), ``medline`` when the first field is ``PMID-``, ``jsonl`` when it starts with ``{``, else ``text``.

    Raises:
        OSError, EOFError: when the first bytes cannot be read (a truncated gzip stream, say).
    """
    with open_maybe_gzip(path) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if looks_binary(head):
        return BINARY
    if head.startswith(b"<?xml") or head.startswith(b"<!DOCTYPE PubmedArticleSet") or head.startswith(b"<Pubmed"):
        return "pubmed"
    if head.startswith(b"PMID-"):
        return "medline"
    return "jsonl" if head.startswith(b"{") else "text"


def iter_records(paths: list[Path], fmt: str = "auto") -> Iterator[Record]:
    """Records from every input: other formats file by file in the order given (folders sorted),
    then all PubMed XML files together, in sorted name order, so that repeated and deleted PMIDs
    resolve the same way whatever order the files were given in."""
    pubmed_files = []
    for path in expand_paths(paths):
        try:
            kind = detect_format(path) if fmt == "auto" else fmt
        except (OSError, EOFError) as error:
            yield Record(path.name, "", str(path), ERROR, unreadable_reason(path, error))
            continue
        if kind == BINARY:
            yield Record(path.name, "", str(path), BINARY,
                         "not a text file (binary content such as a PDF); convert it to text or PubMed XML first")
        elif kind == "pubmed":
            pubmed_files.append(path)
        elif kind == "medline":
            yield from map(screen, iter_medline(path))
        elif kind == "jsonl":
            yield from map(screen, read_jsonl_records(path))
        elif kind == "text":
            yield from map(screen, read_text_record(path))
        else:
            raise InputError(str(path), "format", f"unknown format {kind!r}; use one of {', '.join(FORMATS)}")
    if pubmed_files:
        yield from map(screen, iter_pubmed(pubmed_files))
