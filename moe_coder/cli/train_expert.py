"""``moe-coder train-expert``: fine-tune an expert from a recipe (runs under ``accelerate launch`` too)."""
from __future__ import annotations

import argparse

from moe_coder.cli._common import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-expert",
        help="fine-tune a base code model into an expert from a recipe (experts/*.yaml)",
        description=(
            "Turn a base code model and instruction-answer data into an expert a mixture can load: "
            "full fine-tune by default (Phind recipe), LoRA when the recipe has a lora: section. "
            "Multi-GPU: accelerate launch --config_file configs/accelerate/<fsdp|deepspeed_zero3>.yaml "
            "-m moe_coder.cli train-expert RECIPE --output DIR."
        ),
    )
    p.add_argument("recipe", metavar="RECIPE.yaml", help="the recipe file")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="where the expert, checkpoints, logs and metrics.json go")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="SECTION.FIELD=VALUE",
                   help="override a recipe field, value read as YAML (repeatable), "
                        "e.g. --set training.epochs=1 --set lora.r=8 --set lora=null")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last checkpoint in DIR (starts afresh when there is none)")
    p.add_argument("--decontaminate", action="store_true",
                   help="decontaminate the training data against the recipe's benchmarks first (into DIR/decontamination)")
    p.add_argument("--allow-contaminated", action="store_true",
                   help="train on data that no decontamination report vouches for")
    p.add_argument("--json", action="store_true", help="print the expert entry and metrics as JSON at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.finetune import load_recipe, train_expert

    if args.decontaminate and args.allow_contaminated:
        raise ValueError("--decontaminate and --allow-contaminated contradict each other; pass one")
    recipe = load_recipe(args.recipe, args.overrides)
    result = train_expert(recipe, args.output, resume=args.resume, decontaminate=args.decontaminate,
                          allow_contaminated=args.allow_contaminated)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    metrics = {k: v for k, v in result.metrics.items() if k != "history"}
    if args.json:
        print_json({"output": str(result.output_dir), "expert": result.expert.to_dict(), "metrics": metrics})
        return 0
    losses = ", ".join(f"{x:.4f}" for x in metrics["eval_loss"]) or "-"
    print(f"expert {result.expert.name!r} written to {result.output_dir} "
          f"({metrics['steps']} steps, train loss {metrics['train_loss'][-1]:.4f}, held-out loss per epoch {losses}, "
          f"{metrics['tokens_per_s']:,.0f} tokens/s, {metrics['non_padding_fraction']:.1%} non-padding)")
    return 0
