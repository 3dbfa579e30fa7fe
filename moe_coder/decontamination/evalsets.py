"""Evaluation sets to decontaminate against: built-in benchmarks or JSONL files.

Only the question side of an evaluation item is used (HumanEval: the prompt; MBPP: the text and
its tests), never the answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

from moe_coder.benchmarks import BENCHMARKS, benchmark_key, load_benchmark
from moe_coder.jsonl import iter_jsonl

#: Tried in order when a JSONL evaluation file does not name its id field.
ID_FIELDS = ("task_id", "id")
#: Tried in order when a JSONL evaluation file does not name its text field.
TEXT_FIELDS = ("question", "prompt", "text")


@dataclass(frozen=True)
class EvalItem:
    """One evaluation item: the set it belongs to, its id there, and its question text."""

    benchmark: str
    task_id: str
    text: str


@dataclass(frozen=True)
class EvalSet:
    """A named list of evaluation items; ``source`` is ``"builtin"`` or the file it came from."""

    name: str
    source: str
    items: tuple[EvalItem, ...]


EvalSpec = Union[str, Path, EvalSet]


def _pick(record: dict, wanted: str | None, candidates: Sequence[str], what: str, where: str) -> str:
    names = (wanted,) if wanted else candidates
    for name in names:
        if name in record:
            value = record[name]
            if not isinstance(value, (str, int)):
                raise ValueError(f"{where}: {what} field {name!r} is {type(value).__name__}, expected text")
            return str(value)
    raise ValueError(f"{where}: no {what} field (looked for {', '.join(map(repr, names))})")


def _load_file(path: Path, text_field: str | None, id_field: str | None) -> EvalSet:
    name = path.name.removesuffix(".gz").removesuffix(".jsonl")
    items = []
    seen: set[str] = set()
    for where, record in iter_jsonl(path, what="evaluation file"):
        task_id = _pick(record, id_field, ID_FIELDS, "id", where)
        if task_id in seen:
            raise ValueError(f"{where}: duplicate id {task_id!r}")
        seen.add(task_id)
        items.append(EvalItem(name, task_id, _pick(record, text_field, TEXT_FIELDS, "text", where)))
    if not items:
        raise ValueError(f"evaluation file {path} has no items")
    return EvalSet(name, str(path), tuple(items))


def load_eval_set(spec: EvalSpec, text_field: str | None = None, id_field: str | None = None) -> EvalSet:
    """Resolve ``spec``: an :class:`EvalSet` as is, a built-in benchmark name, or a JSONL(.gz) path.

    A string is a path when it names an existing file or ends in ``.jsonl``/``.jsonl.gz``;
    otherwise it must be one of :data:`moe_coder.benchmarks.BENCHMARKS`. For files, the
    id comes from ``id_field`` (default: the first of :data:`ID_FIELDS` present) and the text
    from ``text_field`` (default: the first of :data:`TEXT_FIELDS` present).
    """
    if isinstance(spec, EvalSet):
        return spec
    text = str(spec)
    if isinstance(spec, Path) or Path(text).is_file() or text.endswith((".jsonl", ".jsonl.gz")):
        return _load_file(Path(text), text_field, id_field)
    name = benchmark_key(text)
    problems = load_benchmark(name)
    return EvalSet(name, "builtin", tuple(EvalItem(name, p.task_id, p.question) for p in problems))


def load_eval_sets(
    specs: Sequence[EvalSpec], text_field: str | None = None, id_field: str | None = None
) -> list[EvalSet]:
    """:func:`load_eval_set` for each spec; two sets may not share a name."""
    if not specs:
        raise ValueError(f"no evaluation sets given; use built-in names ({', '.join(BENCHMARKS)}) or JSONL paths")
    sets = [load_eval_set(spec, text_field, id_field) for spec in specs]
    names = [s.name for s in sets]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"evaluation set {name!r} given twice")
    return sets
