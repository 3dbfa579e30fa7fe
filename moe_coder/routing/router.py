"""The router: a scikit-learn style estimator over prompt embeddings, one head per label."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from moe_coder.routing.encoder import BUILTIN_ENCODER, encode

logger = logging.getLogger(__name__)

HEADS: tuple[str, ...] = ("language", "task")
_META = "router.json"
_WEIGHTS = "router.joblib"


class PromptRouter(ClassifierMixin, BaseEstimator):
    """Predict ``(language, task)`` for coding prompts.

    ``fit(prompts, y)`` takes ``y`` of shape ``(n, 2)`` (language, task); ``predict`` returns
    the same shape, ``predict_proba`` one probability array per head (like scikit-learn's
    multi-output classifiers) and ``classes_`` one label array per head.
    """

    def __init__(self, encoder: str = BUILTIN_ENCODER, C: float = 4.0, max_iter: int = 2000) -> None:
        self.encoder = encoder
        self.C = C
        self.max_iter = max_iter

    def _features(self, prompts: Sequence[str]) -> np.ndarray:
        return encode([p if p.strip() else " " for p in prompts], self.encoder)

    def fit(self, prompts: Sequence[str], y: Any) -> "PromptRouter":
        y = np.asarray(y, dtype=object)
        if y.ndim != 2 or y.shape[1] != len(HEADS) or y.shape[0] != len(prompts):
            raise ValueError(f"y must have shape ({len(prompts)}, {len(HEADS)}) for heads {HEADS}, found {y.shape}")
        X = self._features(prompts)
        self.estimators_ = [
            LogisticRegression(C=self.C, max_iter=self.max_iter).fit(X, y[:, i]) for i in range(len(HEADS))
        ]
        self.classes_ = [e.classes_ for e in self.estimators_]
        return self

    def predict_proba(self, prompts: Sequence[str]) -> list[np.ndarray]:
        X = self._features(prompts)
        return [e.predict_proba(X) for e in self.estimators_]

    def predict(self, prompts: Sequence[str]) -> np.ndarray:
        probas = self.predict_proba(prompts)
        return np.stack([c[p.argmax(axis=1)] for c, p in zip(self.classes_, probas)], axis=1)

    def score(self, prompts: Sequence[str], y: Any, sample_weight: Any = None) -> float:
        """Fraction of prompts whose language *and* task are both right."""
        y = np.asarray(y, dtype=object)
        return float(np.mean(np.all(self.predict(prompts) == y, axis=1)))

    def cues(self, prompt: str) -> list[str]:
        """Deterministic cues this router saw in the prompt (none for the embedding-only router)."""
        return []

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / _WEIGHTS)
        (directory / _META).write_text(
            json.dumps({"class": type(self).__name__, "heads": list(HEADS), "params": self.get_params()}, indent=2)
        )

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "PromptRouter":
        """Load router artifacts. They are pickled scikit-learn objects: load only trusted mixtures."""
        path = Path(directory) / _WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(f"router artifacts not found: {path}")
        router = joblib.load(path)
        if not isinstance(router, PromptRouter):
            raise ValueError(f"{path}: expected a PromptRouter, found {type(router).__name__}")
        return router
