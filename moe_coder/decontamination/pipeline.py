"""Decontaminate training files: stream them, drop the records that match, write the report."""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import deque
from contextlib import closing
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence, Union

from tqdm.auto import tqdm

from moe_coder.decontamination.evalsets import EvalSet, EvalSpec, load_eval_sets
from moe_coder.atomic import atomic_output
from moe_coder.decontamination.chunks import CHUNK_BYTES, Chunk, file_sha256, parse_chunk, read_chunks
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
    dropped: list[tuple[int, int]]  # byte ranges of the lines left out of the clean file


def _line_spans(data: bytes, offsets: Sequence[int]) -> list[tuple[int, int]]:
    """Byte ranges (each with its newline) of the lines at ``offsets``, in order."""
    if not offsets:
        return []
    lengths = [len(line) + 1 for line in data.split(b"\n")]
    ends = list(accumulate(lengths))
    return [(ends[i] - lengths[i], min(ends[i], len(data))) for i in sorted(offsets)]


def _process(decontaminator: Decontaminator, fields: Sequence[str] | None, data: bytes) -> _ChunkResult:
    parsed = parse_chunk(data, fields)
    by_text = decontaminator.match_texts(parsed.texts)
    matches = {parsed.offsets[t]: per_item for t, per_item in by_text.items()}
    dropped = _line_spans(data, [*matches, *(offset for offset, _ in parsed.bad), *parsed.blank])
    return _ChunkResult(len(parsed.offsets), matches, parsed.bad, parsed.blank, dropped)


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


def _write_kept(fh: BinaryIO, data: bytes, dropped: list[tuple[int, int]]) -> None:
    """Write the chunk minus the ``dropped`` byte ranges: kept lines byte-identical, newline-terminated."""
    view = memoryview(data)
    position = 0
    for start, end in dropped:
        fh.write(view[position:start])
        position = end
    fh.write(view[position:])
    if position < len(data) and not data.endswith(b"\n"):
        fh.write(b"\n")


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

    def add(self, chunk: Chunk, result: _ChunkResult) -> None:
        """Record a chunk's findings; a bad line is an error unless bad lines are skipped."""
        if result.bad and not self.skip_bad:
            offset, message = result.bad[0]
            where = f"{chunk.path}:{chunk.first_line + offset}"
            raise ValueError(f"{where}: {message} (--skip-bad / skip_bad=True drops such lines)")
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

    def report(
        self, sets: Sequence[EvalSet], fields: Sequence[str] | None, out: Path, ids_path: Path, elapsed_s: float
    ) -> DecontaminationReport:
        """The report of a finished run whose clean output is ``out``."""
        matcher = self.decontaminator
        for name, stats in self.files.items():
            if stats["records"] == 0:
                logger.warning("training file %s has no records", name)
        eval_sets = []
        for s in sets:
            indices = [i for i, item in enumerate(matcher.items) if item.benchmark == s.name]
            unmatchable = [matcher.items[i].task_id for i in indices if not matcher.patterns[i]]
            if unmatchable:
                logger.warning("%s: %d items have no letters or digits and cannot match", s.name, len(unmatchable))
            eval_sets.append({"name": s.name, "source": s.source, "items": len(indices),
                              "contaminated": sum(i in self.by_item for i in indices), "unmatchable": unmatchable})
        substrings: dict[str, dict[str, list[str]]] = {}
        if matcher.method == "openai50":
            for item, patterns in zip(matcher.items, matcher.patterns, strict=True):
                substrings.setdefault(item.benchmark, {})[item.task_id] = patterns
        records = sum(stats["records"] for stats in self.files.values())
        return DecontaminationReport(
            method=matcher.method,
            seed=matcher.seed,
            lowercase=matcher.lowercase,
            params=(
                {"substring_length": SUBSTRING_LENGTH, "substrings_per_item": SUBSTRINGS_PER_ITEM}
                if matcher.method == "openai50"
                else {"n": NGRAM}
            ),
            fields=list(fields) if fields is not None else None,
            train_files=[{"path": name, **stats} for name, stats in self.files.items()],
            eval_sets=eval_sets,
            contaminated=[
                {"benchmark": matcher.items[i].benchmark, "id": matcher.items[i].task_id, "matches": self.by_item[i]}
                for i in sorted(self.by_item)
            ],
            removed=self.removed,
            bad_lines=self.bad_lines,
            substrings=substrings,
            output={"path": str(out), "sha256": file_sha256(out), "bytes": out.stat().st_size,
                    "records": records - len(self.removed)},
            contaminated_ids_file=str(ids_path),
            elapsed_s=round(elapsed_s, 3),
        )


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
    for i, path in enumerate(paths):
        if not path.is_file():
            raise FileNotFoundError(f"training file not found: {path}")
        if path.resolve() in {p.resolve() for p in paths[:i]}:
            raise ValueError(f"training file given twice: {path}")
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
            tally.add(chunk, result)
            _write_kept(fh, chunk.data, result.dropped)
            bar.update(len(chunk.data))

    summary = tally.report(sets, fields, out, ids_path, elapsed_s=time.perf_counter() - started)
    summary.save_contaminated_ids(ids_path)
    summary.save(report)
    logger.info("kept %d of %d records; %d evaluation items contaminated",
                summary.counts["kept"], summary.counts["records"], summary.counts["contaminated_items"])
    return summary
