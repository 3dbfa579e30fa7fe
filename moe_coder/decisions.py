"""The mixture's decision policy: from the router's label probabilities to an expert.

The router only scores labels: per prompt, a probability for each language and each task. This
module turns those into a :class:`RoutingDecision`: the best (language, task) pair, the expert
serving it, that expert's *confidence*, and whether to abstain. It is also where the abstain
threshold is chosen (:func:`choose_confidence_threshold`), on that same confidence, so the number
:func:`decide` compares with is the number it was chosen on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from moe_coder.routing.labels import UNKNOWN

if TYPE_CHECKING:  # the decision types stay importable without the router's dependencies
    from moe_coder.routing.router import PromptRouter
    from moe_coder.routing.text import RoutingInput

#: ``select_expert(language, task) -> expert name``
ExpertSelector = Callable[[str, str], str]
#: The stage of a decision for which no routing ran: the caller named the expert.
FORCED = "forced"


@dataclass
class RoutingDecision:
    """The routing decision for one prompt.

    ``language`` / ``task`` are the most probable pair (for a translation ``language`` is the
    target and ``source_language`` the language translated from). ``confidence`` is the
    calibrated probability that the chosen expert is the right one (the summed probability of
    the pairs it serves); ``abstained`` is true when it fell below the mixture's threshold and
    the generalist answers instead. ``scores`` holds per-head class probabilities,
    ``alternatives`` the next best (language, task) pairs, ``cues`` the deterministic cues
    seen in the prompt. ``stage`` says which heads answered: ``"fast"`` (n-grams and cues were
    conclusive) or ``"full"`` (the prompt was also encoded by the sentence encoder); ``"forced"``
    (:meth:`forced`) when no routing ran because the caller named the expert.
    """

    language: str
    task: str
    confidence: float
    expert: str
    abstained: bool = False
    source_language: str | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    stage: str = "full"

    @classmethod
    def forced(cls, expert: str) -> "RoutingDecision":
        """The decision for a prompt sent to ``expert`` by name: nothing was scored, so language and
        task are unknown and the confidence is the caller's (1.0)."""
        return cls(language=UNKNOWN, task=UNKNOWN, confidence=1.0, expert=expert, stage=FORCED)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["source_language"] is None:
            del out["source_language"]
        return out


@dataclass
class GenerationResult:
    """Generated text together with the routing decision that chose its expert."""

    text: str
    decision: RoutingDecision

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "decision": self.decision.to_dict()}


@dataclass
class ExpertScores:
    """What :func:`decide` reads for a batch of prompts, before any threshold is applied.

    ``joint`` holds every (language, task) pair's probability, flattened as ``language *
    len(tasks) + task``; ``order`` the pairs best first (``alternatives + 1`` of them);
    ``pair_experts`` the expert serving each pair. ``confidence`` is, per prompt, the summed
    probability of every pair served by the expert of its best pair.
    """

    languages: list[str]
    tasks: list[str]
    language_p: np.ndarray
    task_p: np.ndarray
    joint: np.ndarray
    order: np.ndarray
    pair_experts: list[str]
    confidence: np.ndarray
    sources: list[str] | None
    cues: list[list[str]]
    used_full: np.ndarray

    @property
    def experts(self) -> list[str]:
        """The expert of each prompt's best pair (the one it goes to unless it abstains)."""
        return [self.pair_experts[j] for j in self.order[:, 0]]


def score_experts(
    router: PromptRouter, prompts: Sequence[RoutingInput], select_expert: ExpertSelector, alternatives: int = 3,
) -> ExpertScores:
    """The best (language, task) pair of each prompt and the confidence of the expert serving it.

    The best pair is the product of the two heads' calibrated probabilities. ``confidence`` is
    the probability that the chosen *expert* is right: the summed probability of every pair that
    expert would serve, so an expert for one language is not made unsure by a prompt whose task
    is ambiguous.
    """
    probas, cue_lists, used_full = router.predict_proba_with_cues(prompts)
    return scores_from_probas(router.heads_, router.classes_, probas, select_expert, alternatives, cue_lists, used_full)


