"""``moe-coder experts``: list a mixture's experts."""
from __future__ import annotations

import argparse

from moe_coder.cli._common import add_mixture_argument, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("experts", help="list the mixture's experts")
    add_mixture_argument(p)
    p.add_argument("--json", action="store_true", help="print the expert table as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.config import CONFIG_NAME, MixtureConfig
    from moe_coder.mixture import resolve_mixture_dir

    config = MixtureConfig.from_json_file(resolve_mixture_dir(args.mixture) / CONFIG_NAME)
    if args.json:
        print_json({"generalist": config.generalist, "experts": [e.to_dict() for e in config.experts]})
        return 0
    for e in config.experts:
        serves = ", ".join(e.languages) or "any language"
        tasks = ", ".join(e.tasks) or "any task"
        marker = " (generalist)" if e.name == config.generalist else ""
        source = e.model + (f" [{e.gguf_file}]" if e.gguf_file else "") + (f" + adapter {e.adapter}" if e.adapter else "")
        print(f"{e.name}{marker}: {serves}; {tasks}; {e.prompt_format}; {source}")
    return 0
