"""Turn router probabilities into :class:`RoutingDecision` objects for a mixture's experts."""
from __future__ import annotations

from itertools import product
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
    probas = router.predict_proba(prompts)
    heads = dict(zip(router.heads_, zip(router.classes_, probas)))
    (lang_classes, lang_p), (task_classes, task_p) = heads["language"], heads["task"]
    langs, tasks = [str(c) for c in lang_classes], [str(c) for c in task_classes]
    pairs_index = list(product(range(len(langs)), range(len(tasks))))
    experts = [select_expert(langs[a], tasks[b]) for a, b in pairs_index]
    decisions = []
    for i, prompt in enumerate(prompts):
        joint = np.array([lang_p[i, a] * task_p[i, b] for a, b in pairs_index])
        order = np.argsort(-joint, kind="stable")
        a, b = pairs_index[order[0]]
        language, task = langs[a], tasks[b]
        chosen = experts[order[0]]
        confidence = float(joint[[j for j, e in enumerate(experts) if e == chosen]].sum())
        abstained = confidence < threshold
        source = None
        if task == "translate" and "source_language" in heads:
            src_classes, src_p = heads["source_language"]
            source = str(src_classes[int(src_p[i].argmax())])
        decisions.append(
            RoutingDecision(
                language=language,
                task=task,
                confidence=round(min(confidence, 1.0), 6),
                expert=generalist if abstained else chosen,
                abstained=abstained,
                source_language=source,
                scores={
                    "language": {c: round(float(p), 6) for c, p in zip(langs, lang_p[i])},
                    "task": {c: round(float(p), 6) for c, p in zip(tasks, task_p[i])},
                },
                alternatives=[
                    {"language": langs[pairs_index[j][0]], "task": tasks[pairs_index[j][1]],
                     "score": round(float(joint[j]), 6), "expert": experts[j]}
                    for j in order[1 : alternatives + 1]
                ],
                cues=router.cues(prompt),
            )
        )
    return decisions

