"""Held-out-style calibration: temperatures and an abstain threshold chosen on prompt families
the heads never saw.

Temperatures fitted on the validation split (:meth:`PromptRouter.calibrate`) describe prompts
shaped like the training prompts: the validation split holds other *sources*, but every
template, snippet shape and prose language is also in training. On a style no training prompt
has, the heads are wrong more often and still sure of themselves. So, as scikit-learn's
``CalibratedClassifierCV`` calibrates on folds the model did not see, :func:`held_out_style`
refits the router's heads without one prompt family at a time (the families of
:func:`~moe_coder.routing.metrics.prompt_families`: template, snippet shape, prose language) and
collects each refit's outputs on that family's validation prompts. On that pool it chooses:

* per set of heads (full and fast) and per head (language, task), the temperature minimising
  the negative log-likelihood, and the same for a refit on *every* family scored on the whole
  validation split. Their ratio, how much softer unseen styles need the probabilities to be than
  seen ones, multiplies the shipped heads' own temperatures (:meth:`HeldOutStyle.apply`), which
  were fitted on the validation split;
* the mixture's abstain threshold, on the expert confidence of the pooled prompts routed the way
  the shipped router routes them (fast heads where they are sure enough, full heads elsewhere),
  with the cost the in-distribution choice uses (a wrong expert 1, an abstention 0.5).

The refits stop at ``tol=1e-3``, to keep a dozen refits of two sets of heads within minutes; the
ratio compares refits made alike. The router's label constraints
(:mod:`moe_coder.routing.constraints`) apply to the refits as the router applies them: the code
language that fence tags declare inside the heads, and after the temperatures and the cascade, a
named language is not ``unknown`` and a prompt without code is neither a translation nor a
completion. They fit the same heads as the router, the translation-target
head included: without it, a translation's language (the language asked for) is read off the
code being translated, and such refits were wrong with confidence on translations far more often
than the router they stand for.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import sparse
from tqdm.auto import tqdm

from moe_coder.routing.calibration import choose_threshold
from moe_coder.routing.code_language import CodeCorpus, CodeLanguageIdentifier, out_of_fold_proba
from moe_coder.routing.dataset import LabelledPrompts
from moe_coder.routing.heads import HeadStack
from moe_coder.routing.labels import HEADS
from moe_coder.routing.cues import extract_cues
from moe_coder.routing.metrics import FAMILY_AXES, confident_wrong_rate, prompt_families
from moe_coder.routing.constraints import ConstraintInputs, apply_label_constraints, constraint_inputs
from moe_coder.routing.text import split_conversation

logger = logging.getLogger(__name__)

#: Temperatures tried (a grid: the pooled outputs of many refits have no single logit layout).
TEMPERATURES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
#: Families that are the default of their axis ("en" prose, no template) are never held out.
_NEVER_HELD_OUT = ("en", "none")


@dataclass
class HeldOutStyle:
    """What :func:`held_out_style` measured; :meth:`apply` writes it into a router and mixture."""

    #: per set of heads ("full", "fast"): held-out-style temperatures of the refits (language, task)
    held_out: dict[str, tuple[float, float]]
    #: per set of heads: the temperatures of a refit on every family, fitted on the validation split
    in_distribution: dict[str, tuple[float, float]]
    #: per held-out family (axis, family, validation rows); per set of heads, each family's probabilities
    folds: list[tuple[str, str, np.ndarray]] = field(default_factory=list, repr=False)
    outputs: dict[str, list[list[np.ndarray]]] = field(default_factory=dict, repr=False)
    #: the same at the in-distribution temperatures (what the router gave before this calibration)
    outputs_before: dict[str, list[list[np.ndarray]]] = field(default_factory=dict, repr=False)
    truth: np.ndarray | None = field(default=None, repr=False)
    classes: list[np.ndarray] = field(default_factory=list, repr=False)
    #: the abstain threshold chosen on the pooled held-out-style prompts (:meth:`route_pooled`)
    confidence_threshold: float | None = None
    #: per held-out family: axis, family, prompts, language and task accuracy, wrong at >= 0.85
    families: list[dict[str, Any]] = field(default_factory=list)
    #: pooled figures: prompts, accuracies, wrong at >= 0.85, abstain rate at the threshold
    pooled: dict[str, float] = field(default_factory=dict)
    #: whether the refits fitted a translation-target head, as the router they stand for does
    target_head: bool = False
    #: the validation prompts' full feature rows (the router's ``transform``), for choosing the
    #: cascade threshold again without encoding them twice
    validation_features: sparse.csr_matrix | None = field(default=None, repr=False)
    #: the inputs of the rules after the heads for each validation prompt when the router applies its label
    #: constraints (:func:`~moe_coder.routing.constraints.constraint_inputs`): :meth:`route_pooled`
    #: applies them after the cascade, as the router does
    constraints: ConstraintInputs | None = field(default=None, repr=False)

    def multipliers(self, stack: str) -> tuple[float, float]:
        """How much the ``stack``'s (language, task) temperatures are raised: held-out over in-distribution."""
        return tuple(h / i for h, i in zip(self.held_out[stack], self.in_distribution[stack]))  # type: ignore[return-value]

    def apply(self, router: Any) -> None:
        """Multiply the router's fitted temperatures by :meth:`multipliers` (the language one also
        scales the translation-target head).

        A router calibrated this way before (its ``held_out_style_`` record holds the multipliers
        it was given) first has those divided out, so calibrating twice gives the temperatures
        of calibrating once, not their product."""
        previous = (getattr(router, "held_out_style_", None) or {}).get("multipliers", {})
        for stack, heads in (("full", router.full_heads_), ("fast", router.fast_heads_)):
            if heads is None or stack not in self.held_out:
                continue
            old_lang, old_task = previous.get(stack, (1.0, 1.0))
            m_lang, m_task = self.multipliers(stack)
            scale = (m_lang / old_lang, m_task / old_task, 1.0, 1.0)
            heads.temperatures = [t * m for t, m in zip(heads.temperatures, scale)]
            heads.target_temperature *= m_lang / old_lang

    def route_pooled(self, fast_threshold: float, select_expert: Callable[[str, str], str],
                     before: tuple[float, float] | None = None) -> float:
        """Route the pooled held-out-style prompts as the shipped cascade would (fast heads where
        their confidence reaches ``fast_threshold``, full heads elsewhere), choose the abstain
        threshold on the expert confidence, fill :attr:`families` and :attr:`pooled`, and return
        the threshold. ``before``, the router's ``(fast_threshold, confidence_threshold)`` before
        this calibration, adds the same pooled figures with the in-distribution temperatures and
        those thresholds (``pooled["before"]``)."""
        families, confidence, correct, lo, to, lc, tc = self._route(self.outputs, fast_threshold, select_expert)
        chosen = min(max(choose_threshold(confidence, correct), 0.0), 1.0)
        self.families = families
        self.pooled.update(_figures(confidence, correct, lo, to, lc, tc, chosen))
        self.pooled["families"] = len(self.folds)
        if before is not None and self.outputs_before:
            _, confidence, correct, lo, to, lc, tc = self._route(self.outputs_before, before[0], select_expert)
            self.pooled["before"] = _figures(confidence, correct, lo, to, lc, tc, before[1])
        self.confidence_threshold = chosen
        return chosen

    def _route(self, outputs: dict[str, list[list[np.ndarray]]], fast_threshold: float,
               select_expert: Callable[[str, str], str]) -> tuple[list[dict[str, Any]], ...]:
        from moe_coder.decisions import scores_from_probas

        classes, y_val = self.classes, self.truth
        families, confidence, correct, lang_ok, task_ok, lang_c, task_c = [], [], [], [], [], [], []
        for k, (axis, value, rows) in enumerate(self.folds):
            probas = [p.copy() for p in outputs["full"][k]]
            if "fast" in outputs and np.isfinite(fast_threshold):
                fast = outputs["fast"][k]
                sure = np.minimum(fast[0].max(1), fast[1].max(1)) >= fast_threshold
                for p, q in zip(probas, fast):
                    p[sure] = q[sure]
            if self.constraints is not None:
                probas = apply_label_constraints(probas, HEADS[: len(probas)], classes,
                                                 *([column[i] for i in rows] for column in self.constraints))
            scores = scores_from_probas(["language", "task"], classes[:2], probas[:2], select_expert)
            truth = y_val[rows]
            want = [select_expert(str(lang), str(task)) for lang, task in truth]
            right = np.array([a == b for a, b in zip(scores.experts, want)])
            ok_lang = classes[0][probas[0].argmax(1)] == truth[:, 0].astype(str)
            ok_task = classes[1][probas[1].argmax(1)] == truth[:, 1].astype(str)
            c_lang, c_task = probas[0].max(1), probas[1].max(1)
            families.append({"axis": axis, "family": value, "n": int(len(rows)), "language": float(ok_lang.mean()),
                             "task": float(ok_task.mean()), "wrong_at_0.85_language": confident_wrong_rate(ok_lang, c_lang),
                             "wrong_at_0.85_task": confident_wrong_rate(ok_task, c_task)})
            confidence.append(scores.confidence); correct.append(right)
            lang_ok.append(ok_lang); task_ok.append(ok_task); lang_c.append(c_lang); task_c.append(c_task)
        return (families, *(np.concatenate(a) for a in (confidence, correct, lang_ok, task_ok, lang_c, task_c)))

    def to_dict(self, families: bool = True) -> dict[str, Any]:
        """Everything measured, as JSON types; ``families=False`` leaves out the per-family rows
        (what a router's artifacts record under ``held_out_style``)."""
        record = {
            "held_out_temperatures": {k: list(v) for k, v in self.held_out.items()},
            "in_distribution_temperatures": {k: list(v) for k, v in self.in_distribution.items()},
            "multipliers": {k: list(self.multipliers(k)) for k in self.held_out},
            "confidence_threshold": self.confidence_threshold, "pooled": self.pooled,
            "target_head": self.target_head,
        }
        return {**record, "families": self.families} if families else record


