"""The benchmark problems the executors read: :class:`~moe_coder.benchmarks.Problem` lives in
:mod:`moe_coder.benchmarks`, shared with decontamination; ``executors.py`` imports it from here."""
from moe_coder.benchmarks import Problem

__all__ = ["Problem"]
