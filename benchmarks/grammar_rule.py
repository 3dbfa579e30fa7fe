"""How often the router's grammar rule fires on its own splits, and whether the labels agree with it.

For each prompt (translations left out: their language is the target's, which the rule does not
touch), the shipped router's language probabilities are computed with the rule switched off; then
the rule's conditions (:func:`moe_coder.routing.constraints.reject_ungrammatical`) are checked on
them. A firing row counts as *label rejected* when the prompt's label is among the languages the
rule scales down, and *label accepted* when the label is among the rivals whose grammar accepts
the code. Then the router's language accuracy with the rule off and on, and the prompts it changes.

    python benchmarks/grammar_rule.py                     # validation and test splits
    python benchmarks/grammar_rule.py --splits test --show 20
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import moe_coder.routing.constraints as constraints  # noqa: E402
from moe_coder.routing.grammar import GRAMMARS, code_errors  # noqa: E402
from moe_coder.routing.router import PromptRouter  # noqa: E402
from moe_coder.routing.text import split_conversation  # noqa: E402

DATA = ROOT / "router_training" / "data"


def _rule_off(proba, classes, codes, candidates=constraints.GRAMMAR_CANDIDATES, veto=constraints.GRAMMAR_VETO):
    return np.array(proba, dtype=np.float64, copy=True)


def firings(proba: np.ndarray, classes: list[str], codes: list[bytes]) -> list[tuple[int, list[str], list[str]]]:
    """``(row, rejected, accepting)`` for each row the rule fires on, as
    :func:`~moe_coder.routing.constraints.reject_ungrammatical` decides it."""
    out = []
    for i, code in enumerate(codes):
        if not code:
            continue
        order = np.argsort(-proba[i], kind="stable")[: constraints.GRAMMAR_CANDIDATES]
        if classes[order[0]] not in GRAMMARS:
            continue
        first = code_errors(code, classes[order[0]])
        if first is None or not first[0]:
            continue
        verdicts = {classes[order[0]]: first}
        for j in order[1:]:
            if classes[j] in GRAMMARS and proba[i, j] >= constraints.GRAMMAR_RIVAL_FLOOR:
                verdicts[classes[j]] = code_errors(code, classes[j])
        rejected = [lang for lang, v in verdicts.items() if v is not None and v[0]]
        accepting = [lang for lang, v in verdicts.items() if constraints._accepts(lang, v, rejected)]
        if accepting:
            out.append((i, rejected, accepting))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", nargs="+", default=["validation", "test"])
    ap.add_argument("--show", type=int, default=10, help="print this many firing prompts per split")
    args = ap.parse_args(argv)
    router = PromptRouter.from_pretrained(ROOT / "moe_coder" / "builtin" / "router")
    classes = [str(c) for c in router.classes_[0]]
    rule = constraints.reject_ungrammatical
    print(f"{'split':<11} {'prompts':>7} {'fires':>6} {'label rejected':>15} {'label accepted':>15}  "
          f"{'accuracy off':>12} {'on':>7} {'fixed':>6} {'broken':>6}")
    for split in args.splits:
        rows = [json.loads(line) for line in gzip.open(DATA / f"{split}.jsonl.gz", "rt")]
        rows = [r for r in rows if r["task"] != "translate"]
        prompts = [r["prompt"] for r in rows]
        labels = np.array([r["language"] for r in rows])
        constraints.reject_ungrammatical = _rule_off
        try:
            off = router.predict_proba(prompts)[0]
        finally:
            constraints.reject_ungrammatical = rule
        on = router.predict_proba(prompts)[0]
        codes = constraints.CodeEvidence.of([split_conversation(p)[0] for p in prompts]).code
        fired = firings(off, classes, codes)
        rejected = sum(labels[i] in rej for i, rej, _ in fired)
        accepted = sum(labels[i] in acc for i, _, acc in fired)
        pred_off = np.array([classes[j] for j in off.argmax(1)])
        pred_on = np.array([classes[j] for j in on.argmax(1)])
        changed = pred_off != pred_on
        fixed = int((changed & (pred_on == labels)).sum())
        broken = int((changed & (pred_off == labels)).sum())
        print(f"{split:<11} {len(rows):>7} {len(fired):>6} {rejected:>15} {accepted:>15}  "
              f"{(pred_off == labels).mean():>12.4f} {(pred_on == labels).mean():>7.4f} {fixed:>6} {broken:>6}")
        for i, rej, acc in fired[: args.show]:
            text = split_conversation(prompts[i])[0][:100].replace("\n", "\\n")
            print(f"    label {labels[i]:<10} rejected {','.join(rej):<20} accepted {','.join(acc):<20} {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
