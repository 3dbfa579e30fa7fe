"""The decontamination gate: training reads only data decontaminated against the recipe's benchmarks.

Three ways through, checked in this order:

1. ``allow_contaminated`` (``--allow-contaminated``): train on the files as they are; the expert's
   ``training.json`` says so.
2. ``run`` (``--decontaminate`` or ``data.decontaminate: true``): run
   :func:`moe_coder.decontamination.decontaminate` now, into ``DIR/decontamination/``, and train on
   its clean output.
3. Otherwise every training file must be the clean output recorded by one of
   ``data.decontamination_reports`` (matched by SHA-256) for all of ``data.benchmarks``.

The report paths are stored with the expert (``training.json``).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from moe_coder.decontamination import check_decontaminated, decontaminate
from moe_coder.decontamination.chunks import file_sha256

logger = logging.getLogger(__name__)

CLEAN_NAME = "train.clean.jsonl"
REPORT_NAME = "report.json"


@dataclass
class Provenance:
    """Which files training reads, and the decontamination that vouches for each (same order)."""

    train_files: list[str]
    sha256: list[str]
    reports: list[str | None] = field(default_factory=list)
    benchmarks: list[str] = field(default_factory=list)
    contaminated_allowed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decontaminated_output(out_dir: Path) -> tuple[Path, Path]:
    """Where :func:`run_decontamination` writes its clean file and report."""
    return out_dir / CLEAN_NAME, out_dir / REPORT_NAME


def run_decontamination(train_files: Sequence[str], benchmarks: Sequence[str], out_dir: Path) -> tuple[Path, Path]:
    """Decontaminate ``train_files`` into ``out_dir``; return ``(clean file, report)``."""
    clean, report = decontaminated_output(out_dir)
    result = decontaminate(list(train_files), list(benchmarks), clean, report)
    logger.info("decontamination kept %d of %d records (%d removed)",
                result.counts["kept"], result.counts["records"], result.counts["removed"])
    return clean, report


def verify(train_files: Sequence[str], reports: Sequence[str], benchmarks: Sequence[str]) -> Provenance:
    """Match every training file to a report that vouches for it; raise ``ValueError`` if one has none."""
    if not reports:
        raise ValueError(
            f"training data {list(train_files)} was not shown to be decontaminated against {list(benchmarks)}: "
            "list the reports of `moe-coder decontaminate` in data.decontamination_reports, pass --decontaminate "
            "to run it now, or --allow-contaminated to train on it anyway"
        )
    for report in reports:
        if not Path(report).is_file():
            raise FileNotFoundError(f"decontamination report not found: {report}")
    matched: list[str | None] = []
    for path in train_files:
        if not Path(path).is_file():
            raise FileNotFoundError(f"training data not found: {path}")
        reasons = []
        for report in reports:
            try:
                check_decontaminated(path, report, benchmarks)
            except ValueError as exc:
                reasons.append(str(exc))
                continue
            matched.append(str(Path(report).resolve()))
            break
        else:
            raise ValueError(
                f"{path} is not vouched for by any decontamination report: " + "; ".join(reasons)
                + " (pass --decontaminate to decontaminate it now)"
            )
    return Provenance(
        train_files=[str(p) for p in train_files],
        sha256=[file_sha256(p) for p in train_files],
        reports=matched,
        benchmarks=list(benchmarks),
    )


def unchecked(train_files: Sequence[str]) -> Provenance:
    """Provenance of data trained on without decontamination (``--allow-contaminated``)."""
    logger.warning("training on %s without decontamination (--allow-contaminated)", list(train_files))
    for path in train_files:
        if not Path(path).is_file():
            raise FileNotFoundError(f"training data not found: {path}")
    return Provenance(
        train_files=[str(p) for p in train_files],
        sha256=[file_sha256(p) for p in train_files],
        reports=[None] * len(train_files),
        contaminated_allowed=True,
    )