def _figures(confidence: np.ndarray, correct: np.ndarray, lo: np.ndarray, to: np.ndarray, lc: np.ndarray,
             tc: np.ndarray, threshold: float) -> dict[str, float]:
    routed = confidence >= threshold
    return {
        "n": int(len(lo)), "language": float(lo.mean()), "task": float(to.mean()),
        "wrong_at_0.85_language": confident_wrong_rate(lo, lc), "wrong_at_0.85_task": confident_wrong_rate(to, tc),
        "wrong_at_0.85_either": float(np.mean((~lo & (lc >= 0.85)) | (~to & (tc >= 0.85)))),
        # the mixture's own decision: the wrong expert, chosen with expert confidence >= 0.85
        "wrong_at_0.85_expert": float(np.mean(~correct & (confidence >= 0.85))),
        "confidence_threshold": float(threshold), "abstain_rate": float(1 - routed.mean()),
        "right_expert_when_routed": float(correct[routed].mean()) if routed.any() else 0.0,
        "right_expert_routed_share": float(np.mean(correct & routed)),
    }


def _nll(probas: np.ndarray, classes: np.ndarray, truth: np.ndarray) -> float:
    index = {str(c): j for j, c in enumerate(classes)}
    rows = np.array([i for i, t in enumerate(truth) if str(t) in index])
    if not len(rows):
        return 0.0
    cols = np.array([index[str(truth[i])] for i in rows])
    return float(-np.mean(np.log(np.maximum(probas[rows, cols], 1e-12))))


