"""Ship trained experts into the package's built-in mixture (``moe_coder/builtin``).

For each expert trained by ``train_all.sh`` (``RUNS/NAME``) this writes ``moe_coder/builtin/experts/NAME/``:

- ``adapter_model.safetensors``: the LoRA weights in bfloat16 (half the size of the float32 training
  output; every shipped adapter together must stay within 40 MB), ``adapter_config.json``;
- ``expert.json`` (the trained entry: base, prompt format, system prompt), ``training.json`` (recipe
  and data by name and SHA-256, no local paths), ``metrics.json`` (losses, tokens/s);
- ``decontamination.json``: the decontamination report of the expert's training set (counts, every
  evaluation set, every matched benchmark task with the training rows that matched it; without the
  sampled substrings, which the seed regenerates, and without local paths), and
  ``decontamination.contaminated.json``, the matched task ids, which ``moe-coder evaluate --exclude``
  reads for clean scores;
- ``excluded.json``, where the data build wrote one: every benchmark task to leave out of clean
  scores (the matched tasks, and each MBPP+ task whose MBPP original trains, by number);
- ``README.md``: the model card, with the data's sources and the attributions their licences ask
  for, the decontamination summary and, given ``--eval``, the expert's execution scores.

and points ``moe_coder/builtin/mixture.json``'s experts at them. With ``--plot`` it also draws every
expert's training loss into one PNG for docs/experts.md. Nothing is written half-way: each file is
written atomically, ``mixture.json`` last.

    python experts/smollm2/ship.py --runs runs/experts --data-summary runs/expert-data/summary.json \\
        [--eval runs/eval] [--plot docs/images/expert_training_loss.png]
    python experts/smollm2/ship.py --scores-only --eval runs/eval      # scores into the shipped cards only
    python experts/smollm2/ship.py --reports-only --data-summary runs/expert-data/summary.json  # reports only
    python experts/smollm2/ship.py --runs runs/short/experts --data-summary runs/short/expert-data/summary.json \\
        --into runs/mix-short                                         # a candidate mixture, to evaluate first
    python experts/smollm2/ship.py --runs runs/rft2/experts --data-summary runs/rft2/data/summary.json \\
        --experts python --eval runs/rft2/eval --eval-mixture mix      # a self-trained expert (self_train.sh)

A ``--data-summary`` written by ``experts/verified_answers.py`` (self-training by execution) ships
that folder's ``verified.*`` reports and describes the sampled, verified answers in the card.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from moe_coder.atomic import write_text_atomic
from moe_coder.finetune.model_card import model_card

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = ROOT / "moe_coder" / "builtin"
NAMES = ("generalist", "python", "systems", "java_csharp", "web", "shell_sql")
BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: The decontamination report and matched task ids each shipped expert carries.
DECONTAMINATION_REPORT = "decontamination.json"
DECONTAMINATION_IDS = "decontamination.contaminated.json"
#: Every benchmark task to leave out of the clean scores (matched, or trained on by task number).
EXCLUDED = "excluded.json"

#: Where each source of the training data comes from and what its licence asks of a model trained on it.
SOURCES = {
    "code/30seconds": "30-seconds-of-{python,php,golang,csharp} (Chalarangelo; Python CC-BY-4.0, others CC0-1.0) "
                      "and deepakshrma/30-seconds-of-typescript (MIT; adapted from 30-seconds-of-code, CC-BY-4.0)",
    "code/advising": "the Advising text-to-SQL set of jkkummerfeld/text2sql-data (CC-BY-4.0)",
    "code/cpp30": "Bhupesh-V/30-seconds-of-cpp (MIT)",
    "code/defog": "defog-ai/sql-eval with schemas from defog-ai/defog-data (Apache-2.0)",
    "code/exercism": "Exercism language tracks (exercism/bash, c, cpp, csharp, go, java, javascript, php, python, "
                     "rust, sqlite, typescript; MIT)",
    "code/fragglet_c": "fragglet/c-algorithms (ISC)",
    "code/jonas_csharp": "JonasSchubert/30-seconds-of-c-sharp (MIT)",
    "code/musl": "musl libc (MIT)",
    "code/named_algos": "kennyledet/Algorithm-Implementations and AllAlgorithms (MIT)",
    "code/thealgorithms": "TheAlgorithms (C-Plus-Plus, Go, Java, PHP, Python, Rust, TypeScript; MIT)",
    "code/tldr": "tldr-pages (CC-BY-4.0)",
    "code/trekhleb_js": "trekhleb/javascript-algorithms (MIT)",
    "gpteacher": "GPTeacher Codegen (teknium1/GPTeacher, MIT; written with GPT-4: check OpenAI's terms for your use)",
    "mbpp": "MBPP's prompt, validation and train splits (task_ids 1-10 and 511-974; google-research, CC-BY-4.0)",
}
CC_BY = ("code/30seconds", "code/advising", "code/tldr", "mbpp")

#: Benchmarks each expert is scored on in ``--eval``'s runs, and the label of each in its card.
LABELS = {"humaneval": "HumanEval", "humaneval_plus": "HumanEval+", "mbpp_plus": "MBPP+",
          "humaneval_x_cpp": "HumanEval-X C++", "humaneval_x_java": "HumanEval-X Java",
          "humaneval_x_js": "HumanEval-X JS", "humaneval_x_go": "HumanEval-X Go", "humaneval_x_rust": "HumanEval-X Rust",
          "mbpp_test": "MBPP test split (11-510)", "mbpp_js_test": "MBPP in JavaScript, test split (11-510)"}


#: How self_train.sh's clean subsets are chosen, said in a self-trained expert's card.
SELF_TRAINED_CLEAN = ("The clean subsets leave out every task that this expert's rows or the {name} set of "
                      "`experts/build_expert_data.py` train on (`self_train.sh` merges both `excluded.json` files), "
                      "so that the base, the {name} expert trained on that set, and this one are scored on the same tasks.")


def self_trained(summary: dict[str, Any]) -> bool:
    """Whether a data summary is ``verified_answers.py``'s (self-training by execution) rather than
    ``build_expert_data.py``'s."""
    return "answers passing" in summary


