"""Decontaminate training files: stream them, drop the records that match, write the report."""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

from tqdm.auto import tqdm

from moe_coder.decontamination.evalsets import EvalSpec, load_eval_sets
from moe_coder.decontamination.jsonl import CHUNK_BYTES, Chunk, atomic_output, file_sha256, parse_chunk, read_chunks
from moe_coder.decontamination.matcher import NGRAM, SUBSTRING_LENGTH, SUBSTRINGS_PER_ITEM, Decontaminator
from moe_coder.decontamination.report import DecontaminationReport, contaminated_ids_path

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


@dataclass
class _ChunkResult:
    records: int
    matches: dict[int, dict[int, set[str]]]  # line offset in chunk -> eval item -> patterns
    bad: list[tuple[int, str]]
    blank: list[int]


def _process(decontaminator: Decontaminator, fields: Sequence[str] | None, data: bytes) -> _ChunkResult:
    parsed = parse_chunk(data, fields)
    by_text = decontaminator.match_texts(parsed.texts)
    matches = {parsed.offsets[t]: per_item for t, per_item in by_text.items()}
    return _ChunkResult(len(parsed.offsets), matches, parsed.bad, parsed.blank)


_worker_state: tuple[Decontaminator, Sequence[str] | None] | None = None


def _init_worker(decontaminator: Decontaminator, fields: Sequence[str] | None) -> None:
    global _worker_state
    _worker_state = (decontaminator, fields)


def _work(data: bytes) -> _ChunkResult:
    assert _worker_state is not None
    return _process(*_worker_state, data)


def _processed(
    chunks: Iterable[Chunk], decontaminator: Decontaminator, fields: Sequence[str] | None, workers: int
) -> Iterator[tuple[Chunk, _ChunkResult]]:
    """Results in input order; with workers, at most ``2 * workers`` chunks are in flight."""
    if workers == 1:
        for chunk in chunks:
            yield chunk, _process(decontaminator, fields, chunk.data)
        return
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(decontaminator, fields)) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(_work, (chunk.data,))))
            if len(pending) > 2 * workers:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()


def _kept_bytes(data: bytes, dropped: set[int]) -> bytes:
    """The chunk's lines minus ``dropped`` (offsets), each byte-identical and newline-terminated."""
    if not dropped:
        return data if data.endswith(b"\n") else data + b"\n"
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return b"".join(line + b"\n" for i, line in enumerate(lines) if i not in dropped)


