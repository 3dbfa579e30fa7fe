"""Routing: label sets, cues, the prompt encoder and the classifier that scores labels.

The router knows labels, not models: which expert a prompt goes to, and when to abstain, is the
mixture's decision (:mod:`moe_coder.decisions`).
"""
from moe_coder.routing.labels import LANGUAGES, TASKS, UNKNOWN

__all__ = ["LANGUAGES", "TASKS", "UNKNOWN"]