def data_stem(summary: dict[str, Any], name: str) -> str:
    """The stem of an expert's training set and reports in the summary's folder."""
    return "verified" if self_trained(summary) else name


def _strip_paths(training: dict[str, Any]) -> dict[str, Any]:
    """``training.json`` without local paths: data files by name (their SHA-256 stays)."""
    data = dict(training["data"])
    for key in ("train_files", "reports", "files"):
        if key in data:
            data[key] = [Path(p).name for p in data[key]]
    recipe = json.loads(json.dumps(training["recipe"]))
    for key in ("train", "eval", "decontamination_reports"):
        value = recipe.get("data", {}).get(key)
        if isinstance(value, list):
            recipe["data"][key] = [Path(p).name for p in value]
        elif isinstance(value, str):
            recipe["data"][key] = Path(value).name
    return {**training, "data": data, "recipe": recipe}


def shipped_report(report: dict[str, Any]) -> dict[str, Any]:
    """A decontamination report as it ships beside an adapter: no sampled substrings (the report's
    seed and parameters regenerate them) and files by name, not by local path."""
    def name(path: Any) -> Any:
        return Path(path).name if isinstance(path, str) else path

    out = {k: v for k, v in report.items() if k != "substrings"}
    if isinstance(out.get("output"), dict):
        out["output"] = {**out["output"], "path": name(out["output"].get("path"))}
    if "contaminated_ids_file" in out:
        out["contaminated_ids_file"] = DECONTAMINATION_IDS
    out["train_files"] = [{**f, "path": name(f.get("path"))} for f in out.get("train_files", [])]
    for key in ("contaminated", "removed"):
        rows = []
        for row in out.get(key, []):
            row = dict(row)
            if "file" in row:
                row["file"] = name(row["file"])
            if isinstance(row.get("matches"), list):
                row["matches"] = [{**m, "file": name(m["file"])} if "file" in m else m for m in row["matches"]]
            rows.append(row)
        out[key] = rows
    return out


