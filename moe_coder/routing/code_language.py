"""A code-language identifier: which language the code pasted in a prompt is written in.

The router's own n-gram features see each prompt's code once, inside a few thousand training
prompts. Short fragments (three lines of Go, a PHP interface without a ``$``) need more code
than that to tell apart, and most of the code in the packages the training data is cut from is
never wrapped into a prompt. So ``router_training/build_data.py`` also writes a *code corpus*
(``code.jsonl.gz``: windows of code cut from the training-split packages, with their language
and source), and :class:`CodeLanguageIdentifier` learns from it, reading only code:

* :meth:`CodeLanguageIdentifier.fit` fits a linear classifier (logistic loss, SGD, classes
  balanced) over the router's character 2-4-grams and word 1-2-grams of each window;
* :meth:`CodeLanguageIdentifier.predict_proba` reads a prompt's code only
  (:func:`~moe_coder.routing.cues.code_outside_prose`) and gives per-language probabilities,
  a row of zeros for a prompt without code.

The router takes these probabilities as one more feature group, so it weighs them against the
cues, the prose and the embedding (a translation's code names its source, not its target).
Fitting the router on the identifier's outputs for its own training prompts would teach it to
trust them too much when the corpus holds the very files those prompts were cut from, so
:func:`out_of_fold_proba` gives each training prompt the output of an identifier fitted
without the prompt's source.
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

from moe_coder.jsonl import iter_jsonl
from moe_coder.routing.cues import code_outside_prose
from moe_coder.routing.hashing import CharNgramHasher, tfidf_transform
from moe_coder.routing.heads import linear_scores
from moe_coder.routing.labels import LANGUAGES

#: Word tokens of the n-gram features: identifiers, single CJK characters, runs of 1-3 symbols.
WORD_TOKENS = r"[A-Za-z_][A-Za-z0-9_]*|[\u4e00-\u9fff]|[^\sA-Za-z0-9_]{1,3}"
#: Characters of a prompt's code the identifier reads.
_MAX_CODE = 5000


def ngram_vectorizers(char_features: int, word_features: int) -> tuple[CharNgramHasher, HashingVectorizer]:
    """Hashed character 2-4-grams (case kept) and word 1-2-grams (lowercased), shared by the router and the identifier.

    The character n-grams are :class:`~moe_coder.routing.hashing.CharNgramHasher`'s: the matrix of
    scikit-learn's ``HashingVectorizer(analyzer="char", ngram_range=(2, 4), lowercase=False,
    alternate_sign=False, norm=None)``, computed with numpy.
    """
    chars = CharNgramHasher(n_features=char_features, ngram_range=(2, 4), dtype=np.float32)
    words = HashingVectorizer(
        analyzer="word", ngram_range=(1, 2), n_features=word_features, alternate_sign=False,
        token_pattern=WORD_TOKENS, norm=None, dtype=np.float32,
    )
    return chars, words


@dataclass
class CodeCorpus:
    """Windows of code with their language and the source (package, folder) they were cut from."""

    codes: list[str]
    languages: list[str]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def load(cls, path: str | Path) -> "CodeCorpus":
        """Read ``{"code", "language", "source"}`` lines (``.jsonl`` or ``.jsonl.gz``); a malformed
        line, a missing key or an unknown language is a ``ValueError`` naming file and line."""
        codes, languages, sources = [], [], []
        for where, row in iter_jsonl(path, required=("code", "language"), what="code corpus"):
            if not isinstance(row["code"], str):
                raise ValueError(f"{where}: 'code' must be a string")
            if row["language"] not in LANGUAGES:
                raise ValueError(f"{where}: unknown language {row['language']!r}; expected one of {list(LANGUAGES)}")
            codes.append(row["code"])
            languages.append(row["language"])
            sources.append(str(row.get("source", "")))
        if not codes:
            raise ValueError(f"{path}: no code in the corpus")
        return cls(codes, languages, sources)


class CodeLanguageIdentifier:
    """Per-language probabilities of the code in a text (zeros where the text has none)."""

    def __init__(self, char_features: int = 2**15, word_features: int = 2**14, alpha: float = 1e-6,
                 max_iter: int = 30, seed: int = 0) -> None:
        self.char_features = char_features
        self.word_features = word_features
        self.alpha = alpha
        self.max_iter = max_iter
        self.seed = seed

    def _counts(self, codes: Sequence[str]) -> sparse.csr_matrix:
        chars, words = ngram_vectorizers(self.char_features, self.word_features)
        return sparse.hstack([chars.transform(codes), words.transform(codes)], format="csr")

    def fit(self, codes: Sequence[str], languages: Sequence[str]) -> "CodeLanguageIdentifier":
        """Fit on windows of code and their languages."""
        return self._fit_counts(self._counts(list(codes)), np.asarray(languages, dtype=str))

    def _fit_counts(self, counts: sparse.csr_matrix, languages: np.ndarray) -> "CodeLanguageIdentifier":
        tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        model = SGDClassifier(
            loss="log_loss", alpha=self.alpha, max_iter=self.max_iter, tol=1e-4, class_weight="balanced",
            random_state=self.seed,
        )
        # a fixed number of passes: more cost minutes and moved no accuracy
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(tfidf.transform(counts), languages)
        self.classes_ = np.array(model.classes_)
        self.tfidf_ = tfidf
        self.coef_ = model.coef_.astype(np.float16).astype(np.float32)
        self.intercept_ = model.intercept_.astype(np.float32)
        return self

    def predict_code_proba(self, codes: Sequence[str]) -> np.ndarray:
        """Probabilities of code itself, ``(len(codes), len(classes_))``; rows of blank code are zero."""
        codes = [c[:_MAX_CODE] for c in codes]
        out = np.zeros((len(codes), len(self.classes_)), dtype=np.float32)
        rows = [i for i, c in enumerate(codes) if c.strip()]
        if not rows:
            return out
        z = linear_scores(self, tfidf_transform(self.tfidf_, self._counts([codes[i] for i in rows])))
        # one-vs-rest logistic outputs, normalised: what SGDClassifier.predict_proba gives
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
        out[rows] = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of the code in each prompt text (:func:`code_outside_prose`)."""
        return self.predict_code_proba([code_outside_prose(t) for t in texts])

    # ------------------------------------------------------------------ artifacts
    def to_arrays(self, prefix: str = "code.") -> dict[str, np.ndarray]:
        """Plain arrays for a router's ``.npz`` (no pickle needed to read them back)."""
        return {f"{prefix}coef": self.coef_.astype(np.float16), f"{prefix}intercept": self.intercept_,
                f"{prefix}idf": self.tfidf_.idf_.astype(np.float16)}

    @classmethod
    def from_arrays(cls, classes: Sequence[str], arrays: Mapping[str, np.ndarray], char_features: int,
                    word_features: int, prefix: str = "code.") -> "CodeLanguageIdentifier":
        model = cls(char_features=char_features, word_features=word_features)
        model.classes_ = np.array([str(c) for c in classes])
        model.coef_ = arrays[f"{prefix}coef"].astype(np.float32)
        model.intercept_ = arrays[f"{prefix}intercept"].astype(np.float32)
        model.tfidf_ = TfidfTransformer(sublinear_tf=True)
        model.tfidf_.idf_ = arrays[f"{prefix}idf"].astype(np.float64)
        expected = (len(classes), char_features + word_features)
        if model.coef_.shape != expected or model.tfidf_.idf_.shape != (expected[1],):
            raise ValueError(f"code identifier weights have shape {model.coef_.shape}, expected {expected}")
        return model


