"""The router: a scikit-learn estimator predicting language, task and (for translations) source language.

Features, concatenated into one sparse row per prompt:

1. the all-MiniLM-L6-v2 sentence embedding (what the prompt is about, in any prose language);
2. hashed character 2-4-grams and word 1-2-grams (what the code looks like: ``:=``, ``$this->``,
   ``fn main``, ``std::``);
3. the deterministic cues of :mod:`moe_coder.routing.cues` (fence tags, shebangs, file names,
   stack-trace formats, "in Rust" mentions) as 0/1 columns the model weighs like any other.

Each head is a multinomial logistic regression; :meth:`PromptRouter.calibrate` fits one
temperature per head on held-out prompts and chooses the abstain threshold there.
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from moe_coder.routing.calibration import choose_threshold, fit_temperature, scaled_proba
from moe_coder.routing.cues import CUE_NAMES, cue_matrix, extract_cues
from moe_coder.routing.encoder import BUILTIN_ENCODER, encode
from moe_coder.routing.labels import UNKNOWN
from moe_coder.routing.text import RoutingInput, split_conversation

logger = logging.getLogger(__name__)

HEADS: tuple[str, ...] = ("language", "task", "source_language")
_META = "router.json"
_WEIGHTS = "router.joblib"
#: Characters of a prompt's head and tail the n-gram features read.
_NGRAM_HEAD, _NGRAM_TAIL = 4000, 1000


def _clip(text: str) -> str:
    return text if len(text) <= _NGRAM_HEAD + _NGRAM_TAIL else text[:_NGRAM_HEAD] + "\n" + text[-_NGRAM_TAIL:]


class PromptRouter(ClassifierMixin, BaseEstimator):
    """Predict ``(language, task)`` (and ``source_language`` of translations) for coding prompts.

    ``fit(prompts, y)`` takes ``y`` of shape ``(n, 2)`` — language, task — or ``(n, 3)`` with the
    source language of translation prompts in the third column (``None`` elsewhere). Prompts are
    strings or chat ``messages`` lists (routed on the last user turn, with the earlier turns
    weighted by ``context_weight``). ``predict`` returns ``(n, 2)`` labels, ``predict_proba``
    one probability array per fitted head, ``classes_`` one label array per fitted head.
    """

    def __init__(
        self,
        encoder: str = BUILTIN_ENCODER,
        max_tokens: int = 64,
        char_features: int = 2**15,
        word_features: int = 2**14,
        embedding_weight: float = 1.0,
        cue_weight: float = 0.5,
        C: float = 8.0,
        context_weight: float = 0.3,
        max_iter: int = 300,
    ) -> None:
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.char_features = char_features
        self.word_features = word_features
        self.embedding_weight = embedding_weight
        self.cue_weight = cue_weight
        self.C = C
        self.context_weight = context_weight
        self.max_iter = max_iter

    # ------------------------------------------------------------------ features
    def _vectorizers(self) -> tuple[HashingVectorizer, HashingVectorizer]:
        chars = HashingVectorizer(
            analyzer="char", ngram_range=(2, 4), n_features=self.char_features, alternate_sign=False,
            lowercase=False, norm=None, dtype=np.float32,
        )
        words = HashingVectorizer(
            analyzer="word", ngram_range=(1, 2), n_features=self.word_features, alternate_sign=False,
            token_pattern=r"[A-Za-z_][A-Za-z0-9_]*|[\u4e00-\u9fff]|[^\sA-Za-z0-9_]{1,3}", norm=None, dtype=np.float32,
        )
        return chars, words

    def _text_features(self, texts: list[str], fit: bool = False) -> sparse.csr_matrix:
        chars, words = self._vectorizers()
        clipped = [_clip(t) for t in texts]
        lexical = sparse.hstack([chars.transform(clipped), words.transform(clipped)], format="csr")
        if fit:
            self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(lexical)
        lexical = self.tfidf_.transform(lexical)
        emb = encode(texts, self.encoder, max_tokens=self.max_tokens) * self.embedding_weight
        cues = cue_matrix((extract_cues(t) for t in texts), self.cue_names_) * self.cue_weight
        return sparse.hstack([sparse.csr_matrix(emb), lexical, cues], format="csr", dtype=np.float32)

    def transform(self, prompts: Sequence[RoutingInput], fit: bool = False) -> sparse.csr_matrix:
        """The feature matrix the heads read; a conversation mixes its last user turn and its context."""
        lasts, contexts = zip(*(split_conversation(p) for p in prompts)) if prompts else ((), ())
        X = self._text_features(list(lasts), fit=fit)
        with_context = [i for i, c in enumerate(contexts) if c]
        if with_context:
            ctx = self._text_features([contexts[i] for i in with_context])
            X = X.tolil()
            X[with_context] = (1 - self.context_weight) * X[with_context] + self.context_weight * ctx
            X = X.tocsr()
        return X

    # ------------------------------------------------------------------ estimator surface
    def fit(self, prompts: Sequence[RoutingInput], y: Any) -> "PromptRouter":
        y = np.asarray(y, dtype=object)
        if y.ndim != 2 or y.shape[1] not in (2, 3) or y.shape[0] != len(prompts):
            raise ValueError(
                f"y must have shape ({len(prompts)}, 2) for (language, task) or ({len(prompts)}, 3) with "
                f"source_language; found {y.shape}"
            )
        self.cue_names_ = list(CUE_NAMES)
        X = self.transform(prompts, fit=True)
        self.heads_ = ["language", "task"]
        self.estimators_ = [self._head(X, y[:, 0]), self._head(X, y[:, 1])]
        if y.shape[1] == 3:
            rows = np.array([s is not None and s == s for s in y[:, 2]])
            if rows.any() and len(set(y[rows, 2])) > 1:
                self.heads_.append("source_language")
                self.estimators_.append(self._head(X[rows], y[rows, 2]))
        self.classes_ = [e.classes_ for e in self.estimators_]
        self.temperatures_ = [1.0] * len(self.estimators_)
        self.abstain_threshold_ = 0.0
        return self

    def _head(self, X: sparse.csr_matrix, y: np.ndarray) -> LogisticRegression:
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, tol=1e-3).fit(X, y.astype(str))
        # half precision is what the artifact stores (it ships in the wheel); round here so the
        # fitted router and a reloaded one predict exactly alike
        model.coef_ = model.coef_.astype(np.float16).astype(np.float32)
        model.intercept_ = model.intercept_.astype(np.float32)
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        if "estimators_" in state:
            compact = []
            for estimator in state["estimators_"]:
                estimator = copy.copy(estimator)
                estimator.coef_ = estimator.coef_.astype(np.float16)
                compact.append(estimator)
            state["estimators_"] = compact
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for estimator in getattr(self, "estimators_", []):
            estimator.coef_ = estimator.coef_.astype(np.float32)

    def _logits(self, X: sparse.csr_matrix) -> list[np.ndarray]:
        out = []
        for e in self.estimators_:
            z = e.decision_function(X)
            out.append(np.stack([-z, z], axis=1) if z.ndim == 1 else z)
        return out

    def predict_proba(self, prompts: Sequence[RoutingInput]) -> list[np.ndarray]:
        """Calibrated class probabilities, one ``(n, n_classes)`` array per head in :attr:`heads_` order."""
        return self.predict_proba_features(self.transform(prompts))

    def predict_proba_features(self, X: sparse.csr_matrix) -> list[np.ndarray]:
        return [scaled_proba(z, t) for z, t in zip(self._logits(X), self.temperatures_)]

    def predict(self, prompts: Sequence[RoutingInput]) -> np.ndarray:
        probas = self.predict_proba(prompts)[:2]
        return np.stack([c[p.argmax(axis=1)] for c, p in zip(self.classes_, probas)], axis=1)

    def score(self, prompts: Sequence[RoutingInput], y: Any, sample_weight: Any = None) -> float:
        """Fraction of prompts whose language *and* task are both right."""
        y = np.asarray(y, dtype=object)[:, :2]
        return float(np.mean(np.all(self.predict(prompts) == y.astype(str), axis=1)))

    def calibrate(self, prompts: Sequence[RoutingInput], y: Any) -> "PromptRouter":
        """Fit each head's temperature on held-out prompts, then choose the abstain threshold there.

        The threshold applies to the language head's confidence (the experts are chosen by
        language) and minimises ``wrong routes + ABSTAIN_COST * abstentions``.
        """
        y = np.asarray(y, dtype=object)
        X = self.transform(prompts)
        logits = self._logits(X)
        for h, (z, classes) in enumerate(zip(logits, self.classes_)):
            if h >= y.shape[1]:
                continue
            index = {c: j for j, c in enumerate(classes)}
            rows = [i for i in range(len(y)) if y[i, h] in index]
            if len(rows) >= 10:
                self.temperatures_[h] = fit_temperature(z[rows], np.array([index[y[i, h]] for i in rows]))
        lang = scaled_proba(logits[0], self.temperatures_[0])
        confidence = lang.max(axis=1)
        correct = self.classes_[0][lang.argmax(axis=1)] == y[:, 0].astype(str)
        self.abstain_threshold_ = choose_threshold(confidence, correct)
        logger.info("temperatures %s, abstain threshold %.3f", self.temperatures_, self.abstain_threshold_)
        return self

    def cues(self, prompt: RoutingInput) -> list[str]:
        """The deterministic cues that fired on the text this router reads for ``prompt``."""
        return extract_cues(split_conversation(prompt)[0])

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / _WEIGHTS, compress=("xz", 6))
        meta = {
            "class": type(self).__name__, "heads": list(getattr(self, "heads_", HEADS[:2])), "params": self.get_params(),
            "classes": {h: [str(c) for c in cs] for h, cs in zip(getattr(self, "heads_", []), getattr(self, "classes_", []))},
            "temperatures": getattr(self, "temperatures_", None),
            "abstain_threshold": getattr(self, "abstain_threshold_", None),
            "unknown_label": UNKNOWN,
        }
        (directory / _META).write_text(json.dumps(meta, indent=2) + "\n")

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