def ship_reports(data_dir: Path, name: str, target: Path, stem: str | None = None) -> None:
    """Write ``name``'s decontamination report, matched ids and (where the build wrote it) the
    tasks to leave out of clean scores from ``data_dir`` (the folder of ``build_expert_data.py``'s
    output, or of ``verified_answers.py``'s with ``stem="verified"``) into the expert folder ``target``."""
    stem = stem or name
    report_file = data_dir / f"{stem}.report.json"
    ids_file = data_dir / f"{stem}.report.contaminated.json"
    for path in (report_file, ids_file):
        if not path.is_file():
            raise FileNotFoundError(f"expert {name!r}: no decontamination report at {path}; run "
                                    + ("experts/verified_answers.py" if stem == "verified" else
                                       "experts/build_expert_data.py") + " first")
    excluded = data_dir / ("excluded.json" if stem == "verified" else f"{stem}.excluded.json")
    report = shipped_report(json.loads(report_file.read_text()))
    training_file = target / "training.json"
    if training_file.is_file():  # say whether this report is of the very set the adapter was trained on
        trained = json.loads(training_file.read_text())["data"].get("sha256") or []
        built = (report.get("output") or {}).get("sha256")
        report["training_set_sha256"] = trained
        report["same_set_as_training"] = built in trained
        if built not in trained:
            report["note"] = ("this report is of a training set whose SHA-256 differs from the set the adapter "
                              "was trained on; its benchmark matches are those of this set")
    write_text_atomic(target / DECONTAMINATION_IDS, ids_file.read_text())
    if excluded.is_file():
        write_text_atomic(target / EXCLUDED, excluded.read_text())
    elif (target / EXCLUDED).exists():  # left from another build: it would not match this report
        (target / EXCLUDED).unlink()
    write_text_atomic(target / DECONTAMINATION_REPORT,
                      json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def _decontamination_text(contaminated_tasks: dict[str, int], excluded: bool) -> str:
    contaminated = ", ".join(f"{bench} {n}" for bench, n in contaminated_tasks.items())
    exclude = EXCLUDED if excluded else DECONTAMINATION_IDS
    return ("Decontaminated with `moe-coder decontaminate` (OpenAI's 50-character substring method) against "
            f"HumanEval, HumanEval+, MBPP+, HumanEval-X and MBPP's test split; benchmark tasks matched by a "
            f"training row: {contaminated}. Those tasks are left out of the clean scores. The report is "
            f"`{DECONTAMINATION_REPORT}` in this folder; `moe-coder evaluate --exclude {exclude}` "
            "scores a benchmark's clean subset"
            + (" (the matched tasks, and every MBPP+ task whose MBPP original trains: MBPP+ rewords many "
               "questions, so the match misses them)." if excluded else "."))


def _self_trained_data_section(summary: dict[str, Any], excluded: bool) -> list[str]:
    """The card's data section for an expert trained on its own verified answers (verified_answers.py)."""
    before, after = summary["rows_before"], summary["rows_after"]
    lines = ["## Data and attributions", "",
             f"{sum(after.values()):,} rows after decontamination ({summary['removed']} removed of "
             f"{sum(before.values()):,}): answers sampled from models and kept where they pass their task's tests "
             "(self-training by execution, as in STaR, RFT and ReST-EM), built by `experts/smollm2/self_train.sh` "
             "and `experts/verified_answers.py`.", "",
             f"- Tasks: MBPP's prompt, validation and train splits (task_ids 1-10 and 511-974; never the test split "
             f"11-510), {summary['tasks sampled']} tasks"
             + (", with their tests translated to JavaScript (`moe_coder/translated_mbpp.py`, the `mbpp_js` benchmark)"
                if "mbpp_js" in summary.get("benchmarks", ()) else "") + ".",
             f"- Answers: {summary['answers sampled']:,} sampled, {summary['answers passing']} passed their tests, "
             f"on {summary['tasks with a passing answer']} tasks; at most {summary['per_task']} distinct answers kept "
             f"per task (seed {summary['seed']}); {summary.get('left out: hard-codes its tests', 0)} left out for "
             f"returning the tests' values; {summary.get('trimmed of example usage', 0)} trimmed of example usage "
             "(the trimmed answer run against the tests again).",
             "- Rows: " + ", ".join(f"{n} asked " + ("as MBPP asks (the task and its tests)" if kind == "task" else
                                                       "as HumanEval asks (complete a function from its signature "
                                                       "and its documentation)") for kind, n in sorted(after.items(),
                                                                                                  reverse=True)) + ".",
             ""]
    runs = summary.get("sample_runs") or []
    if runs:
        lines += ["| samples | sampler | temperature | answers | passed |", "|---|---|---:|---:|---:|",
                  *(f"| `{r['file']}` | {r.get('sampler', '?')} | {r.get('temperature', '?')} | {r['answers']:,} | "
                    f"{r['passing']} |" for r in runs), "",
                  "`builtin-base` is the untuned SmolLM2-135M-Instruct; a later round samples from the previous "
                  "round's self-trained expert (its candidate mixture's folder name).", ""]
    lines += ["MBPP's task texts and tests (google-research, CC-BY-4.0) are used under that licence, with "
              "attribution to their authors; the answers are SmolLM2-135M-Instruct's (Apache-2.0) and its "
              "self-trained adapters' own.", "",
              _decontamination_text(summary["contaminated_tasks"], excluded), ""]
    return lines


def _data_section(name: str, summary: dict[str, Any], excluded: bool = False) -> list[str]:
    if self_trained(summary):
        return _self_trained_data_section(summary, excluded)
    entry = summary["experts"][name]
    lines = ["## Data and attributions", "",
             f"{entry['rows_after']:,} instruction-answer rows after decontamination ({entry['removed']} removed of "
             f"{entry['rows_before']:,}), built by `experts/build_expert_data.py` (at most {summary['max_per_source']} "
             "rows per source and language, seed " f"{summary['seed']}"
             + (f"; answers longer than {summary['max_response_chars']:,} characters left out"
                if summary.get("max_response_chars") else "") + "). Sources:", ""]
    for source, counts in sorted(entry["by_source"].items()):
        origin = SOURCES.get(source, source)
        lines.append(f"- {origin}: {counts['after']:,} rows")
    used_cc_by = [s for s in CC_BY if s in entry["by_source"]]
    if used_cc_by:
        lines += ["", "Sources under CC-BY-4.0 (" + ", ".join(SOURCES[s].split(" (")[0] for s in used_cc_by) +
                  ") are used under that licence, with attribution to their authors as above; the other sources' "
                  "MIT, ISC, Apache-2.0 and CC0 terms ask for their notices, kept with the data's origin "
                  "in docs/experts.md."]
    lines += ["", _decontamination_text(entry["contaminated_tasks"], excluded), ""]
    return lines


def _pass1(results: dict[str, Any], system: str, clean: bool = True) -> tuple[float, int] | None:
    entry = results["systems"].get(system)
    if entry is None:
        return None
    scores = entry.get("clean", entry) if clean else entry
    return scores["pass@k"].get("pass@1"), scores["n_tasks"]


def _results_file(folder: Path, bench: str, system: str) -> Path:
    """A run's results: HumanEval+ re-scores are per system in ``evaluate_all.sh``'s layout
    (``humaneval_plus/expert-NAME``) and directly in the folder in ``self_train.sh``'s."""
    if bench == "humaneval_plus" and (folder / system.replace(":", "-") / "results.json").exists():
        return folder / system.replace(":", "-") / "results.json"
    return folder / "results.json"


def _score_section(name: str, eval_dir: Path | None, trained: str = "builtin",
                   reproduce: str = "bash experts/smollm2/evaluate_all.sh") -> list[str]:
    """The card's scores: the expert's own runs under ``eval_dir/trained`` beside the untuned
    base's under ``eval_dir/builtin-base`` (``evaluate_all.sh``'s and ``self_train.sh``'s layout)."""
    if eval_dir is None:
        return []
    rows = []
    for bench, label in LABELS.items():
        for folder, system in ((eval_dir / trained / bench, f"expert:{name}"),):
            results_file = _results_file(folder, bench, system)
            base_file = _results_file(eval_dir / "builtin-base" / bench, bench, system)
            if not results_file.exists():
                continue
            results = json.loads(results_file.read_text())
            mine = _pass1(results, system if bench != "humaneval_plus" else "samples")
            base = None
            if base_file.exists():
                base = _pass1(json.loads(base_file.read_text()), system if bench != "humaneval_plus" else "samples")
            if mine is None:
                continue
            base_text = f"{100 * base[0]:.1f}" if base else "-"
            rows.append(f"| {label} | {mine[1]} | {100 * mine[0]:.1f} | {base_text} |")
    if not rows:
        return []
    return ["## Scores (greedy pass@1 %, clean subset, by running the code)", "",
            "| benchmark | tasks | this expert | untuned base, same system prompt |", "|---|---:|---:|---:|", *rows, "",
            *([SELF_TRAINED_CLEAN.format(name=name), ""] if "self_train" in reproduce else []),
            f"Reproduce: `{reproduce}` (see docs/experts.md).", ""]


def candidate_mixture(into: Path) -> Path:
    """A folder to ship into other than the package's: a copy of the built-in mixture (router and
    adapters included) made when ``into`` holds no mixture yet, so that trained adapters can be
    measured as a mixture before they replace the shipped ones."""
    if (into / "mixture.json").exists():
        return into
    if into.exists() and any(into.iterdir()):
        raise FileExistsError(f"{into} is neither empty nor a mixture (no mixture.json): not shipping into it")
    staged = into.with_name(f".{into.name}.tmp")
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(BUILTIN, staged, ignore=shutil.ignore_patterns("__pycache__"))
    if into.exists():
        into.rmdir()
    staged.replace(into)
    return into


def ship(runs: Path, summary_file: Path, eval_dir: Path | None, names: list[str],
         into: Path = BUILTIN, trained: str = "builtin") -> dict[str, int]:
    """Write each of ``names``' trained expert from ``runs`` into the mixture folder ``into`` (see
    the module docstring); returns each adapter's size in bytes."""
    summary = json.loads(summary_file.read_text())
    mixture_file = into / "mixture.json"
    mixture = json.loads(mixture_file.read_text())
    by_name = {e["name"]: e for e in mixture["experts"]}
    sizes = {}
    for name in names:
        source = runs / name
        if not (source / "expert.json").exists():
            raise FileNotFoundError(f"expert {name!r}: no trained expert at {source} (expert.json missing); "
                                    "run experts/smollm2/train_all.sh first")
        target = into / "experts" / name
        target.mkdir(parents=True, exist_ok=True)
        weights = load_file(str(source / "adapter_model.safetensors"))
        staged = target / ".adapter_model.safetensors.tmp"
        save_file({k: v.to(torch.bfloat16) for k, v in weights.items()}, str(staged), metadata={"format": "pt"})
        staged.replace(target / "adapter_model.safetensors")
        config = json.loads((source / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = BASE_ID
        write_text_atomic(target / "adapter_config.json", json.dumps(config, indent=2) + "\n")
        entry = json.loads((source / "expert.json").read_text())
        training = _strip_paths(json.loads((source / "training.json").read_text()))
        metrics = json.loads((source / "metrics.json").read_text())
        write_text_atomic(target / "training.json", json.dumps(training, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(target / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        write_text_atomic(target / "expert.json", json.dumps(entry, indent=2, ensure_ascii=False) + "\n")
        ship_reports(summary_file.parent, name, target, data_stem(summary, name))
        from moe_coder.config import ExpertSpec

        spec = ExpertSpec.from_json_file(target / "expert.json")
        card = model_card(spec, training, metrics).rstrip("\n").split("\n")
        use = card.index("## Use")
        reproduce = ("bash experts/smollm2/self_train.sh" if self_trained(summary)
                     else "bash experts/smollm2/evaluate_all.sh")
        extra = [*_data_section(name, summary, (target / EXCLUDED).is_file()),
                 *_score_section(name, eval_dir, trained, reproduce),
                 "Adapter weights are stored in bfloat16 (trained in float32 master weights with bf16 autocast).", ""]
        write_text_atomic(target / "README.md", "\n".join(card[:use] + extra + card[use:]) + "\n")
        mixed = by_name[name]
        mixed["adapter"] = f"experts/{name}"
        mixed["system_prompt"] = entry["system_prompt"]
        mixed["max_context"] = entry.get("max_context")
        mixed["description"] = entry.get("description") or mixed["description"]
        sizes[name] = (target / "adapter_model.safetensors").stat().st_size
    mixture["description"] = ("Embedded default: SmolLM2-135M-Instruct experts, each a LoRA adapter trained by "
                              "experts/smollm2/ on decontaminated data, and the all-MiniLM-L6-v2 router.")
    write_text_atomic(mixture_file, json.dumps(mixture, indent=2, ensure_ascii=False) + "\n")
    return sizes


def update_scores(eval_dir: Path, names: list[str], trained: str = "builtin") -> list[str]:
    """Put (or replace) the execution scores in the shipped cards, from ``eval_dir``, without the training runs.

    Returns the names whose card has scores now.
    """
    updated = []
    for name in names:
        card_file = BUILTIN / "experts" / name / "README.md"
        if not card_file.exists():
            raise FileNotFoundError(f"expert {name!r}: no shipped model card at {card_file}")
        text = card_file.read_text()
        reproduce = ("bash experts/smollm2/self_train.sh" if "experts/verified_answers.py" in text
                     else "bash experts/smollm2/evaluate_all.sh")
        section = _score_section(name, eval_dir, trained, reproduce)
        if not section:
            continue
        lines = text.rstrip("\n").split("\n")
        title = section[0]
        if title in lines:  # the previous scores, up to the next section
            start = lines.index(title)
            end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
            del lines[start:end]
        at = lines.index("## Data and attributions")
        write_text_atomic(card_file, "\n".join(lines[:at] + section + lines[at:]) + "\n")
        updated.append(name)
    return updated


def plot_losses(runs: Path, names: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        metrics = json.loads((runs / name / "metrics.json").read_text())
        history = [h for h in metrics.get("history", []) if "loss" in h]
        ax.plot([h["step"] for h in history], [h["loss"] for h in history], label=name)
    ax.set_xlabel("optimizer step (8 packed rows of 1024 tokens)")
    ax.set_ylabel("training loss (answer tokens)")
    ax.set_title("Built-in experts: LoRA r=8 over SmolLM2-135M-Instruct")
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/experts"))
    parser.add_argument("--data-summary", type=Path, default=Path("runs/expert-data/summary.json"))
    parser.add_argument("--eval", type=Path, default=None, help="evaluate_all.sh's output folder, for the cards' scores")
    parser.add_argument("--eval-mixture", default="builtin",
                        help="the folder under --eval holding the trained experts' runs (evaluate_all.sh names it "
                             "after the mixture: builtin, or a candidate folder's name)")
    parser.add_argument("--plot", type=Path, default=None, help="write the training-loss curves here (PNG)")
    parser.add_argument("--experts", default=",".join(NAMES))
    parser.add_argument("--into", type=Path, default=None,
                        help="ship into this mixture folder instead of moe_coder/builtin (a copy of the built-in "
                             "mixture is made there first): a candidate to evaluate with --mixture DIR")
    parser.add_argument("--reports-only", action="store_true",
                        help="only write the decontamination reports of --data-summary's folder into the shipped "
                             "experts (no training runs needed)")
    parser.add_argument("--scores-only", action="store_true",
                        help="only put --eval's scores into the shipped cards (no training runs needed)")
    args = parser.parse_args(argv)
    names = [n for n in args.experts.split(",") if n]
    if args.scores_only:
        if args.eval is None:
            parser.error("--scores-only needs --eval")
        print("scores in the cards of: " + (", ".join(update_scores(args.eval, names, args.eval_mixture)) or "none (no results found)"))
        return 0
    into = BUILTIN if args.into is None else candidate_mixture(args.into)
    if args.reports_only:
        summary = json.loads(args.data_summary.read_text())
        for name in names:
            target = into / "experts" / name
            if not (target / "expert.json").is_file():
                raise FileNotFoundError(f"expert {name!r}: no shipped expert at {target}")
            ship_reports(args.data_summary.parent, name, target, data_stem(summary, name))
        print(f"decontamination reports in: {', '.join(names)}")
        return 0
    sizes = ship(args.runs, args.data_summary, args.eval, names, into, args.eval_mixture)
    for name, size in sizes.items():
        print(f"{name}: {size / 1e6:.1f} MB")
    print(f"total: {sum(sizes.values()) / 1e6:.1f} MB")
    if args.plot:
        plot_losses(args.runs, names, args.plot)
        print(f"loss curves: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
