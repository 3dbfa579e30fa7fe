"""Reading JSON files and JSONL (plain or gzipped) with errors that name the file and line."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, Any, Iterator

from moe_coder.validation import check_input_file, not_utf8, read_text


def open_text(path: Path) -> IO[str]:
    """Open a ``.jsonl`` or ``.jsonl.gz`` file for reading text."""
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else path.open(encoding="utf-8")


def iter_jsonl(path: str | Path, required: tuple[str, ...] = (), what: str = "input file") -> Iterator[tuple[str, dict]]:
    """Yield ``("file:line", record)`` for each non-blank line.

    A missing file, a directory, text that is not UTF-8, a malformed line, a line that is not a
    JSON object, or a record lacking one of ``required`` is an error naming the file (and line).
    """
    path = check_input_file(path, what)
    with open_text(path) as fh:
        number = 0
        while True:
            number += 1
            try:
                line = fh.readline()
            except UnicodeDecodeError as exc:
                raise not_utf8(path, exc, number) from None
            except (OSError, EOFError) as exc:  # a corrupt .gz
                raise ValueError(f"{path}:{number}: unreadable ({exc})") from None
            if not line:
                return
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: malformed JSON ({exc.msg})") from None
            except RecursionError:
                raise ValueError(f"{where}: JSON nested too deeply") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, found {type(record).__name__}")
            missing = [k for k in required if k not in record]
            if missing:
                raise ValueError(f"{where}: missing key(s) {missing}")
            yield where, record


def read_json(path: str | Path, what: str = "file") -> Any:
    """The parsed content of a JSON file; a missing file, a directory, text that is not UTF-8, or
    malformed JSON is an error naming it (``"<what> not found: PATH"``,
    ``"PATH: malformed JSON at line L column C: ..."``)."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
