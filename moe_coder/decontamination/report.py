"""The decontamination report, the contaminated-ids file, and checking a file against a report."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from moe_coder.benchmarks import benchmark_key
from moe_coder.atomic import atomic_output
from moe_coder.decontamination.chunks import file_sha256
from moe_coder.jsonl import read_json

#: Bumped when a field changes meaning; readers should refuse versions they do not know.
FORMAT_VERSION = 1


def contaminated_ids_path(report_path: str | Path) -> Path:
    """Where the contaminated-ids file of a report goes: ``REPORT.json`` -> ``REPORT.contaminated.json``."""
    path = Path(report_path)
    stem = path.stem if path.suffix == ".json" else path.name
    return path.with_name(f"{stem}.contaminated.json")


def _write_json(path: str | Path, data: Any) -> None:
    with atomic_output(path) as fh:
        fh.write((json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


@dataclass
class DecontaminationReport:
    """What a decontamination run did; saved as JSON (see ``docs/decontamination.md``).

    ``contaminated`` has one entry per contaminated evaluation item (``benchmark``, ``id`` and
    the training ``file``/``line``/``substrings`` it matched); ``removed`` one per removed
    training line (``file``, ``line`` and the ``benchmark``/``id``/``substrings`` it matched).
    ``output`` records the clean file's ``path``, ``sha256``, ``bytes`` and ``records``.
    """

    method: str
    seed: int
    lowercase: bool
    params: dict[str, Any]
    fields: list[str] | None
    train_files: list[dict[str, Any]]
    eval_sets: list[dict[str, Any]]
    contaminated: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    bad_lines: list[dict[str, Any]]
    substrings: dict[str, dict[str, list[str]]]
    output: dict[str, Any]
    contaminated_ids_file: str
    elapsed_s: float
    format_version: int = FORMAT_VERSION
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = {
            "records": sum(f["records"] for f in self.train_files),
            "kept": self.output["records"],
            "removed": len(self.removed),
            "skipped_bad": len(self.bad_lines),
            "blank_lines": sum(f["blank_lines"] for f in self.train_files),
            "bytes": sum(f["bytes"] for f in self.train_files),
            "eval_items": sum(s["items"] for s in self.eval_sets),
            "contaminated_items": len(self.contaminated),
        }

    @property
    def contaminated_ids(self) -> dict[str, list[str]]:
        """Contaminated task ids per evaluation set (every set present, possibly empty)."""
        ids: dict[str, list[str]] = {s["name"]: [] for s in self.eval_sets}
        for entry in self.contaminated:
            ids[entry["benchmark"]].append(entry["id"])
        return ids

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        order = ["format_version", "method", "seed", "lowercase", "params", "fields", "counts", "output",
                 "contaminated_ids_file", "elapsed_s", "train_files", "eval_sets", "contaminated", "removed",
                 "bad_lines", "substrings"]
        return {key: data[key] for key in order}

    def save(self, path: str | Path) -> None:
        """Write the report atomically."""
        _write_json(path, self.to_dict())

    def save_contaminated_ids(self, path: str | Path) -> None:
        """Write the ids file ``moe-coder evaluate --exclude`` reads: ``{"ids": [...], "benchmark_ids": {...}}``."""
        by_set = self.contaminated_ids
        _write_json(path, {"ids": [i for ids in by_set.values() for i in ids], "benchmark_ids": by_set,
                           "method": self.method})

    @classmethod
    def load(cls, path: str | Path) -> DecontaminationReport:
        data = read_json(path, "decontamination report")
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise ValueError(f"{path}: report format {version!r} is not {FORMAT_VERSION}")
        data.pop("format_version")
        data.pop("counts")
        return cls(**data)


def check_decontaminated(
    train_file: str | Path, report_file: str | Path, benchmarks: Sequence[str] = ("humaneval", "mbpp")
) -> DecontaminationReport:
    """Check that ``train_file`` is the clean output a report recorded, for all ``benchmarks``.

    The file is identified by its SHA-256, so it may have been moved or renamed since. Raises
    ``ValueError`` (saying what differs) when it is not; returns the report when it is.
    """
    report = DecontaminationReport.load(report_file)
    digest = file_sha256(train_file)
    if digest != report.output["sha256"]:
        raise ValueError(
            f"{train_file} is not the clean output recorded in {report_file} "
            f"(sha256 {digest[:12]}… != {report.output['sha256'][:12]}…)"
        )
    missing = sorted({benchmark_key(b) for b in benchmarks} - {s["name"] for s in report.eval_sets})
    if missing:
        raise ValueError(f"{report_file} did not decontaminate against {', '.join(missing)}")
    return report
