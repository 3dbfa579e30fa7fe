"""Grammar evidence benchmark: time per 40-line snippet, and how often the cleanest grammar is the right one.

Snippets are 40-line windows of the code corpus (router_training/data/code.jsonl.gz), 10 per
language. Each is timed through :class:`moe_coder.routing.grammar.GrammarEvidence` as the router
calls it (the code identifier's top candidates parsed), for 1, 2 and 3 candidates and for all
twelve grammars; the same-run baseline is the cue extraction of the same snippet (pure Python
regular expressions), so the figures can be compared across runs on a loaded machine.

    python benchmarks/grammar.py            # budget: <= 2 ms per 40-line snippet
    python benchmarks/grammar.py --per-language 30
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moe_coder.routing.cues import _cues  # noqa: E402
from moe_coder.routing.grammar import GRAMMAR_LANGUAGES, GrammarEvidence, parse_code  # noqa: E402
from moe_coder.routing.router import PromptRouter  # noqa: E402

CORPUS = ROOT / "router_training" / "data" / "code.jsonl.gz"


def snippets(per_language: int, lines: int = 40) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in gzip.open(CORPUS, "rt")]
    rng = random.Random(0)
    by: dict[str, list[str]] = {}
    for row in rows:
        code_lines = row["code"].splitlines()
        if len(code_lines) >= lines:
            by.setdefault(row["language"], []).append("\n".join(code_lines[:lines]))
    return [(lang, c) for lang, codes in sorted(by.items()) for c in rng.sample(codes, min(per_language, len(codes)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="timings per snippet; the smallest counts")
    args = ap.parse_args()
    data = snippets(args.per_language)
    router = PromptRouter.from_pretrained(ROOT / "moe_coder" / "builtin" / "router")
    identifier = router.code_model_
    languages = [str(c) for c in identifier.classes_]
    scores = identifier.predict_proba([c for _, c in data])
    for lang in GRAMMAR_LANGUAGES:  # load every grammar before timing
        parse_code("x", lang)

    def best_of(fn) -> float:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        return min(times)

    results: dict[str, list[float]] = {"cue extraction (baseline)": [], "code identifier": []}
    for i, (_, code) in enumerate(data):
        results["cue extraction (baseline)"].append(best_of(lambda: _cues.__wrapped__(code)))
        results["code identifier"].append(best_of(lambda: identifier.predict_proba([code])))
    for k in (1, 2, 3, len(GRAMMAR_LANGUAGES)):
        evidence = GrammarEvidence(GRAMMAR_LANGUAGES, candidates=k)
        name = f"grammar evidence, {k} candidate{'s' if k > 1 else ''}"
        results[name] = [best_of(lambda: evidence.features([code], scores[i: i + 1], languages))
                         for i, (_, code) in enumerate(data)]
    # does the cleanest grammar name the snippet's language? (all twelve parsed, ties to the identifier)
    right, counted = 0, 0
    for i, (lang, code) in enumerate(data):
        if lang not in GRAMMAR_LANGUAGES:
            continue
        clean = {g: parse_code(code, g)[0] for g in GRAMMAR_LANGUAGES}
        top = max(clean, key=lambda g: (clean[g], scores[i, languages.index(g)]))
        right += top == lang
        counted += 1
    base = float(np.median(results["cue extraction (baseline)"]))
    print(f"{len(data)} snippets of 40 lines, {np.mean([len(c.encode()) for _, c in data]):.0f} bytes on average; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
          + (" (loaded by other work: compare the ratios)" if os.getloadavg()[0] > 0.8 * (os.cpu_count() or 1) else ""))
    print(f"{'':<36} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8} {'p50 / baseline':>15}")
    for name, times in results.items():
        print(f"{name:<36} {np.percentile(times, 50):>8.3f} {np.percentile(times, 90):>8.3f} {np.mean(times):>8.3f} "
              f"{np.percentile(times, 50) / base:>15.2f}")
    print(f"cleanest of the twelve grammars is the snippet's language: {right}/{counted} "
          f"({right / max(counted, 1):.2f}; windows are cut mid-file, so this is a lower bound)")
    print("budget: <= 2 ms per 40-line snippet for the grammar evidence the router runs")


if __name__ == "__main__":
    main()
