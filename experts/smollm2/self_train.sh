#!/usr/bin/env bash
# Self-training with execution feedback (rejection sampling, as STaR / RFT / ReST-EM): the untuned
# base samples answers to MBPP's training tasks (few-shot 1-10, validation 511-600, train 601-974;
# never the test split), the harness runs each against its tests, and an expert is trained on the
# answers that passed (experts/verified_answers.py, decontaminated). Then the untuned base, the
# shipped expert and the self-trained one are evaluated by running the code (greedy; clean subsets:
# for MBPP, HumanEval, HumanEval+, MBPP+ and MBPP's test split; for MBPP in JavaScript, HumanEval-X
# JavaScript and its own test split) and compared pairwise. Every step resumes or is skipped when done.
#
#   bash experts/smollm2/self_train.sh [OUT_DIR]      (default runs/rft)
#
# Environment: EXPERT (default python), BENCH (the tasks: mbpp, default, or mbpp_js, MBPP with its tests
# translated to JavaScript, for example with EXPERT=web), N_SAMPLES (4 per temperature), TEMPERATURES ("0.8 0.4"), PER_TASK (4),
# TRAIN_SET (blank: the verified rows alone; a path: that expert set, for example
# runs/expert-data/python.jsonl with its .report.json beside it, is trained on too),
# SET: extra `--set key=value` overrides of the recipe, space-separated (for example
# "training.epochs=2 training.max_steps=null"),
# SAMPLER: the mixture whose EXPERT samples the answers (default builtin-base; a later round of
# ReST-EM samples from the previous round's candidate, for example runs/rft/mix),
# PRIOR_SAMPLES: samples files of earlier rounds, space-separated, whose passing answers are pooled
# with this round's (the expert is always trained from the base, on the pool),
# SYSTEMS: the mixtures evaluated beside the candidate (default "builtin-base builtin").
set -euo pipefail
out=${1:-runs/rft}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python}
expert=${EXPERT:-python}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# 1. the training tasks, and the sampler's answers at each temperature, executed (the first
#    temperature writes samples-NAME with seed 0, the i-th one samples-NAME-tTT with seed 100 x i;
#    NAME is "base" for builtin-base, else the sampler mixture's folder name)
bench=${BENCH:-mbpp}
case $bench in mbpp|mbpp_js) ;; *) echo "BENCH must be mbpp or mbpp_js, not $bench" >&2; exit 2 ;; esac
ids=$out/${bench}_train_ids.json
split_ids() {  # the benchmark's task ids outside (train) or inside (test) MBPP's test split 11-510
    "$python" -c "import json, sys; from moe_coder.benchmarks import load_benchmark
test = sys.argv[3] == 'test'
json.dump([p.task_id for p in load_benchmark(sys.argv[1]) if (11 <= int(p.task_id.rpartition('/')[2]) <= 510) == test],
          open(sys.argv[2], 'w'))" "$@"
}
[ -f "$ids" ] || split_ids "$bench" "$ids" train
n=${N_SAMPLES:-4}
sampler=${SAMPLER:-builtin-base}
tag=base
[ "$sampler" = builtin-base ] || tag=$(basename "$sampler")
samples=()
for prior in ${PRIOR_SAMPLES:-}; do
    [ -f "$prior" ] || { echo "no samples file $prior (PRIOR_SAMPLES)" >&2; exit 2; }
    samples+=("$(cd "$(dirname "$prior")" && pwd)/$(basename "$prior")")
