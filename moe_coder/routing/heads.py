"""A stack of router heads: the classifiers that read one block of feature columns, and their temperatures.

The router has two stacks of the same shape: the *full* heads read every column of
:meth:`~moe_coder.routing.router.PromptRouter.transform`, the *fast* heads (the cascade) read
the columns from :attr:`HeadStack.first_column` on, everything but the sentence embedding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from moe_coder.routing.calibration import scaled_proba
from moe_coder.routing.constraints import CodeEvidence


def linear_scores(model: object, X: sparse.csr_matrix) -> np.ndarray:
    """``X @ model.coef_.T + model.intercept_`` as a dense array, with the transposed coefficients
    made contiguous once per ``coef_`` array (scipy copies a non-contiguous operand at every call:
    megabytes for the router's heads)."""
    coef = model.coef_
    cached = getattr(model, "_moe_coef_t", None)
    if cached is None or cached[0] is not coef:
        cached = (coef, np.ascontiguousarray(coef.T))
        model._moe_coef_t = cached
    return np.asarray(X @ cached[1]) + model.intercept_


def logits(estimator: LogisticRegression, X: sparse.csr_matrix) -> np.ndarray:
    """``(n, n_classes)`` logits of a head (a two-class head's one column made two).

    ``estimator.decision_function(X)``'s arithmetic (``X @ coef_.T + intercept_``) without its
    input validation, which cost more than the product for one prompt; the transposed
    coefficients are kept contiguous, as scipy would copy them at every call."""
    z = linear_scores(estimator, X)
    if z.shape[1] == 1:
        z = z[:, 0]
        return np.stack([-z, z], axis=1)
    return z


def spread(p: np.ndarray, classes: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """Probabilities over ``classes`` laid out over the (sorted, larger) label set ``onto``."""
    if len(classes) == len(onto) and (classes == onto).all():
        return p
    out = np.zeros((p.shape[0], len(onto)))
    out[:, np.searchsorted(onto, classes)] = p
    return out


#: The heads, by position in the router's order (language, task, source_language), that read the
#: language of a prompt's code: the language head (before its translation-target part is mixed
#: in) and the source language of a translation.
CODE_LANGUAGE_HEADS: tuple[int, ...] = (0, 2)


@dataclass
class HeadStack:
    """One set of heads over one block of feature columns.

    ``estimators`` are the heads in the router's :attr:`heads_` order (language, task[,
    source_language]), ``temperatures`` their calibration temperatures; ``target`` is the
    language head of translation prompts (the language the answer must be in), when fitted.
    The stack reads the columns of the full feature matrix from ``first_column`` on.
    """

    estimators: list[LogisticRegression]
    temperatures: list[float] = field(default_factory=list)
    target: LogisticRegression | None = None
    target_temperature: float = 1.0
    first_column: int = 0

    def __post_init__(self) -> None:
        if not self.temperatures:
            self.temperatures = [1.0] * len(self.estimators)

    def columns(self, X: sparse.csr_matrix) -> sparse.csr_matrix:
        """The part of a full feature matrix this stack reads."""
        return X[:, self.first_column :] if self.first_column else X

    def proba(self, X: sparse.csr_matrix, classes: list[np.ndarray],
              evidence: CodeEvidence | None = None) -> list[np.ndarray]:
        """Calibrated probabilities of each head for this stack's columns ``X``, laid out over ``classes``.

        With a target head, a prompt's language is the mixture ``P(translate) * P(target) +
        (1 - P(translate)) * P(language of the code)``: the code of a translation names its
        source, and its prose names the language the answer must be in. ``evidence``, one row
        per row of ``X``, is what each prompt's text says about its code's language (its fence
        tags, the grammars that parse it: :class:`~moe_coder.routing.constraints.CodeEvidence`):
        the heads of the code's language (language, source_language) take it into account
        before the mixture.
        """
        probas = [scaled_proba(logits(e, X), t) for e, t in zip(self.estimators, self.temperatures)]
        # a head fitted on prompts lacking a label (a refit without a prompt family) gives it zero
        probas = [spread(p, e.classes_, classes[j]) if j < len(classes) else p
                  for j, (p, e) in enumerate(zip(probas, self.estimators))]
        if evidence is not None:
            if len(evidence) != X.shape[0]:
                raise ValueError(f"code evidence has {len(evidence)} rows for {X.shape[0]}")
            for j in CODE_LANGUAGE_HEADS:
                if j < len(probas) and j < len(classes):
                    probas[j] = evidence.apply(probas[j], [str(c) for c in classes[j]])
        if self.target is not None:
            p_target = spread(scaled_proba(logits(self.target, X), self.target_temperature), self.target.classes_, classes[0])
            p_translate = probas[1][:, list(classes[1]).index("translate")][:, None]
            probas[0] = (1 - p_translate) * probas[0] + p_translate * p_target
        return probas

    def named(self, prefix: str) -> dict[str, LogisticRegression]:
        """The heads by artifact name: ``{prefix}head0`` ... in order, then ``{prefix}target``."""
        out = {f"{prefix}head{j}": e for j, e in enumerate(self.estimators)}
        if self.target is not None:
            out[f"{prefix}target"] = self.target
        return out

    @classmethod
    def from_named(cls, heads: dict[str, LogisticRegression], prefix: str, temperatures: list[float] | None,
                   target_temperature: float | None, first_column: int = 0) -> "HeadStack | None":
        """The stack :meth:`named` wrote under ``prefix`` (``None`` when there is none)."""
        n = sum(1 for name in heads if name.startswith(prefix + "head") and name[len(prefix) + 4 :].isdigit())
        if not n:
            return None
        return cls([heads[f"{prefix}head{j}"] for j in range(n)], list(temperatures or []),
                   heads.get(f"{prefix}target"), target_temperature or 1.0, first_column)
