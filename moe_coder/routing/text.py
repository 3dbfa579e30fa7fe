"""What text the router reads for a prompt or a conversation."""
from __future__ import annotations

from typing import Sequence

from moe_coder.messages import Message, normalise_messages

#: A plain prompt, or a chat conversation as a list of ``{"role", "content"}`` messages.
RoutingInput = str | Sequence[Message]


def split_conversation(prompt: RoutingInput) -> tuple[str, str]:
    """``(last user turn, earlier turns)``: a plain prompt is its own last turn with no context.

    The router reads the last user turn at full weight and the rest of the conversation (what
    was pasted or answered before, most recent first) at a lower weight.
    """
    if isinstance(prompt, str):
        return prompt, ""
    messages = normalise_messages(prompt)
    last = [i for i, m in enumerate(messages) if m["role"] == "user"][-1]
    context = [m["content"] for i, m in enumerate(messages) if i != last and m["role"] != "system"]
    return messages[last]["content"], "\n\n".join(reversed(context))
