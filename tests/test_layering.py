"""Dependencies point one way: each check imports a package in a fresh interpreter and lists what came with it."""
import json
import subprocess
import sys

import pytest


def _imported(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(m for m in sys.modules if m.startswith('moe_coder'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize("module, forbidden", [
    ("moe_coder.routing.router", "moe_coder.experts"),        # the router knows labels, not models
    ("moe_coder.routing.metrics", "moe_coder.experts"),
    ("moe_coder.decontamination", "moe_coder.evaluation"),    # benchmarks load from moe_coder.benchmarks
    ("moe_coder.mixture", "moe_coder.evaluation"),            # the library never imports its judge
    ("moe_coder.mixture", "moe_coder.finetune"),
])
def test_module_does_not_import(module, forbidden):
    leaked = sorted(m for m in _imported(module) if m == forbidden or m.startswith(forbidden + "."))
    assert leaked == [], f"{module} imports {leaked}"
