"""``moe-coder calibrate``: choose a mixture's ``confidence_threshold`` on held-out labelled prompts."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate", help="choose a mixture's abstain threshold on labelled prompts and write it to mixture.json",
        description="Route held-out labelled prompts with the mixture's router and experts, choose the "
        "confidence_threshold below which the generalist answers, and write it into DIR/mixture.json "
        "(the router artifacts are left as they are).",
    )
    p.add_argument("--mixture", required=True, metavar="DIR", help="the mixture directory to calibrate")
    p.add_argument("--data", required=True, metavar="DIR_OR_JSONL",
                   help="labelled prompts: a JSONL file, or a directory holding validation.jsonl[.gz]")
    p.add_argument("--held-out-style", action="store_true",
                   help="also choose the router's temperatures and the threshold on prompt styles the heads never saw: "
                   "refit the heads without one prompt family at a time (template, snippet shape, prose language) "
                   "and score them on that family; DIR must hold train.jsonl[.gz] and validation.jsonl[.gz] "
                   "(and code.jsonl[.gz], the code identifier's corpus, when the router has one). Rewrites the "
                   "router artifacts' temperatures and cascade threshold too")
    p.add_argument("--report", metavar="JSON", help="with --held-out-style: write the per-family figures here")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.cli._common import print_json
    from moe_coder.config import CONFIG_NAME
    from moe_coder.mixture import MoECoder
    from moe_coder.routing.dataset import find_split, load_labelled

    if args.held_out_style:
        return _held_out_style(args)
    data = Path(args.data)
    if data.is_dir():
        found = find_split(data, "validation")
        if found is None:
            raise FileNotFoundError(f"no validation.jsonl or validation.jsonl.gz in {data}")
        data = found
    directory = Path(args.mixture)
    if not (directory / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"mixture config not found: {directory / CONFIG_NAME}")
    labelled = load_labelled(data)
    coder = MoECoder.from_pretrained(directory)
    before = coder.config.confidence_threshold
    coder.calibrate(labelled.prompts, labelled.y)
    coder.config.to_json_file(directory / CONFIG_NAME)
    summary = {"mixture": str(directory), "data": str(data), "prompts": len(labelled),
               "confidence_threshold": coder.config.confidence_threshold, "previous": before}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {directory / CONFIG_NAME}: confidence_threshold {summary['confidence_threshold']:.4f} "
              f"(was {before:.4f}), chosen on {len(labelled)} prompts from {data}")
    return 0


def _held_out_style(args: argparse.Namespace) -> int:
    import json

    from moe_coder.atomic import write_text_atomic
    from moe_coder.cli._common import print_json
    from moe_coder.config import CONFIG_NAME
    from moe_coder.mixture import MoECoder, router_dir
    from moe_coder.routing.code_language import CodeCorpus
    from moe_coder.routing.dataset import find_split, load_labelled

    data = Path(args.data)
    if not data.is_dir():
        raise NotADirectoryError(f"--held-out-style needs a data directory with train and validation splits, not {data}")
    splits = {name: find_split(data, name) for name in ("train", "validation")}
    missing = [name for name, path in splits.items() if path is None]
    if missing:
        raise FileNotFoundError(f"no {' or '.join(f'{m}.jsonl[.gz]' for m in missing)} in {data}")
    directory = Path(args.mixture)
    if not (directory / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"mixture config not found: {directory / CONFIG_NAME}")
    coder = MoECoder.from_pretrained(directory)
    corpus_path = find_split(data, "code")
    if coder.router.code_model_ is not None and corpus_path is None:
        raise FileNotFoundError(f"the router has a code identifier: its corpus code.jsonl[.gz] is needed in {data}")
    corpus = CodeCorpus.load(corpus_path) if corpus_path is not None and coder.router.code_model_ is not None else None
    before = coder.config.confidence_threshold
    result = coder.calibrate_held_out_style(load_labelled(splits["train"]), load_labelled(splits["validation"]), corpus)
    routers = router_dir(coder.config, directory)
    coder.router.save_pretrained(routers)
    coder.config.to_json_file(directory / CONFIG_NAME)
    summary = {"mixture": str(directory), "router": str(routers), "data": str(data), "previous": before,
               "fast_threshold": coder.router.fast_threshold_, **result.to_dict()}
    if args.report:
        write_text_atomic(Path(args.report), json.dumps(summary, indent=2) + "\n")
    if args.json:
        print_json(summary)
        return 0
    print(f"held out {len(result.families)} prompt families ({result.pooled['n']} validation prompts, "
          f"{result.pooled['seconds']:.0f} s):")
    print(f"  {'axis':<15} {'family':<42} {'n':>5} {'language':>9} {'task':>7} {'wrong@0.85 lang':>16} {'task':>6}")
    for f in result.families:
        print(f"  {f['axis']:<15} {f['family']:<42} {f['n']:>5} {f['language']:>9.3f} {f['task']:>7.3f} "
              f"{f['wrong_at_0.85_language']:>16.3f} {f['wrong_at_0.85_task']:>6.3f}")
    for stack in result.held_out:
        print(f"  {stack} heads: temperatures (language, task) held out {result.held_out[stack]}, in distribution "
              f"{result.in_distribution[stack]}: x{result.multipliers(stack)[0]:.2f}, x{result.multipliers(stack)[1]:.2f}")
    for label, p in (("before (in-distribution temperatures and thresholds)", result.pooled.get("before")),
                     ("after", result.pooled)):
        if p:
            print(f"  pooled, {label}: language {p['language']:.3f}, task {p['task']:.3f}, wrong at >= 0.85 on either "
                  f"head {p['wrong_at_0.85_either']:.2%}; threshold {p['confidence_threshold']:.3f} abstains on "
                  f"{p['abstain_rate']:.1%}, right expert when routed {p['right_expert_when_routed']:.3f}, "
                  f"wrong expert at confidence >= 0.85 {p['wrong_at_0.85_expert']:.2%}")
    print(f"wrote {routers} (temperatures, cascade threshold {coder.router.fast_threshold_:.4f}) and "
          f"{directory / CONFIG_NAME}: confidence_threshold {coder.config.confidence_threshold:.4f} (was {before:.4f})")
    return 0
