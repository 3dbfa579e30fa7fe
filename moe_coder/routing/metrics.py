"""Router evaluation: accuracy and macro-F1 per head, calibration, abstention, latency, and figures."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from moe_coder.atomic import write_text_atomic
from moe_coder.routing.calibration import expected_calibration_error, reliability_bins
from moe_coder.routing.cues import code_outside_prose, prose_outside_code
from moe_coder.routing.dataset import LabelledPrompts
if TYPE_CHECKING:
    from moe_coder.decisions import RoutingDecision

RouteBatch = Callable[[Sequence[Any]], list["RoutingDecision"]]


def head_metrics(y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1, ECE and the confusion matrix of one head."""
    y_true, y_pred = [str(v) for v in y_true], [str(v) for v in y_pred]
    labels = sorted(set(y_true) | set(y_pred))
    correct = np.array([a == b for a, b in zip(y_true, y_pred)])
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return {
        "n": len(y_true),
        "accuracy": float(correct.mean()),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "ece": expected_calibration_error(np.asarray(confidence), correct),
        "per_class": {
            c: {k: round(float(report[c][k]), 4) for k in ("precision", "recall", "f1-score", "support")} for c in labels
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
        "reliability": reliability_bins(np.asarray(confidence), correct),
    }


def latency(route_batch: RouteBatch, prompts: Sequence[Any], single: int = 200, batched: int = 2000) -> dict[str, float]:
    """Single-prompt p50/p99 in milliseconds (encoding included) and batched prompts per second."""
    sample = list(prompts[:single])
    route_batch(sample[:2])  # warm-up: lazy loading is not latency
    times = []
    for p in sample:
        start = time.perf_counter()
        route_batch([p])
        times.append((time.perf_counter() - start) * 1000)
    batch = list(prompts[:batched])
    start = time.perf_counter()
    route_batch(batch)
    elapsed = time.perf_counter() - start
    return {
        "single_p50_ms": float(np.percentile(times, 50)),
        "single_p99_ms": float(np.percentile(times, 99)),
        "single_n": len(times),
        "batched_prompts_per_s": len(batch) / elapsed,
        "batched_n": len(batch),
    }


#: The ways a prompt's style can differ from the training data's, each a way to split prompts into
#: families: evaluation that holds out a whole family predicts how the router does on a style it
#: never saw (``benchmarks/router.py --held-out-families``).
FAMILY_AXES: tuple[str, ...] = ("template", "shape", "prose_language")

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the is a an to this and how what why of my it with that does can i you".split()),
    "es": frozenset("el la los las que de en una un por para cómo como función código con esto este qué "
                    "mi se es".split()),
    "de": frozenset("der die das und ist nicht ich wie mit eine ein funktion diesen dieser warum was "
                    "mein wird für".split()),
    "fr": frozenset("le la les des une un est pour pas que je ce cette fonction dans avec pourquoi "
                    "comment mon du".split()),
}
_LINE_COMMENT = re.compile(r"^\s*(?://|#(?![!\[]|\s*(?:include|define|pragma)\b)|--\s)")
_BLOCK_COMMENT = re.compile(r"^\s*(?:/\*|\*|\*/)")
_PREAMBLE = re.compile(r"^\s*(?:#\s*include|import\s|from\s+\S+\s+import|using\s|package\s|<\?php|#!|use\s)")
_OPENS_BLOCK = re.compile(r"(?:[{:]|=>\s*\{?|\bthen|\bdo)\s*$")


def snippet_shape(prompt: str) -> str:
    """The shape of a prompt's text, one of ``"signature after line-comment docstring"`` (``//``,
    ``#`` or ``--`` lines, then a line opening a body at the end: the shape of MultiPL-E-style
    completion prompts), ``"signature after block-comment docstring"``, ``"fenced code"``,
    ``"unfenced code"`` or ``"prose only"``."""
    lines = [line for line in prompt.strip().splitlines() if line.strip()]
    if lines and _OPENS_BLOCK.search(lines[-1]) and len(lines) >= 2:
        before = [line for line in lines[:-1] if not _PREAMBLE.match(line)]
        if before and all(_LINE_COMMENT.match(line) for line in before):
            return "signature after line-comment docstring"
        if before and all(_BLOCK_COMMENT.match(line) or not re.search(r"[;{}()=]", line) for line in before) \
                and any(_BLOCK_COMMENT.match(line) for line in before):
            return "signature after block-comment docstring"
    if "```" in prompt:
        return "fenced code"
    return "unfenced code" if code_outside_prose(prompt).strip() else "prose only"


