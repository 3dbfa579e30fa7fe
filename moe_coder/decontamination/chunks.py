"""Streaming JSONL: read training files in chunks of whole lines, parse them, write atomically."""
from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

CHUNK_BYTES = 1 << 21
_BOM = b"\xef\xbb\xbf"
_JSON_SPACE = " \t\r"
_scan = json.JSONDecoder().scan_once


@dataclass
class Chunk:
    """Whole lines of one file; ``first_line`` is the 1-based number of the first one."""

    path: str
    first_line: int
    data: bytes


@dataclass
class ParsedChunk:
    """The records of a chunk: their line offsets within it and their texts; bad and blank lines."""

    offsets: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)


def open_binary(path: str | Path) -> BinaryIO:
    """Open a JSONL or JSONL.gz file for reading bytes."""
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def read_chunks(path: str | Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Yield ``path`` in chunks of about ``chunk_bytes`` that end on a line boundary.

    Memory stays at a few chunks whatever the file's size; a leading UTF-8 byte-order mark is
    dropped. Only the last chunk of a file may lack its final newline.
    """
    line = 1
    pending = b""
    with open_binary(path) as fh:
        first = True
        while block := fh.read(chunk_bytes):
            if first and block.startswith(_BOM):
                block = block[len(_BOM) :]
            first = False
            cut = block.rfind(b"\n") + 1
            if not cut:  # no line ends in this block: a very long line
                pending += block
                continue
            data, pending = pending + block[:cut], block[cut:]
            yield Chunk(str(path), line, data)
            line += data.count(b"\n")
    if pending:
        yield Chunk(str(path), line, pending)


def _collect(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, out)
    elif isinstance(value, list):
        for v in value:
            _collect(v, out)


def record_text(record: dict, fields: Sequence[str] | None = None) -> str:
    """The text of a training record that is matched against evaluation items.

    Without ``fields``: every string in the record (nested ones too, so chat ``messages``
    contribute their contents), in order. With ``fields``: the strings inside those fields, each
    of which must be present (a ``null`` field has no text). Parts are joined with newlines.
    """
    parts: list[str] = []
    if fields is None:
        for value in record.values():
            if type(value) is str:
                parts.append(value)
            else:
                _collect(value, parts)
    else:
        for name in fields:
            if name not in record:
                raise KeyError(name)
            _collect(record[name], parts)
    return "\n".join(parts)


def _parse_line(line: str) -> object:
    """``json.loads(line)``, taking the scanner's shortcut for the usual well-formed line."""
    try:
        value, end = _scan(line, 0)
        if end == len(line) or not line[end:].strip(_JSON_SPACE):
            return value
    except (StopIteration, ValueError):
        pass
    return json.loads(line)


def _decode_lines(data: bytes) -> list[str | None]:
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines: list[str | None] = []
        for raw in data.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(None)
        return lines


def parse_chunk(data: bytes, fields: Sequence[str] | None = None) -> ParsedChunk:
    """Parse the lines of a chunk; line offsets count from 0 at the chunk's first line."""
    parsed = ParsedChunk()
    lines = _decode_lines(data)
    if data.endswith(b"\n"):
        lines.pop()
    for offset, line in enumerate(lines):
        if line is None:
            parsed.bad.append((offset, "not valid UTF-8"))
            continue
        try:
            record = _parse_line(line)
        except ValueError as exc:
            if line.strip(_JSON_SPACE):
                parsed.bad.append((offset, f"malformed JSON: {exc}"))
            else:
                parsed.blank.append(offset)
            continue
        if type(record) is not dict:
            parsed.bad.append((offset, f"expected a JSON object, got {type(record).__name__}"))
            continue
        try:
            text = record_text(record, fields)
        except KeyError as exc:
            parsed.bad.append((offset, f"missing field {exc.args[0]!r}"))
            continue
        parsed.offsets.append(offset)
        parsed.texts.append(text)
    return parsed


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
