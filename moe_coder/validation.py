"""Checks of user input at the edges: numbers in range, outputs that can be written, text that decodes.

Every check fails with one line that names the field (or the file and line) and says what was
expected. The command line turns these errors into exit code 2 (see :mod:`moe_coder.cli`);
the same checks guard recipes, configuration files and the library's public constructors.
Outputs are checked *before* any work starts, so a bad ``--out`` never costs a finished job.
"""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable


def check_number(value: object, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, integer: bool = False) -> float | int:
    """*value* as a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``), else ValueError.

    Booleans are not numbers here; ``integer`` also refuses fractions (``2.0`` is accepted as 2).
    """
    expected = _describe(low, high, low_open, integer)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be {expected}, found {value!r}")
    if not math.isfinite(value) or (integer and value != int(value)):
        raise ValueError(f"{name} must be {expected}, found {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {expected}, found {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be {expected}, found {value!r}")
    return int(value) if integer else value


def _describe(low: float | None, high: float | None, low_open: bool, integer: bool) -> str:
    kind = "a whole number" if integer else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"<= {high:g}")
    return f"{kind} {' and '.join(bounds)}".strip()


def number_argument(*, low: float | None = None, high: float | None = None, low_open: bool = False,
                    integer: bool = False) -> Callable[[str], float | int]:
    """An argparse ``type=`` that parses a number and checks it with :func:`check_number`."""

    def parse(text: str) -> float | int:
        try:
            value: float | int = int(text) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_describe(low, high, low_open, integer)}, found {text!r}") from None
        try:
            return check_number(value, "the value", low=low, high=high, low_open=low_open, integer=integer)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_describe(low, high, low_open, integer)}, found {text!r}") from None

    parse.__name__ = "number"
    return parse


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """*path* can be (or already is) a directory to write in: not a file, not under one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a directory")
    _check_parent(path, what)
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """*path* can be written as a file: not a directory, and its folder is (or can be) one."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; expected a file name")
    _check_parent(path, what)
    return path


def _check_parent(path: Path, what: str) -> None:
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{what} {path}: {parent} is not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{what} {path}: {parent} is not writable")
            return


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """*path* is an existing regular file (a missing one or a directory is named as such)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {path} is a directory; expected a file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def not_utf8(path: str | os.PathLike, exc: UnicodeDecodeError, line: int | None = None) -> ValueError:
    """The error for a file that is not UTF-8 text, naming it (and the line when known)."""
    where = f"{path}:{line}" if line is not None else str(path)
    byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
    return ValueError(f"{where}: not UTF-8 text (byte 0x{byte} at offset {exc.start})")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """The UTF-8 content of an existing file; anything else is one error naming the file."""
    path = check_input_file(path, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None


def check_inside(value: str, name: str, base: str | os.PathLike | None = None, allow_outside: bool = False) -> None:
    """Refuse a relative path from a config file that leads out of its folder.

    *value* must be relative and free of ``..``; with *base*, it must also stay inside *base* once
    symbolic links are resolved. ``allow_outside`` is the explicit opt-in for files a user placed
    elsewhere on purpose.
    """
    if allow_outside:
        return
    escapes = Path(value).is_absolute() or ".." in Path(value).parts
    if not escapes and base is not None:
        root = Path(os.path.realpath(base))
        inside = Path(os.path.realpath(Path(base) / value))
        escapes = not (inside == root or root in inside.parents)
    if escapes:
        where = f" {base}" if base is not None else " its folder"
        raise ValueError(f"{name} {value!r} leads outside{where}; "
                         "pass allow_outside_paths=True (--allow-outside-paths) if that is intended")