def prose_language(prompt: str) -> str:
    """The human language of a prompt's prose: ``"zh"`` (any CJK), ``"es"``, ``"de"``, ``"fr"``,
    ``"en"`` by stopword counts, or ``"none"`` (no prose words)."""
    prose = prose_outside_code(prompt)
    if re.search(r"[\u4e00-\u9fff]", prose):
        return "zh"
    words = re.findall(r"[a-záéíóúñäöüßèêàçù]+", prose.lower())
    if not words:
        return "none"
    counts = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(counts, key=lambda lang: (counts[lang], lang == "en"))
    return best if counts[best] >= 2 else "en" if counts["en"] else "none"


def template_family(source: str) -> str:
    """The family of prompt templates a prompt's ``source`` field comes from."""
    kind = source.split(":", 1)[0]
    if kind.startswith("prose"):
        return "prose request"
    if kind.startswith("stubs"):
        return "stub"
    if kind.startswith("code-instruction"):
        return "code collection instruction"
    if kind.startswith("gpteacher-code"):
        return "gpteacher code answer"
    if kind.startswith("gpteacher"):
        return "gpteacher instruction"
    if kind.startswith("mbpp"):
        return "mbpp"
    if kind.startswith("humaneval"):
        return "humaneval-x"
    if kind.startswith(("junk", "no-language", "other-language")):
        return "no label language"
    return "package code in a phrasing"


def prompt_families(prompt: Any, source: str = "") -> dict[str, str]:
    """The family of a prompt along each of :data:`FAMILY_AXES` (a chat prompt: its JSON text)."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False)
    return {"template": template_family(source), "shape": snippet_shape(text), "prose_language": prose_language(text)}


def confident_wrong_rate(correct: Sequence[bool], confidence: Sequence[float], at: float = 0.85) -> float:
    """Share of *all* prompts that are wrong with confidence at least ``at``."""
    correct, confidence = np.asarray(correct, dtype=bool), np.asarray(confidence, dtype=float)
    return float(np.mean(~correct & (confidence >= at))) if len(correct) else 0.0


def evaluate(route_batch: RouteBatch, data: LabelledPrompts, measure_latency: bool = True) -> dict[str, Any]:
    """The full report for ``data`` routed by ``route_batch`` (e.g. ``MoECoder.route_batch``)."""
    decisions = route_batch(data.prompts)
    y = np.array(data.y, dtype=object)
    lang_conf = [d.scores["language"][d.language] for d in decisions]
    task_conf = [d.scores["task"][d.task] for d in decisions]
    report: dict[str, Any] = {
        "n": len(data),
        "language": head_metrics(y[:, 0], [d.language for d in decisions], lang_conf),
        "task": head_metrics(y[:, 1], [d.task for d in decisions], task_conf),
    }
    translate = [i for i in range(len(data)) if y[i, 1] == "translate"]
    if translate:
        predicted = [decisions[i].source_language or "unknown" for i in translate]
        report["source_language"] = {
            "n": len(translate),
            "accuracy": float(np.mean([p == y[i, 2] for p, i in zip(predicted, translate)])),
            "note": "over prompts labelled translate; the prediction is reported when the task head also says translate",
        }
    abstained = np.array([d.abstained for d in decisions])
    routed = ~abstained
    lang_ok = np.array([d.language == t for d, t in zip(decisions, y[:, 0])])
    task_ok = np.array([d.task == t for d, t in zip(decisions, y[:, 1])])
    report["routing"] = {
        "abstain_rate": float(abstained.mean()),
        "language_accuracy_non_abstained": float(lang_ok[routed].mean()) if routed.any() else None,
        "task_accuracy_non_abstained": float(task_ok[routed].mean()) if routed.any() else None,
        "confidence_ece": expected_calibration_error(np.array([d.confidence for d in decisions]), lang_ok),
        "encoded_share": float(np.mean([d.stage == "full" for d in decisions])),
    }
    if measure_latency:
        report["latency"] = latency(route_batch, data.prompts)
    return report


def write_report(report: dict[str, Any], directory: str | Path) -> list[Path]:
    """``report.json`` plus confusion-matrix PNGs per head and a reliability diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "report.json"]
    write_text_atomic(written[0], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for head in ("language", "task"):
        labels = report[head]["confusion"]["labels"]
        matrix = np.array(report[head]["confusion"]["matrix"])
        fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(labels), 0.8 + 0.5 * len(labels)))
        ax.imshow(matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > matrix[i].sum() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{head}: accuracy {report[head]['accuracy']:.3f}, macro-F1 {report[head]['macro_f1']:.3f}")
        fig.tight_layout()
        path = directory / f"confusion_{head}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for head, marker in (("language", "o"), ("task", "s")):
        bins = [b for b in report[head]["reliability"] if b["count"]]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=marker,
                label=f"{head} (ECE {report[head]['ece']:.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title("reliability")
    fig.tight_layout()
    path = directory / "reliability.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written