def _best_temperature(heads: list[tuple[HeadStack, sparse.csr_matrix, np.ndarray]], classes: list[np.ndarray],
                      head: int) -> float:
    """The grid temperature of ``head`` minimising the pooled negative log-likelihood."""
    def loss(t: float) -> float:
        total, n = 0.0, 0
        for stack, X, truth in heads:
            saved = list(stack.temperatures)
            stack.temperatures = [t if j == head else 1.0 for j in range(len(saved))]
            p = stack.proba(X, classes)[head]
            stack.temperatures = saved
            total += _nll(p, classes[head], truth[:, head]) * len(truth)
            n += len(truth)
        return total / max(n, 1)

    return min(TEMPERATURES, key=loss)


def _features(router: Any, data: LabelledPrompts, corpus: CodeCorpus | None) -> sparse.csr_matrix:
    """Full feature rows of labelled prompts; with ``corpus``, the code identifier's outputs are
    out-of-fold by source, as :meth:`PromptRouter.fit` computes them for training prompts."""
    texts = [split_conversation(p)[0] for p in data.prompts]
    code_proba = None
    if corpus is not None and router.code_model_ is not None:
        identifier = CodeLanguageIdentifier(router.char_features, router.word_features)
        _, code_proba = out_of_fold_proba(identifier, corpus, texts, data.sources)
    return router._features(texts, code_proba=code_proba)[0]


