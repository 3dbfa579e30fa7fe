"""Experts: specifications, prompt formats and the model pool that loads them."""
from moe_coder.config import ExpertSpec
from moe_coder.experts.prompt_formats import render_example, render_prompt

__all__ = ["ExpertSpec", "render_example", "render_prompt"]
