"""The model card (``README.md``) of a trained expert: what it is, how it was trained, how it scored.

The card follows the Hugging Face convention (YAML front matter, then Markdown), so the folder
reads well on the hub after :func:`moe_coder.hub.push_to_hub`. It names data files by name and
SHA-256, never by absolute path, so it stays true when the folder moves.
"""
from __future__ import annotations

import os
from typing import Any

from moe_coder.config import ExpertSpec

CARD_NAME = "README.md"


def _base(recipe: dict[str, Any]) -> str:
    expert = recipe["expert"]
    model = expert["model"]
    name = os.path.basename(model.rstrip("/")) if os.path.isabs(model) else model
    return f"{name} ({expert['gguf_file']})" if expert.get("gguf_file") else name


def _hub_id(model: str) -> str | None:
    parts = model.split("/")
    return model if len(parts) == 2 and all(parts) and "://" not in model and not os.path.isabs(model) else None


def _table(rows: dict[str, Any]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows.items())]


def _scores(metrics: dict[str, Any]) -> list[str]:
    lines = []
    eval_loss = metrics.get("eval_loss") or []
    if eval_loss:
        start = metrics.get("eval_loss_initial")
        before = f"{start:.4f} → " if start is not None else ""
        lines.append(f"- held-out loss: {before}{eval_loss[-1]:.4f}")
    if metrics.get("train_loss"):
        lines.append(f"- training loss (last epoch mean): {metrics['train_loss'][-1]:.4f}")
    for entry in metrics.get("pass_at_1", []):
        scores = ", ".join(f"{name} {value:.3f}" for name, value in entry.items() if name != "epoch")
        lines.append(f"- pass@1 after epoch {entry['epoch']}: {scores}")
    return lines or ["No scores were recorded for this run."]


def model_card(spec: ExpertSpec, training: dict[str, Any], metrics: dict[str, Any]) -> str:
    """Render the card of an expert from its entry, ``training.json``'s content and ``metrics.json``'s."""
    recipe = training["recipe"]
    data = training["data"]
    base = _base(recipe)
    front = ["---", "library_name: transformers" if not spec.adapter else "library_name: peft",
             "tags: [moe-coder, code]"]
    if _hub_id(recipe["expert"]["model"]):
        front.append(f"base_model: {recipe['expert']['model']}")
    front.append("---")

    serves = ", ".join(spec.languages) or "any language"
    tasks = ", ".join(spec.tasks) or "any task"
    lora = recipe.get("lora")
    kind = ("LoRA adapter" + (" merged into the base" if lora.get("merge") else "")) if lora else "full fine-tune"
    files = [f"`{os.path.basename(f)}` (sha256 `{h[:12]}…`)" for f, h in zip(data["train_files"], data["sha256"])]
    decon = (f"decontaminated against {', '.join(data['benchmarks'])}" if not data.get("contaminated_allowed")
             else "**not decontaminated** (trained with --allow-contaminated)")
    hyper = {key: value for key, value in recipe["training"].items() if key not in ("checkpoint_every", "keep_checkpoints")}
    if lora:
        hyper.update({f"lora.{key}": value for key, value in lora.items()})
    run = {
        "training time": f"{metrics.get('train_time_s', 0):.1f} s (wall {metrics.get('wall_time_s', 0):.1f} s)",
        "steps / epochs": f"{metrics.get('steps')} / {metrics.get('epochs')}",
        "tokens trained (answer tokens)": f"{metrics.get('train_tokens', 0):,} ({metrics.get('answer_tokens', 0):,})",
        "throughput": f"{metrics.get('tokens_per_s', 0):,.0f} tokens/s (non-padding)",
        "processes, precision, attention": f"{training.get('processes')}, {training.get('precision')}, {training.get('attention')}",
        "trained parameters": f"{training.get('trainable_parameters', 0):,} of {training.get('parameters', 0):,}",
    }
    examples = metrics.get("examples", {})
    lines = [
        *front, "",
        f"# {spec.name}", "",
        spec.description or f"A moe-coder expert for {serves}.", "",
        f"An expert of a [moe-coder](https://pypi.org/project/moe-coder/) mixture: the router sends it prompts in "
        f"{serves} ({tasks}). Prompt format `{spec.prompt_format}`.", "",
        "## Training", "",
        f"- base: `{base}`, {kind}",
        f"- data: {', '.join(files) or 'none recorded'}; {decon}; "
        f"{examples.get('train', '?')} training and {examples.get('eval', '?')} held-out examples",
        "", "### Hyperparameters", "",
        *_table(hyper),
        "", "### Run", "",
        *_table(run),
        "", "## Scores", "",
        *_scores(metrics),
        "", "## Use", "",
        "```python",
        "from moe_coder import ExpertSpec",
        "",
        'spec = ExpertSpec.from_json_file("expert.json")  # paths in it are relative to this folder',
        "```",
        "",
        "Add the entry to a mixture's `mixture.json`, with `model`/`adapter` relative to the mixture's folder.",
        "",
    ]
    return "\n".join(lines)
