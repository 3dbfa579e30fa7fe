"""The router: a scikit-learn estimator predicting language, task and (for translations) source language.

Features, concatenated into one sparse row per prompt:

1. the all-MiniLM-L6-v2 sentence embedding (what the prompt is about, in any prose language);
2. hashed character 2-4-grams and word 1-2-grams (what the code looks like: ``:=``, ``$this->``,
   ``fn main``, ``std::``);
3. the deterministic cues of :mod:`moe_coder.routing.cues` (fence tags, shebangs, file names,
   stack-trace formats, "in Rust" mentions) as 0/1 columns the model weighs like any other;
4. when it is fitted with one, the :class:`~moe_coder.routing.lexicon.Lexicon` columns: per
   language, how strongly the identifiers named in the prompt's prose ("PDO", "vitest")
   belong to that language's code;
5. when it is fitted with a code corpus, the per-language probabilities of a
   :class:`~moe_coder.routing.code_language.CodeLanguageIdentifier` reading the prompt's code
   only, learned from many more windows of code than the prompts carry;
6. with the code identifier and ``grammar_weight > 0``, the
   :class:`~moe_coder.routing.grammar.GrammarEvidence` columns: how cleanly the tree-sitter
   grammars of the identifier's ``grammar_candidates`` most likely languages parse the prompt's
   code, and which language-distinctive nodes they find. Off by default: a router trained with
   them at weight 1 was worse on the test split (docs/router.md, "Grammar evidence").

Each head is a multinomial logistic regression, fitted to convergence (``tol=1e-5``: stopping
at 1e-3 cost about a point of accuracy on both heads); :meth:`PromptRouter.calibrate` fits one
temperature per head on held-out prompts. The router only scores labels: which expert answers,
and when to abstain, is the mixture's decision (:mod:`moe_coder.decisions`).

Cascade: encoding a prompt with MiniLM costs far more than everything else together, and most
prompts that carry code are settled by their n-grams and cues alone. So the router also fits
*fast heads* on features 2 to 5 only (:attr:`PromptRouter.full_heads_` and
:attr:`PromptRouter.fast_heads_`, one :class:`~moe_coder.routing.heads.HeadStack` each). A prompt whose fast-head confidence (on both language
and task) reaches ``fast_threshold_`` is answered by them; every other prompt is encoded and
answered by the full heads. :meth:`PromptRouter.calibrate` chooses ``fast_threshold_`` as the
lowest value at which the cascade is no less accurate than the full heads on the held-out
prompts, up to ``cascade_tolerance`` (``cascade=False`` always uses the full heads). Either way a prompt's route depends
only on that prompt, never on the rest of its batch.

With ``label_constraints`` (on by default), what the labels' definitions rule out
(:mod:`moe_coder.routing.constraints`): code whose every fenced block is tagged with one label
language is in that language (set in the heads of the code's language, before the
translation-target mixture); after the heads, a prompt that names exactly one label language and
shows no code is not ``unknown``, and a prompt without code is neither a translation nor a
completion. Heads that never saw a request's style can break any of these with confidence.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from moe_coder.atomic import atomic_output, write_text_atomic
from moe_coder.jsonl import read_json
from moe_coder.routing.code_language import CodeCorpus, CodeLanguageIdentifier, ngram_vectorizers, out_of_fold_proba
from moe_coder.routing.calibration import fit_temperature
from moe_coder.routing.cues import CUE_NAMES, cue_matrix, extract_cues
from moe_coder.routing.encoder import BUILTIN_ENCODER, encode
from moe_coder.routing.grammar import GRAMMAR_LANGUAGES, GrammarEvidence
from moe_coder.routing.constraints import CodeEvidence, apply_label_constraints, constraint_inputs
from moe_coder.routing.hashing import tfidf_transform
from moe_coder.routing.heads import HeadStack, logits
from moe_coder.routing.labels import HEADS, UNKNOWN
from moe_coder.routing.lexicon import Lexicon, PackageNames
from moe_coder.routing.text import RoutingInput, split_conversation

logger = logging.getLogger(__name__)

_META = "router.json"
_WEIGHTS = "router.npz"
_PACKAGES = "packages.tsv.gz"
#: Characters of a prompt's head and tail the n-gram features read.
_NGRAM_HEAD, _NGRAM_TAIL = 4000, 1000


#: Prompts a large batch is routed in at a time (see :meth:`PromptRouter._route_texts`).
ROUTE_CHUNK = 128


def _usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _clip(text: str) -> str:
    return text if len(text) <= _NGRAM_HEAD + _NGRAM_TAIL else text[:_NGRAM_HEAD] + "\n" + text[-_NGRAM_TAIL:]


def _finite_or_none(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _temperature(logits: np.ndarray, classes: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> float:
    """The temperature fitted on the chosen rows whose label the head knows (1.0 with under 10 such rows)."""
    index = {str(c): j for j, c in enumerate(classes)}
    keep = [i for i in np.flatnonzero(rows) if labels[i] is not None and str(labels[i]) in index]
    if len(keep) < 10:
        return 1.0
    return fit_temperature(logits[keep], np.array([index[str(labels[i])] for i in keep]))


class PromptRouter(ClassifierMixin, BaseEstimator):
    """Predict ``(language, task)`` (and ``source_language`` of translations) for coding prompts.

    ``fit(prompts, y)`` takes ``y`` of shape ``(n, 2)`` — language, task — or ``(n, 3)`` with the
    source language of translation prompts in the third column (``None`` elsewhere). Prompts are
    strings or chat ``messages`` lists (routed on the last user turn, falling back on the earlier
    turns as far as it is unsure: see :meth:`predict_proba_with_cues`). ``predict`` returns
    ``(n, 2)`` labels, ``predict_proba`` one probability array per fitted head, ``classes_`` one
    label array per fitted head.
    """

    def __init__(
        self,
        encoder: str = BUILTIN_ENCODER,
        max_tokens: int = 64,
        encoder_precision: str = "auto",
        char_features: int = 2**15,
        word_features: int = 2**14,
        embedding_weight: float = 1.0,
        cue_weight: float = 0.5,
        lexicon_weight: float = 0.5,
        code_weight: float = 1.0,
        grammar_weight: float = 0.0,
        grammar_candidates: int = 3,
        C: float = 8.0,
        max_iter: int = 2000,
        tol: float = 1e-5,
        cascade: bool = True,
        cascade_tolerance: float = 0.002,
        translate_target: bool = True,
        label_constraints: bool = True,
    ) -> None:
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.encoder_precision = encoder_precision
        self.cascade = cascade
        self.cascade_tolerance = cascade_tolerance
        self.translate_target = translate_target
        self.label_constraints = label_constraints
        self.char_features = char_features
        self.word_features = word_features
        self.embedding_weight = embedding_weight
        self.cue_weight = cue_weight
        self.lexicon_weight = lexicon_weight
        self.code_weight = code_weight
        self.grammar_weight = grammar_weight
        self.grammar_candidates = grammar_candidates
        self.C = C
        self.max_iter = max_iter
        self.tol = tol

    # ------------------------------------------------------------------ features
    def _fast_transform(
        self, texts: list[str], fit: bool = False, code_proba: np.ndarray | None = None,
    ) -> tuple[sparse.csr_matrix, list[list[str]]]:
        """The fast heads' features of plain texts (2 to 6: n-grams, cues, lexicon, code identifier, grammars),
        and the cues that fired on each (with the lexicon's ``library:NAME>LANGUAGE`` hits).
        ``code_proba`` replaces the identifier's own outputs (:meth:`fit` passes out-of-fold ones)."""
        chars, words = ngram_vectorizers(self.char_features, self.word_features)
        clipped = [_clip(t) for t in texts]
        lexical = sparse.hstack([chars.transform(clipped), words.transform(clipped)], format="csr")
        if fit:
            self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(lexical)
        lexical = tfidf_transform(self.tfidf_, lexical)
        cue_lists = [extract_cues(t) for t in texts]
        cues = cue_matrix(cue_lists, self.cue_names_) * self.cue_weight
        blocks = [lexical, cues]
        if self.lexicon_ is not None:
            L, names = self.lexicon_.lookup(texts)
            blocks.append(sparse.csr_matrix(L * self.lexicon_weight))
            cue_lists = [cues_i + names_i for cues_i, names_i in zip(cue_lists, names)]
        if self.code_model_ is not None:
            P = code_proba if code_proba is not None else self.code_model_.predict_proba(texts)
            blocks.append(sparse.csr_matrix(P * self.code_weight))
            if getattr(self, "grammar_", None) is not None:
                G = self.grammar_.features(texts, P, [str(c) for c in self.code_model_.classes_])
                blocks.append(sparse.csr_matrix(G * self.grammar_weight))
        return sparse.hstack(blocks, format="csr", dtype=np.float32), cue_lists

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Feature 1: the sentence embeddings of plain texts, scaled by ``embedding_weight``."""
        return encode(texts, self.encoder, max_tokens=self.max_tokens, precision=self.encoder_precision) * self.embedding_weight

    def transform(self, prompts: Sequence[RoutingInput], fit: bool = False, code_proba: np.ndarray | None = None) -> sparse.csr_matrix:
        """The full heads' feature matrix of each prompt's text (a conversation's last user turn):
        the embedding's columns, then the fast heads' ones."""
        texts = [split_conversation(p)[0] for p in prompts]
        return self._features(texts, fit=fit, code_proba=code_proba)[0]

    def _features(self, texts: list[str], fit: bool = False, code_proba: np.ndarray | None = None) -> tuple[sparse.csr_matrix, int]:
        """:meth:`transform` of plain texts, and the first column of the fast heads' part of it."""
        F, _ = self._fast_transform(texts, fit=fit, code_proba=code_proba)
        E = self._embed(texts)
        return sparse.hstack([sparse.csr_matrix(E), F], format="csr", dtype=np.float32), E.shape[1]

    # ------------------------------------------------------------------ estimator surface
    def fit(
        self, prompts: Sequence[RoutingInput], y: Any, lexicon: Lexicon | None = None,
        code_corpus: CodeCorpus | None = None, groups: Sequence[str] | None = None,
    ) -> "PromptRouter":
        """Fit every head on ``prompts`` and their ``(language, task[, source_language])`` rows.

        ``lexicon``, when given, adds its per-language columns (feature 4) and is kept in
        :attr:`lexicon_` and in the saved artifacts. ``code_corpus``, when given, trains the code
        identifier of feature 5 (kept in :attr:`code_model_`), whose top languages the grammar
        evidence of feature 6 parses (kept in :attr:`grammar_`); ``groups`` names the source of each
        prompt, so that a prompt's identifier outputs come from an identifier fitted without the
        corpus windows of its source (see :func:`~moe_coder.routing.code_language.out_of_fold_proba`).
        """
        y = np.asarray(y, dtype=object)
        if y.ndim != 2 or y.shape[1] not in (2, 3) or y.shape[0] != len(prompts):
            raise ValueError(
                f"y must have shape ({len(prompts)}, 2) for (language, task) or ({len(prompts)}, 3) with "
                f"source_language; found {y.shape}"
            )
        self.cue_names_ = list(CUE_NAMES)
        self.lexicon_ = lexicon if lexicon is not None and len(lexicon) else None
        self.code_model_, code_proba = None, None
        texts = [split_conversation(p)[0] for p in prompts]
        if code_corpus is not None and len(code_corpus):
            if groups is not None and len(groups) != len(prompts):
                raise ValueError(f"groups must name the source of each of the {len(prompts)} prompts; found {len(groups)}")
            identifier = CodeLanguageIdentifier(self.char_features, self.word_features)
            self.code_model_, code_proba = out_of_fold_proba(identifier, code_corpus, texts, groups)
        self.grammar_ = None
        if self.code_model_ is not None and self.grammar_weight > 0:
            languages = [lang for lang in GRAMMAR_LANGUAGES if lang in set(map(str, self.code_model_.classes_))]
            self.grammar_ = GrammarEvidence(languages, self.grammar_candidates)
        X, fast_first_column = self._features(texts, fit=True, code_proba=code_proba)
        return self.fit_heads(X, y, fast_first_column)

    def fit_heads(self, X: sparse.csr_matrix, y: Any, fast_first_column: int | None = None) -> "PromptRouter":
        """Fit the heads alone on rows of a fitted router's :meth:`transform` (its feature state,
        the lexicon, code identifier and grammar evidence, is kept).

        :meth:`fit` ends here; evaluation that holds out whole prompt families refits only the
        heads on the rows outside a family (``benchmarks/router.py --held-out-families``).
        ``fast_first_column`` is where the fast heads' columns begin (the embedding's width);
        ``None`` fits no fast heads.
        """
        y = np.asarray(y, dtype=object)
        if y.ndim != 2 or y.shape[1] not in (2, 3) or y.shape[0] != X.shape[0]:
            raise ValueError(f"y must have shape ({X.shape[0]}, 2) or ({X.shape[0]}, 3); found {y.shape}")
        self.heads_ = ["language", "task"]
        source_rows = np.zeros(len(y), dtype=bool)
        if y.shape[1] == 3:
            source_rows = np.array([s is not None and s == s for s in y[:, 2]])
            if source_rows.any() and len(set(y[source_rows, 2])) > 1:
                self.heads_.append("source_language")
        translate_rows = y[:, 1].astype(str) == "translate"
        split = bool(
            self.translate_target and 2 <= translate_rows.sum() < len(y) - 1
            and len(set(y[translate_rows, 0])) > 1 and len(set(y[~translate_rows, 0])) > 1
        )
        language_rows = ~translate_rows if split else np.ones(len(y), dtype=bool)

        def fit_stack(first_column: int) -> HeadStack:
            M = X[:, first_column:] if first_column else X
            estimators = [self._head(M[language_rows], y[language_rows, 0]), self._head(M, y[:, 1])]
            if "source_language" in self.heads_:
                estimators.append(self._head(M[source_rows], y[source_rows, 2]))
            target = self._head(M[translate_rows], y[translate_rows, 0]) if split else None
            return HeadStack(estimators, target=target, first_column=first_column)

        self.full_heads_ = fit_stack(0)
        self.fast_heads_ = fit_stack(fast_first_column) if self.cascade and fast_first_column else None
        full = self.full_heads_
        languages = set(full.estimators[0].classes_)
        if full.target is not None:
            languages |= set(full.target.classes_)
        self.classes_ = [np.array(sorted(languages))] + [e.classes_ for e in full.estimators[1:]]
        self.fast_threshold_ = float("inf")  # until calibrate() measures where the fast heads can be trusted
        self.held_out_style_ = None  # new heads: no held-out-style calibration describes them
        return self

    def _head(self, X: sparse.csr_matrix, y: np.ndarray) -> LogisticRegression:
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, tol=self.tol).fit(X, y.astype(str))
        # half precision is what the artifact stores (it ships in the wheel); round here so the
        # fitted router and a reloaded one predict exactly alike
        model.coef_ = model.coef_.astype(np.float16).astype(np.float32)
        model.intercept_ = model.intercept_.astype(np.float32)
        return model

    @property
    def uses_cascade(self) -> bool:
        """Whether the fast heads answer the prompts they are sure of (fitted with ``cascade=True``
        and calibrated to a finite ``fast_threshold_``)."""
        return getattr(self, "fast_heads_", None) is not None and bool(np.isfinite(getattr(self, "fast_threshold_", np.inf)))

    @staticmethod
    def _fast_confidence(probas: list[np.ndarray]) -> np.ndarray:
        """How sure the fast heads are of a prompt: the smaller of the language and task confidences."""
        return np.minimum(probas[0].max(axis=1), probas[1].max(axis=1))

    def _route_texts(self, texts: list[str]) -> tuple[list[np.ndarray], list[list[str]], np.ndarray]:
        """Probabilities of plain texts through the cascade, their cues, and which ones were encoded.

        A batch larger than :data:`ROUTE_CHUNK` is routed a chunk at a time, and on a machine with
        more than one core the prompts a chunk sends to the encoder are encoded in a second thread
        while the next chunk's fast features are computed (the traced encoder runs without the
        interpreter lock, and the fast features are Python): the two halves of the work overlap
        instead of adding up. Once the fast features are done, this thread encodes the chunks the
        worker has not started, from the last one back. Every prompt's features and probabilities
        are computed exactly as they would be alone, whichever thread encodes it.
        """
        n = len(texts)
        probas = [np.zeros((n, len(c))) for c in self.classes_]
        cue_lists: list[list[str]] = []
        used_full = np.zeros(n, dtype=bool)
        chunks = [range(start, min(start + ROUTE_CHUNK, n)) for start in range(0, n, ROUTE_CHUNK)]
        pending: list[tuple[np.ndarray, sparse.csr_matrix, Any]] = []
        evidence = self._evidence(texts)
        pool = ThreadPoolExecutor(max_workers=1) if len(chunks) > 1 and _usable_cores() > 1 else None
        try:
            for chunk in chunks:
                F, cues = self._fast_transform([texts[i] for i in chunk])
                cue_lists.extend(cues)
                rows = np.arange(chunk.start, chunk.stop)
                if self.uses_cascade:
                    fast = self.fast_heads_.proba(F, self.classes_, None if evidence is None else evidence.take(chunk))
                    for p, q in zip(probas, fast):
                        p[rows] = q
                    slow = np.flatnonzero(self._fast_confidence(fast) < self.fast_threshold_)
                else:
                    slow = np.arange(len(rows))
                if len(slow):
                    slow_texts = [texts[rows[i]] for i in slow]
                    embedding = pool.submit(self._embed, slow_texts) if pool else self._embed(slow_texts)
                    pending.append((rows[slow], F[slow], slow_texts, embedding))
            embeddings = [None if pool else e for *_, e in pending]
            if pool:
                # the fast features are done: this thread encodes the last chunks the worker has
                # not started, while the worker finishes the earlier ones
                for k in reversed(range(len(pending))):
                    if pending[k][3].cancel():
                        embeddings[k] = self._embed(pending[k][2])
            for k, (slow_rows, F_slow, _, embedding) in enumerate(pending):
                E = embeddings[k] if embeddings[k] is not None else embedding.result()
                X = sparse.hstack([sparse.csr_matrix(E), F_slow], format="csr", dtype=np.float32)
                slow_evidence = None if evidence is None else evidence.take(slow_rows)
                for p, full in zip(probas, self.predict_proba_features(X, slow_evidence)):
                    p[slow_rows] = full
                used_full[slow_rows] = True
        finally:
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)
        return probas, cue_lists, used_full

    def predict_proba_with_cues(self, prompts: Sequence[RoutingInput]) -> tuple[list[np.ndarray], list[list[str]], np.ndarray]:
        """:meth:`predict_proba`, plus each prompt's cues and whether the full heads answered it.

        A conversation's last user turn is routed on its own; each head then mixes in the earlier
        turns' probabilities with weight ``1 - (the last turn's confidence on that head)``. A last
        turn that names its language decides alone; "why does it crash?" takes its language from
        the code pasted before, and keeps its own task. With ``label_constraints`` the rules of
        :mod:`moe_coder.routing.constraints` apply last.
        """
        pairs = [split_conversation(p) for p in prompts]
        probas, cue_lists, used_full = self._route_texts([last for last, _ in pairs])
        rows = [i for i, (_, context) in enumerate(pairs) if context]
        if rows:
            earlier, _, earlier_full = self._route_texts([pairs[i][1] for i in rows])
            for p, q in zip(probas, earlier):
                w = 1.0 - p[rows].max(axis=1, keepdims=True)
                p[rows] = (1.0 - w) * p[rows] + w * q
            used_full[rows] |= earlier_full
        if self.label_constraints:
            inputs = constraint_inputs([last for last, _ in pairs], [context for _, context in pairs], cue_lists)
            probas = apply_label_constraints(probas, self.heads_, self.classes_, *inputs)
        return probas, cue_lists, used_full

    def predict_proba(self, prompts: Sequence[RoutingInput]) -> list[np.ndarray]:
        """Calibrated class probabilities, one ``(n, n_classes)`` array per head in :attr:`heads_` order."""
        return self.predict_proba_with_cues(prompts)[0]

    def predict_proba_features(self, X: sparse.csr_matrix, evidence: CodeEvidence | None = None) -> list[np.ndarray]:
        """The full heads' calibrated probabilities for a :meth:`transform` matrix; ``evidence``, what
        the rows' texts say about their code's language (:meth:`_evidence`), as :meth:`HeadStack.proba
        <moe_coder.routing.heads.HeadStack.proba>` takes it."""
        return self.full_heads_.proba(X, self.classes_, evidence)

    def _evidence(self, texts: Sequence[str]) -> CodeEvidence | None:
        """What each text says about its code's language, its fence tags and the grammars that parse
        it (:class:`~moe_coder.routing.constraints.CodeEvidence`), when the router applies its
        label constraints; else ``None``."""
        if not self.label_constraints:
            return None
        return CodeEvidence.of(texts)

    def predict(self, prompts: Sequence[RoutingInput]) -> np.ndarray:
        return self.labels(self.predict_proba(prompts))

    def labels(self, probas: list[np.ndarray]) -> np.ndarray:
        """``(n, 2)`` (language, task) labels from :meth:`predict_proba`'s output."""
        return np.stack([c[p.argmax(axis=1)] for c, p in zip(self.classes_, probas[:2])], axis=1)

    @staticmethod
    def joint_accuracy(predicted: np.ndarray, y: Any) -> float:
        """Fraction of rows whose language *and* task are both right."""
        y = np.asarray(y, dtype=object)[:, :2]
        return float(np.mean(np.all(predicted == y.astype(str), axis=1)))

    def score(self, prompts: Sequence[RoutingInput], y: Any, sample_weight: Any = None) -> float:
        """Fraction of prompts whose language *and* task are both right."""
        return self.joint_accuracy(self.predict(prompts), y)

    def calibrate(self, prompts: Sequence[RoutingInput], y: Any) -> "PromptRouter":
        """On held-out prompts: fit each head's temperature, then choose the cascade's ``fast_threshold_``.

        The abstain threshold is not the router's: a mixture chooses it on its experts'
        confidence (:meth:`moe_coder.mixture.MoECoder.calibrate`).
        """
        y = np.asarray(y, dtype=object)
        X = self.transform(prompts)
        # the temperatures are fitted afresh: a held-out-style record no longer describes them
        self.held_out_style_ = None
        evidence = self._evidence([split_conversation(p)[0] for p in prompts])
        full = self._calibrate_stack(self.full_heads_, X, y, evidence)
        if self.fast_heads_ is not None:
            fast = self._calibrate_stack(self.fast_heads_, X, y, evidence)
            self.fast_threshold_ = self._choose_fast_threshold(fast, full, y)
            accept = self._fast_confidence(fast) >= self.fast_threshold_
            logger.info("cascade: fast heads answer %.1f%% of held-out prompts (threshold %.4f)",
                        100 * accept.mean(), self.fast_threshold_)
        logger.info("temperatures %s", self.full_heads_.temperatures)
        return self

    def choose_fast_threshold(self, prompts: Sequence[RoutingInput], y: Any,
                              features: sparse.csr_matrix | None = None) -> "PromptRouter":
        """Choose the cascade's ``fast_threshold_`` again on held-out prompts, with the temperatures
        as they are (after :meth:`HeldOutStyle.apply <moe_coder.routing.held_out.HeldOutStyle.apply>`
        has changed them, say). ``features``, the prompts' :meth:`transform` rows when the caller
        already has them, saves encoding the prompts again."""
        if self.fast_heads_ is None:
            return self
        y = np.asarray(y, dtype=object)
        X = self.transform(prompts) if features is None else features
        if X.shape[0] != len(y):
            raise ValueError(f"features have {X.shape[0]} rows for {len(y)} prompts")
        evidence = self._evidence([split_conversation(p)[0] for p in prompts])
        full = self.full_heads_.proba(X, self.classes_, evidence)
        fast = self.fast_heads_.proba(self.fast_heads_.columns(X), self.classes_, evidence)
        self.fast_threshold_ = self._choose_fast_threshold(fast, full, y)
        return self

    def _calibrate_stack(self, heads: HeadStack, X: sparse.csr_matrix, y: np.ndarray,
                         evidence: CodeEvidence | None = None) -> list[np.ndarray]:
        """Fit the temperatures of one set of heads on held-out rows (``X``: full feature rows);
        return its calibrated probabilities (with the rows' code ``evidence``, as routing uses it)."""
        X = heads.columns(X)
        translate = y[:, 1].astype(str) == "translate"
        everything = np.ones(len(y), dtype=bool)
        temperatures = []
        for h, e in enumerate(heads.estimators):
            rows = ~translate if h == 0 and heads.target is not None else everything
            temperatures.append(_temperature(logits(e, X), e.classes_, y[:, h], rows) if h < y.shape[1] else 1.0)
        heads.temperatures = temperatures
        if heads.target is not None:
            heads.target_temperature = _temperature(logits(heads.target, X), heads.target.classes_, y[:, 0], translate)
        return heads.proba(X, self.classes_, evidence)

    def _choose_fast_threshold(self, fast: list[np.ndarray], full: list[np.ndarray], y: np.ndarray) -> float:
        """The lowest fast-head confidence above which the cascade loses (almost) no held-out accuracy.

        Accepting the fast heads' answer for every prompt at or above a threshold, the cascade
        must be right on language and on task at least as often as the full heads alone, less
        ``cascade_tolerance`` (a fraction of the held-out prompts: 0.001 is 0.1 points of accuracy).
        """
        conf = self._fast_confidence(fast)
        order = np.argsort(-conf, kind="stable")
        gains = []
        for h in (0, 1):
            truth = y[:, h].astype(str)
            fast_ok = self.classes_[h][fast[h].argmax(axis=1)] == truth
            full_ok = self.classes_[h][full[h].argmax(axis=1)] == truth
            # accepting the k most confident prompts changes the number right by this much
            gains.append(np.concatenate([[0], np.cumsum((fast_ok.astype(int) - full_ok.astype(int))[order])]))
        allowed = -self.cascade_tolerance * len(conf)
        ok = (gains[0] >= allowed) & (gains[1] >= allowed)
        # a threshold accepts every prompt of equal confidence, so only cuts between distinct values count
        ranked = conf[order]
        cut = np.concatenate([[True], ranked[1:] < ranked[:-1], [True]])
        k = int(np.flatnonzero(ok & cut)[-1])  # the most prompts the fast heads may answer
        return float(ranked[k - 1]) if k > 0 else float("inf")

    def cues(self, prompt: RoutingInput) -> list[str]:
        """The deterministic cues that fired on the text this router reads for ``prompt``, and the
        library names its lexicon found there."""
        text = split_conversation(prompt)[0]
        names = self.lexicon_.lookup([text])[1][0] if self.lexicon_ is not None else []
        return extract_cues(text) + names

    # ------------------------------------------------------------------ persistence
    def _fitted_estimators(self) -> dict[str, LogisticRegression]:
        """Every fitted head by its artifact name: ``head0`` ... (:attr:`heads_` order), ``target``, and ``fast_`` ones."""
        out: dict[str, LogisticRegression] = {}
        for prefix, heads in (("", getattr(self, "full_heads_", None)), ("fast_", getattr(self, "fast_heads_", None))):
            if heads is not None:
                out.update(heads.named(prefix))
        return out

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``router.json`` (settings, labels, calibration) and ``router.npz`` (weights; no pickle).

        Both files are written atomically; weights are stored in half precision, which is also
        what the fitted router predicts with.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        estimators = self._fitted_estimators()
        full, fast = getattr(self, "full_heads_", None), getattr(self, "fast_heads_", None)
        arrays: dict[str, np.ndarray] = {}
        for name, estimator in estimators.items():
            arrays[f"{name}.coef"] = estimator.coef_.astype(np.float16)
            arrays[f"{name}.intercept"] = estimator.intercept_.astype(np.float32)
        if hasattr(self, "tfidf_"):
            arrays["tfidf.idf"] = self.tfidf_.idf_.astype(np.float32)
        lexicon = getattr(self, "lexicon_", None)
        if lexicon is not None:
            arrays.update(lexicon.to_arrays())
        code_model = getattr(self, "code_model_", None)
        if code_model is not None:
            arrays.update(code_model.to_arrays())
        grammar = getattr(self, "grammar_", None)
        with atomic_output(directory / _WEIGHTS) as fh:
            np.savez_compressed(fh, **arrays)
        packages = lexicon.packages if lexicon is not None else None
        if packages is not None:
            packages.save(directory / _PACKAGES)
        meta = {
            "class": type(self).__name__, "format": 2, "heads": list(getattr(self, "heads_", HEADS[:2])),
            "params": self.get_params(),
            "classes": {h: [str(c) for c in cs] for h, cs in zip(getattr(self, "heads_", []), getattr(self, "classes_", []))},
            "estimator_classes": {name: [str(c) for c in e.classes_] for name, e in estimators.items()},
            "cue_names": list(getattr(self, "cue_names_", [])),
            "lexicon_languages": lexicon.languages if lexicon is not None else None,
            "lexicon_packages": _PACKAGES if packages is not None else None,
            "code_languages": [str(c) for c in code_model.classes_] if code_model is not None else None,
            "grammar_languages": grammar.languages if grammar is not None else None,
            "temperatures": full.temperatures if full is not None else None,
            "target_temperature": full.target_temperature if full is not None else None,
            "fast_temperatures": fast.temperatures if fast is not None else None,
            "fast_target_temperature": fast.target_temperature if fast is not None else None,
            "fast_threshold": _finite_or_none(getattr(self, "fast_threshold_", None)),
            "unknown_label": UNKNOWN,
        }
        if getattr(self, "held_out_style_", None):
            meta["held_out_style"] = self.held_out_style_
        write_text_atomic(directory / _META, json.dumps(meta, indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "PromptRouter":
        """Load the artifacts :meth:`save_pretrained` wrote. Nothing in them is executed: the
        weights are plain arrays (``numpy.load(allow_pickle=False)``) and the rest is JSON."""
        directory = Path(directory)
        meta_path, weights_path = directory / _META, directory / _WEIGHTS
        meta = read_json(meta_path, "router artifacts")
        if not weights_path.is_file():
            raise FileNotFoundError(f"router artifacts not found: {weights_path}")
        if not isinstance(meta, dict) or meta.get("class") != cls.__name__ or meta.get("format") != 2:
            found = f"{meta.get('class')!r} format {meta.get('format')!r}" if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"{meta_path}: expected a {cls.__name__} saved in format 2, found {found} "
                             "(retrain it with `moe-coder train-router`)")
        router = cls(**_checked_params(cls, meta.get("params"), meta_path))
        try:
            with np.load(weights_path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{weights_path}: unreadable router weights: {exc}") from exc
        try:
            fitted = {name: _restore_head(arrays[f"{name}.coef"], arrays[f"{name}.intercept"], classes, router.C)
                      for name, classes in meta["estimator_classes"].items()}
        except KeyError as exc:
            raise ValueError(f"{weights_path}: missing array {exc} for a head named in {meta_path.name}") from exc
        except ValueError as exc:
            raise ValueError(f"{weights_path}: {exc}") from None
        for in_fast_stack in (False, True):
            widths = {name: head.n_features_in_ for name, head in fitted.items()
                      if name.startswith("fast_") == in_fast_stack}
            if len(set(widths.values())) > 1:
                raise ValueError(f"{weights_path}: heads of one stack disagree on their input width {widths}")
        router.cue_names_ = list(meta["cue_names"])
        languages = meta.get("lexicon_languages")
        if languages and "lexicon.tokens" not in arrays:
            raise ValueError(f"{weights_path}: {meta_path.name} names a lexicon but the weights hold none")
        packages = None
        if languages and meta.get("lexicon_packages"):
            packages_path = directory / str(meta["lexicon_packages"])
            if not packages_path.is_file():
                raise FileNotFoundError(f"{meta_path.name} names package names the artifacts lack: {packages_path}")
            packages = PackageNames.load(packages_path)
        router.lexicon_ = Lexicon.from_arrays(languages, arrays, packages) if languages else None
        code_languages = meta.get("code_languages")
        if code_languages and "code.coef" not in arrays:
            raise ValueError(f"{weights_path}: {meta_path.name} names a code identifier but the weights hold none")
        try:
            router.code_model_ = CodeLanguageIdentifier.from_arrays(
                code_languages, arrays, router.char_features, router.word_features) if code_languages else None
        except ValueError as exc:
            raise ValueError(f"{weights_path}: {exc}") from None
        grammar_languages = meta.get("grammar_languages")
        if grammar_languages and router.code_model_ is None:
            raise ValueError(f"{meta_path}: grammar evidence needs the code identifier, which the artifacts lack")
        try:
            router.grammar_ = GrammarEvidence(grammar_languages, router.grammar_candidates) if grammar_languages else None
        except ValueError as exc:
            raise ValueError(f"{meta_path}: {exc}") from None
        router.heads_ = list(meta["heads"])
        router.tfidf_ = TfidfTransformer(sublinear_tf=True)
        router.tfidf_.idf_ = arrays["tfidf.idf"].astype(np.float64)
        router.full_heads_ = HeadStack.from_named(fitted, "", meta.get("temperatures"), meta.get("target_temperature"))
        fast = HeadStack.from_named(fitted, "fast_", meta.get("fast_temperatures"), meta.get("fast_target_temperature"))
        if fast is not None:  # the fast heads read everything after the embedding
            fast.first_column = router.full_heads_.estimators[0].n_features_in_ - fast.estimators[0].n_features_in_
        router.fast_heads_ = fast
        router.classes_ = [np.array(meta["classes"][h]) for h in router.heads_]
        threshold = meta.get("fast_threshold")
        router.fast_threshold_ = float(threshold) if threshold is not None else float("inf")
        if isinstance(meta.get("held_out_style"), dict):
            router.held_out_style_ = meta["held_out_style"]
        return router


def _checked_params(cls: type, params: Any, where: Path) -> dict[str, Any]:
    """``params`` from ``router.json``, refused unless every key is a parameter of *cls* and every
    value has the type of that parameter's default (a float may be written as an integer)."""
    if not isinstance(params, dict):
        raise ValueError(f"{where}: 'params' must be an object, found {type(params).__name__}")
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"{where}: unknown router parameter(s) {unknown}; expected some of {sorted(defaults)}")
    for name, value in params.items():
        default = defaults[name]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ValueError(f"{where}: router parameter {name!r} must be a {type(default).__name__}, found {value!r}")
    return params


def _restore_head(coef: np.ndarray, intercept: np.ndarray, classes: list[str], C: float) -> LogisticRegression:
    """A fitted logistic regression from its saved weights (shapes checked against its classes)."""
    rows = 1 if len(classes) == 2 else len(classes)
    if coef.ndim != 2 or coef.shape[0] != rows or intercept.shape != (rows,):
        raise ValueError(f"a head with {len(classes)} classes needs coefficients of shape ({rows}, features) and "
                         f"{rows} intercepts, found {coef.shape} and {intercept.shape}")
    head = LogisticRegression(C=C)
    head.coef_ = coef.astype(np.float32)
    head.intercept_ = intercept.astype(np.float32)
    head.classes_ = np.array(classes)
    head.n_features_in_ = coef.shape[1]
    return head
