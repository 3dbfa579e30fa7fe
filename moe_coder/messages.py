"""Chat messages: the one shape every step reads a conversation in.

A conversation is a list of ``{"role", "content"}`` dicts (roles ``system``, ``user``,
``assistant``), as in OpenAI-compatible APIs and ``tokenizer.apply_chat_template``. Routing,
prompt formats, serving and training all read it through :func:`normalise_messages`.
"""
from __future__ import annotations

from typing import Sequence

Message = dict[str, str]


def normalise_messages(prompt: str | Sequence[Message]) -> list[Message]:
    """Turn a prompt string or a chat ``messages`` list into a validated messages list."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = []
    for i, m in enumerate(prompt):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"messages[{i}] must be an object with 'role' and 'content', found {m!r}")
        if m["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"messages[{i}]: unknown role {m['role']!r}; expected system, user or assistant")
        messages.append({"role": m["role"], "content": str(m["content"])})
    if not any(m["role"] == "user" for m in messages):
        raise ValueError("messages must contain at least one user message")
    return messages
