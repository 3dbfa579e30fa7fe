"""Decontamination of training data against evaluation sets.

OpenAI's 50-character method (GPT-4 technical report, appendix C) by default, GPT-3 style 13-gram
overlap as an option; exact, streaming, and fast enough for real corpora (Aho-Corasick over the
sampled substrings, one pass over each chunk of normalised text). See ``docs/decontamination.md``.

>>> report = decontaminate(["train.jsonl"], ["humaneval", "mbpp"], "clean.jsonl", "report.json")  # doctest: +SKIP
>>> report.contaminated_ids["humaneval"]  # doctest: +SKIP
"""
from moe_coder.decontamination.evalsets import EvalItem, EvalSet, load_eval_set, load_eval_sets
from moe_coder.decontamination.matcher import ENGINES, METHODS, Decontaminator, ItemMatch
from moe_coder.decontamination.pipeline import decontaminate
from moe_coder.decontamination.report import (
    DecontaminationReport,
    check_decontaminated,
    contaminated_ids_path,
)

__all__ = [
    "ENGINES",
    "METHODS",
    "DecontaminationReport",
    "Decontaminator",
    "EvalItem",
    "EvalSet",
    "ItemMatch",
    "check_decontaminated",
    "contaminated_ids_path",
    "decontaminate",
    "load_eval_set",
    "load_eval_sets",
]