def _refuse_overwrite(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    for i, out in enumerate(outputs):
        for other in outputs[:i]:
            if out.resolve() == other.resolve():
                raise ValueError(f"two outputs are the same file: {out}")
        for source in inputs:
            if out.resolve() == source.resolve() or (out.exists() and os.path.samefile(out, source)):
                raise ValueError(f"output {out} would overwrite input {source}")


@dataclass
class _Tally:
    """Accumulates what the chunks found, per file and per evaluation item."""

    decontaminator: Decontaminator
    skip_bad: bool
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    by_item: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    removed: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[dict[str, Any]] = field(default_factory=list)

    def add(self, chunk: Chunk, result: _ChunkResult) -> set[int]:
        """Record a chunk's findings; return the line offsets to leave out of the clean file."""
        if result.bad and not self.skip_bad:
            offset, message = result.bad[0]
            raise ValueError(f"{chunk.path}:{chunk.first_line + offset}: {message} (skip such lines with --skip-bad)")
        stats = self.files[chunk.path]
        stats["records"] += result.records
        stats["removed"] += len(result.matches)
        stats["skipped_bad"] += len(result.bad)
        stats["blank_lines"] += len(result.blank)
        stats["bytes"] += len(chunk.data)
        items = self.decontaminator.items
        for offset in sorted(result.matches):
            line = chunk.first_line + offset
            per_item = result.matches[offset]
            entries = []
            for i in sorted(per_item):
                substrings = sorted(p.strip() for p in per_item[i])
                entries.append({"benchmark": items[i].benchmark, "id": items[i].task_id, "substrings": substrings})
                self.by_item.setdefault(i, []).append({"file": chunk.path, "line": line, "substrings": substrings})
            self.removed.append({"file": chunk.path, "line": line, "matches": entries})
        for offset, message in result.bad:
            self.bad_lines.append({"file": chunk.path, "line": chunk.first_line + offset, "error": message})
        return set(result.matches) | {offset for offset, _ in result.bad} | set(result.blank)


def decontaminate(
    train_files: PathLike | Sequence[PathLike],
    eval_sets: Sequence[EvalSpec],
    out: PathLike,
    report: PathLike,
    *,
    method: str = "openai50",
    seed: int = 0,
    lowercase: bool = False,
    fields: Sequence[str] | None = None,
    workers: int = 1,
    skip_bad: bool = False,
    eval_text_field: str | None = None,
    eval_id_field: str | None = None,
    engine: str = "automaton",
    chunk_bytes: int = CHUNK_BYTES,
) -> DecontaminationReport:
    """Write the training records that match no evaluation item to ``out``, and a report.

    Args:
        train_files: JSONL or JSONL.gz files, streamed in order (memory does not grow with them).
        eval_sets: built-in benchmark names (``"humaneval"``, ``"mbpp"``, ...), JSONL paths or
            :class:`~moe_coder.decontamination.EvalSet` objects.
        out: the clean JSONL (gzip if it ends in ``.gz``): the kept records, in order,
            byte-identical. Written atomically; never one of the inputs.
        report: the JSON report; ``<report stem>.contaminated.json`` is written beside it.
        method: ``"openai50"`` or ``"ngram13"``.
        seed: seeds ``openai50``'s substring sampling.
        lowercase: lower-case text before matching (``openai50``).
        fields: the record fields holding text; default every string in the record.
        workers: processes matching chunks in parallel; output order is kept.
        skip_bad: drop malformed lines (counted in the report) instead of stopping at the first.
        eval_text_field / eval_id_field: field names for JSONL evaluation files.
        engine: ``"automaton"``, or ``"naive"`` for the slow reference.
        chunk_bytes: about how much text is matched at once.
    """
    started = time.perf_counter()
    paths = [Path(train_files)] if isinstance(train_files, (str, Path)) else [Path(p) for p in train_files]
    if not paths:
        raise ValueError("no training files given")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"training file not found: {path}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if fields is not None and not fields:
        raise ValueError("fields, when given, must name at least one field")
    sets = load_eval_sets(eval_sets, eval_text_field, eval_id_field)
    out, report = Path(out), Path(report)
    ids_path = contaminated_ids_path(report)
    eval_files = [Path(s.source) for s in sets if s.source != "builtin"]
    _refuse_overwrite(paths + eval_files, [out, report, ids_path])
    for target in (out, report):
        target.parent.mkdir(parents=True, exist_ok=True)

    decontaminator = Decontaminator(sets, method=method, seed=seed, lowercase=lowercase, engine=engine)
    tally = _Tally(decontaminator, skip_bad)
    total = None if any(str(p).endswith(".gz") for p in paths) else sum(p.stat().st_size for p in paths)

    def chunks() -> Iterator[Chunk]:
        for path in paths:
            tally.files[str(path)] = dict.fromkeys(("records", "removed", "skipped_bad", "blank_lines", "bytes"), 0)
            yield from read_chunks(path, chunk_bytes)

    with atomic_output(out, compress=out.name.endswith(".gz")) as fh, tqdm(
        total=total, unit="B", unit_scale=True, desc="decontaminate", disable=None
    ) as bar, closing(_processed(chunks(), decontaminator, fields, workers)) as results:
        for chunk, result in results:
            fh.write(_kept_bytes(chunk.data, tally.add(chunk, result)))
            bar.update(len(chunk.data))

    for name, stats in tally.files.items():
        if stats["records"] == 0:
            logger.warning("training file %s has no records", name)
    unmatchable = {i for i, patterns in enumerate(decontaminator.patterns) if not patterns}
    eval_summary = []
    for s in sets:
        indices = [i for i, item in enumerate(decontaminator.items) if item.benchmark == s.name]
        eval_summary.append({
            "name": s.name,
            "source": s.source,
            "items": len(indices),
            "contaminated": sum(i in tally.by_item for i in indices),
            "unmatchable": [decontaminator.items[i].task_id for i in indices if i in unmatchable],
        })
        if eval_summary[-1]["unmatchable"]:
            logger.warning("%s: %d items have no letters or digits and cannot match",
                           s.name, len(eval_summary[-1]["unmatchable"]))
    substrings: dict[str, dict[str, list[str]]] = {}
    if method == "openai50":
        for item, patterns in zip(decontaminator.items, decontaminator.patterns):
            substrings.setdefault(item.benchmark, {})[item.task_id] = patterns
    params = (
        {"substring_length": SUBSTRING_LENGTH, "substrings_per_item": SUBSTRINGS_PER_ITEM}
        if method == "openai50"
        else {"n": NGRAM}
    )
    records = sum(stats["records"] for stats in tally.files.values())
    result = DecontaminationReport(
        method=method,
        seed=seed,
        lowercase=decontaminator.lowercase,
        params=params,
        fields=list(fields) if fields is not None else None,
        train_files=[{"path": name, **stats} for name, stats in tally.files.items()],
        eval_sets=eval_summary,
        contaminated=[
            {"benchmark": decontaminator.items[i].benchmark, "id": decontaminator.items[i].task_id,
             "matches": tally.by_item[i]}
            for i in sorted(tally.by_item)
        ],
        removed=tally.removed,
        bad_lines=tally.bad_lines,
        substrings=substrings,
        output={"path": str(out), "sha256": file_sha256(out), "bytes": out.stat().st_size,
                "records": records - len(tally.removed)},
        contaminated_ids_file=str(ids_path),
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    result.save_contaminated_ids(ids_path)
    result.save(report)
    logger.info("kept %d of %d records; %d evaluation items contaminated",
                result.counts["kept"], result.counts["records"], result.counts["contaminated_items"])
    return result
