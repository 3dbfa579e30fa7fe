"""Routing: label sets, prompt encoder, the classifier, and routing decisions."""
from moe_coder.routing.decision import GenerationResult, RoutingDecision
from moe_coder.routing.labels import LANGUAGES, TASKS, UNKNOWN

__all__ = ["GenerationResult", "RoutingDecision", "LANGUAGES", "TASKS", "UNKNOWN"]