def held_out_style(
    router: Any, train: LabelledPrompts, validation: LabelledPrompts,
    corpus: CodeCorpus | None = None, min_prompts: int = 50, tol: float = 1e-3, max_iter: int = 300,
) -> HeldOutStyle:
    """Refit ``router``'s heads without each prompt family of ``train`` and measure them on that
    family's ``validation`` prompts (see the module docstring). ``corpus`` is the code corpus the router's code
    identifier was fitted on (its training prompts then get out-of-fold identifier outputs).
    Families with fewer than ``min_prompts`` validation prompts are not held out. The abstain
    threshold is chosen afterwards, by :meth:`HeldOutStyle.route_pooled`, once the router's
    cascade threshold is chosen for the new temperatures."""
    from moe_coder.routing.router import PromptRouter

    if not len(train) or not len(validation):
        raise ValueError("held-out-style calibration needs training and validation prompts")
    started = time.perf_counter()
    logger.info("held-out style: features of %d training and %d validation prompts", len(train), len(validation))
    X_train, X_val = _features(router, train, corpus), _features(router, validation, None)
    y_train = np.array(train.y, dtype=object)[:, :2]
    y_val = np.array(validation.y, dtype=object)[:, :2]
    fam_train = [prompt_families(p, s) for p, s in zip(train.prompts, train.sources)]
    fam_val = [prompt_families(p, s) for p, s in zip(validation.prompts, validation.sources)]
    classes = router.classes_
    params = {**router.get_params(), "cascade": False, "tol": tol, "max_iter": max_iter}
    stacks = {"full": 0}
    if router.fast_heads_ is not None:
        stacks["fast"] = router.fast_heads_.first_column

    def refit(rows: np.ndarray, first_column: int) -> HeadStack:
        sub = PromptRouter(**params)
        sub.classes_ = classes
        sub.fit_heads(X_train[rows][:, first_column:], y_train[rows])
        return sub.full_heads_

    folds = []
    for axis in FAMILY_AXES:
        for value in sorted({f[axis] for f in fam_val}):
            held = np.array([f[axis] == value for f in fam_val])
            keep = np.array([f[axis] != value for f in fam_train])
            if value in _NEVER_HELD_OUT or held.sum() < min_prompts or keep.all() or not keep.any():
                continue
            folds.append((axis, value, keep, np.flatnonzero(held)))
    if not folds:
        raise ValueError(f"no prompt family has {min_prompts} validation prompts to hold out")

    # the router's label constraints: the code language fence tags declare is set inside the heads
    # (HeadStack.proba), the rest after them (route_pooled)
    pairs = [split_conversation(p) for p in validation.prompts]
    evidence = router._evidence([last for last, _ in pairs])  # None when the router applies no constraints
    held_out, in_distribution, outputs, before = {}, {}, {}, {}
    target_heads = []
    for stack, first in stacks.items():
        everything = refit(np.ones(len(y_train), dtype=bool), first)
        target_heads.append(everything.target is not None)
        Xv = X_val[:, first:]
        in_distribution[stack] = tuple(_best_temperature([(everything, Xv, y_val)], classes, h) for h in (0, 1))
        pooled = []
        for axis, value, keep, rows in tqdm(folds, desc=f"refitting the {stack} heads without each family", unit="family"):
            t0 = time.perf_counter()
            pooled.append((refit(keep, first), Xv[rows], y_val[rows]))
            logger.info("held out %s=%r (%s heads): refitted on %d prompts in %.0f s",
                        axis, value, stack, keep.sum(), time.perf_counter() - t0)
        held_out[stack] = tuple(_best_temperature(pooled, classes, h) for h in (0, 1))
        for temperatures, into in ((in_distribution[stack], before), (held_out[stack], outputs)):
            for heads, _, _ in pooled:
                heads.temperatures = [*temperatures] + [1.0] * (len(heads.temperatures) - 2)
            into[stack] = [heads.proba(X, classes, None if evidence is None else evidence.take(rows))
                           for (heads, X, _), (_, _, _, rows) in zip(pooled, folds)]

    constraints = None
    if getattr(router, "label_constraints", False):
        # the router's rules after its heads (moe_coder.routing.constraints) apply to the refits alike
        constraints = constraint_inputs([last for last, _ in pairs], [context for _, context in pairs],
                                        [extract_cues(last) for last, _ in pairs])
    result = HeldOutStyle(held_out, in_distribution, [(axis, value, rows) for axis, value, _, rows in folds],
                          outputs, before, y_val, list(classes), target_head=all(target_heads),
                          validation_features=X_val, constraints=constraints)
    result.pooled["seconds"] = round(time.perf_counter() - started, 1)
    return result
