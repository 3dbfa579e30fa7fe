"""What text the router reads for a prompt or a conversation."""
from __future__ import annotations

from typing import Sequence

from moe_coder.experts.prompt_formats import Message, normalise_messages


def routing_text(prompt: str | Sequence[Message]) -> str:
    """The text to classify: a plain prompt as is; for a conversation, the last user turn."""
    if isinstance(prompt, str):
        return prompt
    messages = normalise_messages(prompt)
    return [m["content"] for m in messages if m["role"] == "user"][-1]