def scores_from_probas(
    heads_: Sequence[str], classes: Sequence[np.ndarray], probas: Sequence[np.ndarray], select_expert: ExpertSelector,
    alternatives: int = 3, cue_lists: list[list[str]] | None = None, used_full: np.ndarray | None = None,
) -> ExpertScores:
    """:func:`score_experts` from a router's head names, classes and probabilities (one array per
    head, as :meth:`~moe_coder.routing.router.PromptRouter.predict_proba` gives them): what the
    decision reads, for probabilities that did not come from the shipped heads (held-out-style
    calibration scores heads refitted without a prompt family)."""
    heads = dict(zip(heads_, zip(classes, probas)))
    (lang_classes, lang_p), (task_classes, task_p) = heads["language"], heads["task"]
    langs, tasks = [str(c) for c in lang_classes], [str(c) for c in task_classes]
    n = len(lang_p)
    cue_lists = cue_lists if cue_lists is not None else [[] for _ in range(n)]
    used_full = used_full if used_full is not None else np.zeros(n, dtype=bool)
    pair_experts = [select_expert(lang, task) for lang in langs for task in tasks]
    names = sorted(set(pair_experts))
    expert_of_pair = np.array([names.index(e) for e in pair_experts])
    serves = np.zeros((len(pair_experts), len(names)))
    serves[np.arange(len(pair_experts)), expert_of_pair] = 1.0
    joint = (lang_p[:, :, None] * task_p[:, None, :]).reshape(n, -1)
    order = np.argsort(-joint, axis=1, kind="stable")[:, : alternatives + 1]
    confidence = np.minimum((joint @ serves)[np.arange(n), expert_of_pair[order[:, 0]]], 1.0)
    sources = None
    if "source_language" in heads:
        src_classes, src_p = heads["source_language"]
        sources = [str(c) for c in src_classes[src_p.argmax(axis=1)]]
    return ExpertScores(langs, tasks, lang_p, task_p, joint, order, pair_experts, confidence, sources, cue_lists, used_full)


def decide(
    router: PromptRouter,
    prompts: Sequence[RoutingInput],
    *,
    select_expert: ExpertSelector,
    generalist: str,
    threshold: float,
    alternatives: int = 3,
) -> list[RoutingDecision]:
    """One decision per prompt (see :func:`score_experts` for the pair and its confidence).

    Below ``threshold`` the decision abstains and the generalist answers. ``source_language`` is
    filled for translations.
    """
    if not prompts:
        return []
    s = score_experts(router, prompts, select_expert, alternatives)
    langs, tasks, n_tasks = s.languages, s.tasks, len(s.tasks)
    lang_p, task_p, joint = (np.asarray(a, dtype=np.float64) for a in (s.language_p, s.task_p, s.joint))
    lang_rounded, task_rounded, joint_rounded = np.round(lang_p, 6), np.round(task_p, 6), np.round(joint, 6)
    decisions = []
    for i in range(len(prompts)):
        best = s.order[i, 0]
        language, task = langs[best // n_tasks], tasks[best % n_tasks]
        abstained = bool(s.confidence[i] < threshold)
        decisions.append(
            RoutingDecision(
                language=language,
                task=task,
                confidence=round(float(s.confidence[i]), 6),
                expert=generalist if abstained else s.pair_experts[best],
                abstained=abstained,
                source_language=s.sources[i] if s.sources is not None and task == "translate" else None,
                scores={
                    "language": dict(zip(langs, lang_rounded[i].tolist())),
                    "task": dict(zip(tasks, task_rounded[i].tolist())),
                },
                alternatives=[
                    {"language": langs[j // n_tasks], "task": tasks[j % n_tasks],
                     "score": float(joint_rounded[i, j]), "expert": s.pair_experts[j]}
                    for j in s.order[i, 1:]
                ],
                cues=s.cues[i],
                stage="full" if s.used_full[i] else "fast",
            )
        )
    return decisions


def choose_confidence_threshold(
    router: PromptRouter, prompts: Sequence[RoutingInput], labels: Any, select_expert: ExpertSelector,
) -> float:
    """The abstain threshold for :func:`decide`, chosen on held-out labelled prompts.

    ``labels`` has a ``(language, task)`` row per prompt (a third column is ignored). A prompt's
    route is right when its chosen expert is the one that serves its true pair; the threshold is
    applied to :func:`score_experts`' ``confidence``, exactly what :func:`decide` compares, and
    minimises ``wrong routes + ABSTAIN_COST * abstentions``
    (:func:`~moe_coder.routing.calibration.choose_threshold`).
    """
    y = np.asarray(labels, dtype=object)
    if y.ndim != 2 or y.shape[1] < 2 or y.shape[0] != len(prompts):
        raise ValueError(f"labels must have a (language, task) row for each of the {len(prompts)} prompts; found shape {y.shape}")
    if not len(prompts):
        raise ValueError("choosing a confidence threshold needs at least one labelled prompt")
    from moe_coder.routing.calibration import choose_threshold

    scores = score_experts(router, prompts, select_expert)
    right = [select_expert(str(language), str(task)) for language, task in y[:, :2]]
    correct = np.array([chosen == want for chosen, want in zip(scores.experts, right)])
    return min(max(choose_threshold(scores.confidence, correct), 0.0), 1.0)
