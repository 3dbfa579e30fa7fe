"""Reading JSON files and JSONL (plain or gzipped) with errors that name the file and line, and
checking a JSON object's keys against the dataclass it configures."""
from __future__ import annotations

import gzip
import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import IO, Any, Iterator

logger = logging.getLogger(__name__)


def open_text(path: Path) -> IO[str]:
    """Open a ``.jsonl`` or ``.jsonl.gz`` file for reading text."""
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else path.open(encoding="utf-8")


def iter_jsonl(
    path: str | Path, required: tuple[str, ...] = (), what: str = "input file", skip_malformed: bool = False,
) -> Iterator[tuple[str, dict]]:
    """Yield ``("file:line", record)`` for each non-blank line.

    A missing file, a malformed line, a line that is not a JSON object, or a record lacking
    one of ``required`` is an error naming the file (and line). With ``skip_malformed`` a line
    that is not valid JSON (the half-written last line of an interrupted run) is skipped with a
    warning instead.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if skip_malformed:
                    logger.warning("%s: skipping a malformed line (%s)", where, exc.msg)
                    continue
                raise ValueError(f"{where}: malformed JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a JSON object, found {type(record).__name__}")
            missing = [k for k in required if k not in record]
            if missing:
                raise ValueError(f"{where}: missing key(s) {missing}")
            yield where, record


def read_json(path: str | Path, what: str = "file") -> Any:
    """The parsed content of a JSON file; a missing file or malformed JSON is an error naming it
    (``"<what> not found: PATH"``, ``"PATH: malformed JSON at line L column C: ..."``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def check_keys(cls: type, data: dict, where: str) -> None:
    """Reject keys of ``data`` that are no field of the dataclass ``cls`` (a typo would otherwise be
    silently ignored): ``"<where>: unknown field(s) [...]; expected some of [...]"``."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(known)}")
