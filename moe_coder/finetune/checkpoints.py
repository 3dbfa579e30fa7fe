"""Checkpoints: ``DIR/checkpoints/step-NNNNNNNN/`` holds accelerate's state (model or adapter,
optimizer, scheduler, every process's RNG state) plus ``trainer_state.json``.

A checkpoint is written into a hidden temporary folder and renamed when complete, so a run
killed while saving leaves the previous checkpoint intact; ``trainer_state.json`` is the last
file written, and a folder without it is never resumed from.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moe_coder.atomic import write_text_atomic

STATE_NAME = "trainer_state.json"
ADAPTER_STATE = "adapter_state.safetensors"
PREFIX = "step-"


@dataclass
class TrainingState:
    """Everything the loop needs to continue exactly where it stopped (besides accelerate's state)."""

    step: int = 0
    tokens: int = 0
    positions: int = 0
    answer_tokens: int = 0
    train_seconds: float = 0.0
    epoch_loss_sum: float = 0.0
    epoch_answer_tokens: int = 0
    train_loss: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_loss_initial: float | None = None
    pass_at_1: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    rows_per_step: int = 0
    data_sha256: list[str] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TrainingState":
        return cls(**json.loads(text))


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def latest_checkpoint(root: Path) -> Path | None:
    """The complete checkpoint with the highest step under ``root``, if any."""
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / STATE_NAME).is_file()]
    return max(done, key=lambda p: int(p.name[len(PREFIX):]), default=None)


def staging_dir(root: Path, step: int) -> Path:
    return root / f".{checkpoint_name(step)}.tmp"


def publish(root: Path, step: int, state: TrainingState, keep: int) -> Path:
    """Write the state into the staged checkpoint, move it into place, drop all but the last ``keep``."""
    staged, final = staging_dir(root, step), root / checkpoint_name(step)
    write_text_atomic(staged / STATE_NAME, state.to_json())
    if final.exists():
        shutil.rmtree(final)
    staged.rename(final)
    complete = sorted((p for p in root.iterdir() if p.name.startswith(PREFIX)), key=lambda p: p.name)
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(f".{PREFIX}*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    return final


def load_training_state(checkpoint: Path) -> TrainingState:
    return TrainingState.from_json((checkpoint / STATE_NAME).read_text(encoding="utf-8"))
