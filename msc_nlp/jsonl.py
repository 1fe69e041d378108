"""Line-oriented JSON reading and atomic writing."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from msc_nlp.errors import InputError, MscNlpError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSONL file.

    Raises:
        InputError: naming the file and line of the first line that is not a JSON object.
    """
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(str(path), f"line {number}", f"not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise InputError(str(path), f"line {number}", "each line must be a JSON object")
            yield number, record


def dumps(record: dict[str, Any]) -> str:
    """Serialise one record as a single JSON line (UTF-8 kept, key order kept)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def check_output_path(path: str | Path) -> None:
    """Refuse an output path that exists and is not a regular file (a device, a folder, a pipe).

    Outputs are written to a temporary file and renamed over the target; a rename over
    ``/dev/null`` by a privileged user would replace the device with a regular file.

    Raises:
        MscNlpError: naming the path.
    """
    path = Path(path)
    if path.exists() and not path.is_file():
        raise MscNlpError(f"{path}: exists and is not a regular file; msc-nlp writes its output by renaming a "
                          "finished file over the target, so give the path of a new or ordinary file")


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A handle on a temporary file in ``path``'s folder, renamed to ``path`` when the block ends.

    The file appears whole or not at all: on an exception the temporary file is removed.

    Args:
        path: the final file.
        mode: ``"w"`` (UTF-8 text) or ``"wb"``.
    """
    path = Path(path)
    check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = None if "b" in mode else "utf-8"
    handle = tempfile.NamedTemporaryFile(mode, encoding=encoding, dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # temporary files are private; outputs are not
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, lines: Iterable[str]) -> None:
    """Write lines (each followed by a newline) to ``path`` through ``atomic_file``."""
    with atomic_file(path) as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