done
i=0
for t in ${TEMPERATURES:-0.8 0.4}; do
    dir=$out/samples-$tag
    [ "$i" -gt 0 ] && dir=$out/samples-$tag-t${t//./}
    "$python" -m moe_coder evaluate --benchmark "$bench" --mixture "$sampler" --expert "$expert" --tasks "$ids" \
        --n-samples "$n" --temperature "$t" --seed $((100 * i)) --max-new-tokens 384 --k "1,$n" --out "$dir"
    samples+=("$dir/samples.jsonl")
    i=$((i + 1))
done

# 2. the passing answers as training rows (asked as MBPP asks, and as HumanEval asks), decontaminated
[ -f "$out/data/summary.json" ] || "$python" "$root/experts/verified_answers.py" --samples "${samples[@]}" \
    --out "$out/data" --per-task "${PER_TASK:-4}" --completion-rows

# 3. the expert, trained with the shipped expert's recipe on those rows
train=("$out/data/verified.jsonl")
reports=("$out/data/verified.report.json")
if [ -n "${TRAIN_SET:-}" ]; then
    train+=("$(cd "$(dirname "$TRAIN_SET")" && pwd)/$(basename "$TRAIN_SET")")
    reports+=("${train[1]%.jsonl}.report.json")
fi
join() { local IFS=,; echo "[$*]"; }
overrides=(--set "data.train=$(join "${train[@]}")" --set "data.decontamination_reports=$(join "${reports[@]}")")
for kv in ${SET:-}; do overrides+=(--set "$kv"); done
if [ ! -f "$out/experts/$expert/adapter_model.safetensors" ]; then
    "$python" -m moe_coder train-expert "$here/$expert.yaml" --output "$out/experts/$expert" --resume "${overrides[@]}"
fi

# 4. a candidate mixture: the built-in one with this expert's adapter in place of the shipped one
mix=$out/mix
if [ ! -f "$mix/experts/$expert/adapter_model.safetensors" ]; then
    rm -rf "$mix.tmp" && cp -r "$root/moe_coder/builtin" "$mix.tmp"
    cp "$out/experts/$expert/adapter_model.safetensors" "$out/experts/$expert/adapter_config.json" "$mix.tmp/experts/$expert/"
    rm -rf "$mix" && mv "$mix.tmp" "$mix"
fi

# 5. base, shipped and self-trained, greedy, on the clean subsets (what the sets train on left out:
#    the verified rows' tasks, and the shipped expert's set's, from build_expert_data.py's excluded.json,
#    or its decontamination report where the set trains on no MBPP task)
shipped_excluded=${SHIPPED_EXCLUDED:-$root/runs/expert-data/$expert.excluded.json}
[ -n "${SHIPPED_EXCLUDED:-}" ] || [ -f "$shipped_excluded" ] || shipped_excluded=$root/runs/expert-data/$expert.report.contaminated.json
if [ ! -f "$shipped_excluded" ]; then
    echo "no $shipped_excluded: build the expert sets first (experts/build_expert_data.py), or name the file with" \
         "SHIPPED_EXCLUDED, so that the shipped expert's training tasks are left out of the clean scores" >&2
    exit 2
fi
"$python" - "$out/excluded.json" "$out/data/excluded.json" "$shipped_excluded" <<'PY'
import json, sys, os
merged = {}
for path in sys.argv[2:]:
    if os.path.exists(path):
        for name, ids in json.load(open(path))["benchmark_ids"].items():
            merged.setdefault(name, set()).update(ids)
if "mbpp_plus" not in merged:
    sys.exit("no excluded.json found: build the sets first")
# MBPP in JavaScript asks MBPP's test tasks in other words: a test task matched is left out in both
merged["mbpp_js"] = {f"mbpp_js/{i.rpartition('/')[2]}" for i in merged.get("mbpp_test", ())}
by_set = {k: sorted(v) for k, v in merged.items()}
json.dump({"ids": sorted({i for v in by_set.values() for i in v}), "benchmark_ids": by_set}, open(sys.argv[1], "w"), indent=1)
PY
test_ids=$out/${bench}_test_ids.json
[ -f "$test_ids" ] || split_ids "$bench" "$test_ids" test
systems=(${SYSTEMS:-builtin-base builtin})
for mixture in "${systems[@]}" "$mix"; do
    name=$(basename "$mixture")
    if [ "$bench" = mbpp_js ]; then
        "$python" -m moe_coder evaluate --benchmark humaneval_x_js --mixture "$mixture" --expert "$expert" \
            --max-new-tokens 384 --exclude "$out/excluded.json" --out "$out/eval/$name/humaneval_x_js"
        "$python" -m moe_coder evaluate --benchmark mbpp_js --tasks "$test_ids" --mixture "$mixture" --expert "$expert" \
            --max-new-tokens 384 --exclude "$out/excluded.json" --out "$out/eval/$name/mbpp_js_test"
        continue
    fi
    for b in humaneval mbpp_plus; do
        "$python" -m moe_coder evaluate --benchmark "$b" --mixture "$mixture" --expert "$expert" \
            --max-new-tokens 384 --exclude "$out/excluded.json" --out "$out/eval/$name/$b"
    done
    "$python" -m moe_coder evaluate --benchmark humaneval_plus --samples "$out/eval/$name/humaneval/samples.jsonl" \
        --exclude "$out/excluded.json" --out "$out/eval/$name/humaneval_plus" >/dev/null
    # MBPP's own test split (tasks 11-510, 500 tasks): more tasks than clean MBPP+, asked the same way
    "$python" -m moe_coder evaluate --benchmark mbpp --tasks "$test_ids" --mixture "$mixture" --expert "$expert" \
        --max-new-tokens 384 --exclude "$out/excluded.json" --out "$out/eval/$name/mbpp_test"
done

# 6. paired comparisons (exact McNemar, bootstrap 95% interval), clean subsets
benches="humaneval humaneval_plus mbpp_plus mbpp_test"
[ "$bench" = mbpp_js ] && benches="humaneval_x_js mbpp_js_test"
names=()
for mixture in "${systems[@]}"; do names+=("$(basename "$mixture")"); done
pairs=()
for a in "${names[@]}"; do pairs+=("$a mix"); done
[ "${#names[@]}" -ge 2 ] && pairs+=("${names[0]} ${names[1]}")
for pair in "${pairs[@]}"; do
    set -- $pair
    for b in $benches; do
        echo "== $b: $2 against $1"
        "$python" -m moe_coder compare "$out/eval/$1/$b" "$out/eval/$2/$b" --clean
    done
done
