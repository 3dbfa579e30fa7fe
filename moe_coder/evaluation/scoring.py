"""From per-sample verdicts to the numbers in ``results.json``: pass@k overall, per language,
on the clean (non-contaminated) subset, and for the per-language oracle."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.passk import mean_pass_at_k

ORACLE = "oracle"
EXPERT_PREFIX = "expert:"


def task_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """``{task_id: (n, c)}`` over scored samples (skipped ones are not samples)."""
    n: Counter[str] = Counter()
    c: Counter[str] = Counter()
    for row in rows:
        if row.get("passed") is None:
            continue
        n[row["task_id"]] += 1
        c[row["task_id"]] += bool(row["passed"])
    return {task: (n[task], c[task]) for task in n}


def _scores(counts: Mapping[str, tuple[int, int]], language_of: Mapping[str, str], ks: Sequence[int]) -> dict[str, Any]:
    by_language: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    for task, nc in counts.items():
        by_language[language_of[task]][task] = nc
    return {
        "n_tasks": len(counts),
        "pass@k": mean_pass_at_k(counts, ks),
        "per_language": {
            lang: {"n_tasks": len(sub), **mean_pass_at_k(sub, ks)} for lang, sub in sorted(by_language.items())
        },
    }


def summarise(
    rows: Sequence[Mapping[str, Any]],
    problems: Sequence[Problem],
    ks: Sequence[int],
    exclude: set[str] | None = None,
) -> dict[str, Any]:
    """Scores per system (and the oracle when experts were evaluated alone)."""
    language_of = {p.task_id: p.language for p in problems}
    by_system: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_system[row["system"]].append(row)
    systems: dict[str, Any] = {}
    counts_of: dict[str, dict[str, tuple[int, int]]] = {}
    for system, system_rows in by_system.items():
        counts = counts_of[system] = task_counts(system_rows)
        entry = _scores(counts, language_of, ks)
        entry["n_samples"] = sum(n for n, _ in counts.values())
        entry["failure_reasons"] = dict(Counter(r["reason"] for r in system_rows if r.get("passed") is False))
        entry["skipped"] = {r["task_id"]: r["detail"] for r in system_rows if r.get("reason") == "skipped"}
        if exclude is not None:
            entry["clean"] = _scores({t: nc for t, nc in counts.items() if t not in exclude}, language_of, ks)
        systems[system] = entry
    experts = [s for s in systems if s.startswith(EXPERT_PREFIX)]
    if experts:
        systems[ORACLE] = _oracle({s: counts_of[s] for s in experts}, systems, language_of, ks, exclude)
    return {"ks": list(ks), "systems": systems}


def _oracle(
    counts_of: Mapping[str, Mapping[str, tuple[int, int]]],
    systems: Mapping[str, Any],
    language_of: Mapping[str, str],
    ks: Sequence[int],
    exclude: set[str] | None,
) -> dict[str, Any]:
    """The best expert for each language (by its first pass@k there), as if the router always knew."""
    chosen: dict[str, str] = {}
    for system in counts_of:
        for lang, scores in systems[system]["per_language"].items():
            best = chosen.get(lang)
            if best is None or _first(scores) > _first(systems[best]["per_language"][lang]):
                chosen[lang] = system
    counts = {
        task: nc
        for lang, system in chosen.items()
        for task, nc in counts_of[system].items()
        if language_of[task] == lang
    }
    entry = _scores(counts, language_of, ks)
    entry["chosen"] = {lang: system.removeprefix(EXPERT_PREFIX) for lang, system in sorted(chosen.items())}
    if exclude is not None:
        entry["clean"] = _scores({t: nc for t, nc in counts.items() if t not in exclude}, language_of, ks)
    return entry


def _first(scores: Mapping[str, Any]) -> float:
    return next((v for k, v in scores.items() if k.startswith("pass@")), 0.0)
