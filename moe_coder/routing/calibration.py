"""Temperature scaling, expected calibration error, and the abstain threshold."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

#: What abstaining costs, counted in wrong routes: sending a prompt to the generalist is
#: taken to be half as bad as sending it to the wrong expert.
ABSTAIN_COST = 0.5


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature ``T`` minimising the negative log-likelihood of ``softmax(logits / T)``.

    ``y`` holds column indices into ``logits``.
    """
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[rows, y].mean())

    result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def scaled_proba(logits: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(logits / temperature, axis=1)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE: the bin-weighted gap between confidence and accuracy over equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per-bin mean confidence, accuracy and count, for a reliability diagram."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        out.append({
            "low": float(edges[b]), "high": float(edges[b + 1]), "count": int(mask.sum()),
            "confidence": float(confidence[mask].mean()) if mask.any() else 0.0,
            "accuracy": float(correct[mask].mean()) if mask.any() else 0.0,
        })
    return out


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, cost: float = ABSTAIN_COST) -> float:
    """The threshold minimising ``wrong routes + cost * abstentions`` (abstain below it)."""
    order = np.argsort(confidence)
    conf, ok = np.asarray(confidence)[order], np.asarray(correct, dtype=float)[order]
    # abstaining on the first k prompts (lowest confidence): cost*k + wrong among the rest
    wrong_rest = np.concatenate([np.cumsum((1 - ok)[::-1])[::-1], [0.0]])
    totals = cost * np.arange(len(conf) + 1) + wrong_rest
    k = int(np.argmin(totals))
    if k == 0:
        return 0.0
    return float(conf[k - 1] + (conf[k] - conf[k - 1]) / 2) if k < len(conf) else float(conf[-1] + 1e-6)
