"""Turn router probabilities into :class:`RoutingDecision` objects for a mixture's experts."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from moe_coder.routing.decision import RoutingDecision
from moe_coder.routing.router import PromptRouter
from moe_coder.routing.text import RoutingInput

#: ``select_expert(language, task) -> expert name``
ExpertSelector = Callable[[str, str], str]


def decide(
    router: PromptRouter,
    prompts: Sequence[RoutingInput],
    *,
    select_expert: ExpertSelector,
    generalist: str,
    threshold: float,
    alternatives: int = 3,
) -> list[RoutingDecision]:
    """One decision per prompt.

    The best (language, task) pair is the product of the two heads' calibrated probabilities.
    ``confidence`` is the probability that the chosen *expert* is right: the summed probability
    of every pair that expert would serve, so an expert for one language is not made unsure by
    a prompt whose task is ambiguous. Below ``threshold`` the decision abstains and the
    generalist answers. ``source_language`` is filled for translations.
    """
    if not prompts:
        return []
    probas, cue_lists, used_full = router.predict_proba_with_cues(prompts)
    heads = dict(zip(router.heads_, zip(router.classes_, probas)))
    (lang_classes, lang_p), (task_classes, task_p) = heads["language"], heads["task"]
    langs, tasks = [str(c) for c in lang_classes], [str(c) for c in task_classes]
    n, n_tasks = len(prompts), len(tasks)
    # every (language, task) pair, flattened as language * n_tasks + task
    pair_experts = [select_expert(lang, task) for lang in langs for task in tasks]
    names = sorted(set(pair_experts))
    expert_of_pair = np.array([names.index(e) for e in pair_experts])
    serves = np.zeros((len(pair_experts), len(names)))
    serves[np.arange(len(pair_experts)), expert_of_pair] = 1.0
    joint = (lang_p[:, :, None] * task_p[:, None, :]).reshape(n, -1)
    order = np.argsort(-joint, axis=1, kind="stable")[:, : alternatives + 1]
    best = order[:, 0]
    confidence = np.minimum((joint @ serves)[np.arange(n), expert_of_pair[best]], 1.0)
    sources = None
    if "source_language" in heads:
        src_classes, src_p = heads["source_language"]
        sources = [str(c) for c in src_classes[src_p.argmax(axis=1)]]
    lang_p, task_p, joint = (np.asarray(a, dtype=np.float64) for a in (lang_p, task_p, joint))
    lang_rounded, task_rounded, joint_rounded = np.round(lang_p, 6), np.round(task_p, 6), np.round(joint, 6)
    decisions = []
    for i in range(n):
        language, task = langs[best[i] // n_tasks], tasks[best[i] % n_tasks]
        abstained = bool(confidence[i] < threshold)
        decisions.append(
            RoutingDecision(
                language=language,
                task=task,
                confidence=round(float(confidence[i]), 6),
                expert=generalist if abstained else pair_experts[best[i]],
                abstained=abstained,
                source_language=sources[i] if sources is not None and task == "translate" else None,
                scores={
                    "language": dict(zip(langs, lang_rounded[i].tolist())),
                    "task": dict(zip(tasks, task_rounded[i].tolist())),
                },
                alternatives=[
                    {"language": langs[j // n_tasks], "task": tasks[j % n_tasks],
                     "score": float(joint_rounded[i, j]), "expert": pair_experts[j]}
                    for j in order[i, 1:]
                ],
                cues=cue_lists[i],
                stage="full" if used_full[i] else "fast",
            )
        )
    return decisions
