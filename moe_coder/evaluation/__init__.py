"""Execution-based evaluation: benchmarks, sandboxed execution, pass@k."""
