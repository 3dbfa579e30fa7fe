#!/usr/bin/env bash
# Build the built-in experts from scratch with the library's own pipeline: the training sets
# (decontaminated against every benchmark `moe-coder evaluate` runs), then one LoRA adapter per
# expert. Re-running resumes: a finished expert is skipped, a killed one continues from its last
# checkpoint.
#
#   bash experts/smollm2/train_all.sh DATA_DIR [OUT_DIR]
#
# DATA_DIR holds code/, instruct/ and mbpp/ (see docs/experts.md for where each comes from);
# OUT_DIR defaults to runs/ (training sets in OUT_DIR/expert-data, experts in OUT_DIR/experts/NAME).
# MAX_RESPONSE_CHARS (default 1500, the shipped experts' setting; 0 keeps every answer) leaves out
# training rows whose answer is longer (docs/experts.md, "Leaving out long answers").
set -euo pipefail
data=${1:?usage: train_all.sh DATA_DIR [OUT_DIR]}
out=${2:-runs}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}
experts=${EXPERTS:-python systems java_csharp web shell_sql generalist}
max_chars=${MAX_RESPONSE_CHARS:-1500}
cap=()
[ "$max_chars" != 0 ] && cap=(--max-response-chars "$max_chars")

if [ ! -f "$out/expert-data/summary.json" ]; then
    "$python" "$here/../build_expert_data.py" --data "$data" --out "$out/expert-data" "${cap[@]}"
fi
for name in $experts; do
    if [ -f "$out/experts/$name/metrics.json" ] && [ -f "$out/experts/$name/adapter_model.safetensors" ]; then
        echo "== $name: already trained ($out/experts/$name)"
        continue
    fi
    echo "== $name: training into $out/experts/$name"
    "$python" -m moe_coder train-expert "$here/$name.yaml" --output "$out/experts/$name" --resume \
        --set "data.train=$(cd "$out" && pwd)/expert-data/$name.jsonl" \
        --set "data.decontamination_reports=$(cd "$out" && pwd)/expert-data/$name.report.json"
done
