"""Human-readable views of ``results.json``: the side-by-side table and the pass@k bar chart."""
from __future__ import annotations

import os
from typing import Any, Mapping

from moe_coder.evaluation.scoring import EXPERT_PREFIX, ORACLE


def _system_order(systems: Mapping[str, Any]) -> list[str]:
    experts = [s for s in systems if s.startswith(EXPERT_PREFIX)]
    others = [s for s in systems if not s.startswith(EXPERT_PREFIX) and s != ORACLE]
    return experts + others + ([ORACLE] if ORACLE in systems else [])


def _label(system: str) -> str:
    return system.removeprefix(EXPERT_PREFIX)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}"


def format_table(results: Mapping[str, Any]) -> str:
    """Systems side by side: pass@k overall, pass@1 per language, clean-subset pass@k if any."""
    systems = results["systems"]
    order = _system_order(systems)
    metrics = sorted({m for s in systems.values() for m in s["pass@k"]}, key=lambda m: int(m.split("@")[1]))
    languages = sorted({lang for s in systems.values() for lang in s["per_language"]})
    first = metrics[0] if metrics else "pass@1"
    header = ["system", *metrics]
    if len(languages) > 1:
        header += [f"{lang} {first}" for lang in languages]
    clean = any("clean" in s for s in systems.values())
    if clean:
        header += [f"clean {m}" for m in metrics]
    header.append("tasks")
    rows = []
    for name in order:
        entry = systems[name]
        row = [_label(name), *(_pct(entry["pass@k"].get(m)) for m in metrics)]
        if len(languages) > 1:
            row += [_pct(entry["per_language"].get(lang, {}).get(first)) for lang in languages]
        if clean:
            row += [_pct(entry.get("clean", {}).get("pass@k", {}).get(m)) for m in metrics]
        row.append(str(entry["n_tasks"]))
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if ORACLE in systems and systems[ORACLE].get("chosen"):
        chosen = ", ".join(f"{lang}: {expert}" for lang, expert in systems[ORACLE]["chosen"].items())
        lines.append(f"oracle = best expert per language ({chosen})")
    skipped = {t: why for s in systems.values() for t, why in s.get("skipped", {}).items()}
    if skipped:
        lines.append(f"skipped (not scored): {len(skipped)} task(s), e.g. {next(iter(skipped))}: {next(iter(skipped.values()))}")
    return "\n".join(lines)


def plot_pass_at_k(results: Mapping[str, Any], path: str | os.PathLike) -> None:
    """A grouped bar chart: one group per system, one bar per k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = results["systems"]
    order = _system_order(systems)
    metrics = sorted({m for s in systems.values() for m in s["pass@k"]}, key=lambda m: int(m.split("@")[1]))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(order) + 1), 3.6))
    width = 0.8 / max(1, len(metrics))
    for i, metric in enumerate(metrics):
        values = [100 * systems[s]["pass@k"].get(metric, 0.0) for s in order]
        xs = [j + (i - (len(metrics) - 1) / 2) * width for j in range(len(order))]
        bars = ax.bar(xs, values, width, label=metric)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(order)), [_label(s) for s in order], rotation=20, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(f"{results['benchmark']}: pass@k")
    if metrics:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