def _fold(key: str, folds: int) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % folds


def out_of_fold_proba(
    identifier: CodeLanguageIdentifier, corpus: CodeCorpus, texts: Sequence[str], groups: Sequence[str] | None,
    folds: int = 4,
) -> tuple[CodeLanguageIdentifier, np.ndarray]:
    """``(identifier fitted on the whole corpus, out-of-fold probabilities of texts)``.

    Corpus windows and texts fall into ``folds`` folds by the hash of their source (``groups``
    for the texts: the source each training prompt was cut from; without groups, the text
    itself). Each text is read by an identifier fitted on the other folds only, so the router
    learns how far the identifier can be trusted on sources it has not seen.
    """
    counts = identifier._counts(list(corpus.codes))
    languages = np.asarray(corpus.languages, dtype=str)
    corpus_fold = np.array([_fold(s, folds) for s in corpus.sources])
    keys = list(groups) if groups is not None else list(texts)
    text_fold = np.array([_fold(str(k), folds) for k in keys])
    identifier._fit_counts(counts, languages)
    out = np.zeros((len(texts), len(identifier.classes_)), dtype=np.float32)
    params = dict(char_features=identifier.char_features, word_features=identifier.word_features,
                  alpha=identifier.alpha, max_iter=identifier.max_iter, seed=identifier.seed)
    for k in range(folds):
        rows = np.flatnonzero(text_fold == k)
        keep = corpus_fold != k
        if not len(rows):
            continue
        if len(set(languages[keep])) < 2:
            out[rows] = identifier.predict_proba([texts[i] for i in rows])
            continue
        part = CodeLanguageIdentifier(**params)._fit_counts(counts[keep], languages[keep])
        p = part.predict_proba([texts[i] for i in rows])
        out[np.ix_(rows, np.searchsorted(identifier.classes_, part.classes_))] = p
    return identifier, out
