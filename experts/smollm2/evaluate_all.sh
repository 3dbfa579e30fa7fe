#!/usr/bin/env bash
# Evaluate the built-in mixture against its untuned baseline (`builtin-base`), greedy pass@1, by
# running the generated code. Per benchmark, in one output folder per mixture:
#   builtin-base: the language's expert alone and the routed mixture (the untuned base, with the
#                 system prompts of the built-in experts);
#   builtin:      the language's trained expert alone, the all-data generalist and the routed mixture
#                 (any other mixture, such as a folder of candidate adapters, is run like builtin;
#                 with greedy decoding the routed answer to a task the router sends to that expert is
#                 its answer alone, so it is reused, not generated again).
# HumanEval+ re-scores the HumanEval samples against HumanEval+'s tests (same prompts). Re-running
# resumes every run. Compare with `moe-coder compare` (see docs/experts.md). A mixture given as a folder
# writes under OUT_DIR/<folder name>.
#
#   bash experts/smollm2/evaluate_all.sh [OUT_DIR]    (default runs/eval)
#
# Environment: LIMIT=N keeps the first N tasks of each HumanEval-X language (default: all 164);
# MBPP_LIMIT=N likewise for MBPP+; BENCHMARKS and MIXTURES override the lists; EXCLUDE names the contaminated-ids file of the training data
# (default runs/expert-data/generalist.report.contaminated.json: the generalist's data is the union; the shipped
# generalist's decontamination.contaminated.json where that build is absent).
set -euo pipefail
out=${1:-runs/eval}
python=${PYTHON:-python}
benchmarks=${BENCHMARKS:-humaneval humaneval_x_cpp humaneval_x_java humaneval_x_js humaneval_x_go humaneval_x_rust mbpp_plus}
exclude=${EXCLUDE:-runs/expert-data/generalist.report.contaminated.json}
# without a local build of the training sets, the ids the shipped generalist's report lists (the union's)
[ -n "${EXCLUDE:-}" ] || [ -f "$exclude" ] || exclude=moe_coder/builtin/experts/generalist/decontamination.contaminated.json
tokens=${MAX_NEW_TOKENS:-384}
mixtures=${MIXTURES:-builtin-base builtin}

expert_for() {
    case $1 in
        humaneval|humaneval_plus|mbpp_plus|humaneval_x_python) echo python ;;
        humaneval_x_cpp|humaneval_x_go|humaneval_x_rust) echo systems ;;
        humaneval_x_java) echo java_csharp ;;
        humaneval_x_js) echo web ;;
        *) echo "no expert for $1" >&2; return 1 ;;
    esac
}

for bench in $benchmarks; do
    expert=$(expert_for "$bench")
    limit=()
    case $bench in humaneval_x_*) [ -n "${LIMIT:-}" ] && limit=(--limit "$LIMIT") ;; esac
    [ "$bench" = mbpp_plus ] && [ -n "${MBPP_LIMIT:-}" ] && limit=(--limit "$MBPP_LIMIT")
    for mixture in $mixtures; do
        systems=(--expert "$expert" --expert routed)
        [ "$mixture" != builtin-base ] && systems+=(--expert generalist)
        echo "== $mixture on $bench: ${systems[*]} ${limit[*]}"
        "$python" -m moe_coder evaluate --benchmark "$bench" --mixture "$mixture" "${systems[@]}" "${limit[@]}" \
            --max-new-tokens "$tokens" --exclude "$exclude" --out "$out/$(basename "$mixture")/$bench"
    done
done

# HumanEval+: the HumanEval samples of every system, scored against HumanEval+'s tests.
for mixture in $mixtures; do
    mixture=$(basename "$mixture")
    samples=$out/$mixture/humaneval/samples.jsonl
    [ -f "$samples" ] || continue
    "$python" - "$samples" "$out/$mixture/humaneval_plus" <<'PY'
import json, sys
from pathlib import Path
samples, dest = Path(sys.argv[1]), Path(sys.argv[2])
by_system = {}
for line in samples.read_text().splitlines():
    row = json.loads(line)
    if row.get("passed") is not None or row.get("reason") == "skipped":
        by_system.setdefault(row["system"], []).append(row)
for system, rows in by_system.items():
    folder = dest / "samples" / system.replace(":", "-")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "samples.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in ("task_id", "completion", "kind") if k in row}) + "\n")
PY
    for folder in "$out/$mixture/humaneval_plus/samples"/*/; do
        system=$(basename "$folder")
        echo "== $mixture on humaneval_plus: $system (re-scored)"
        "$python" -m moe_coder evaluate --benchmark humaneval_plus --samples "$folder/samples.jsonl" \
            --exclude "$exclude" --out "$out/$mixture/humaneval_plus/$system"
    done
done
