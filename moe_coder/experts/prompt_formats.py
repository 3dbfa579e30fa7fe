"""Prompt formats: how a conversation becomes the text an expert model reads.

One code path serves inference (:func:`render_prompt`) and training
(:func:`render_example`, which also returns the answer so the loss can be masked to it),
so training and serving agree.

Formats:

- ``chat_template``: the tokenizer's own chat template.
- ``phind``: Phind-CodeLlama v2 — ``### System Prompt`` / ``### User Message`` / ``### Assistant``.
- ``codellama_instruct``: ``[INST] <<SYS>> ... <</SYS>> ... [/INST]`` (Llama-2 chat style; the
  tokenizer adds the BOS token).
- ``completion``: the last user message verbatim (a code prefix to continue).
"""
from __future__ import annotations

from typing import Any, Sequence

from moe_coder.messages import Message, normalise_messages

def _with_system(messages: list[Message], system_prompt: str | None) -> tuple[str | None, list[Message]]:
    """Split off the system message; the conversation's own system message wins over the expert's."""
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return system_prompt, messages


def _phind(system: str | None, turns: list[Message]) -> str:
    parts = [f"### System Prompt\n{system}\n\n"] if system else []
    for m in turns:
        header = "### User Message" if m["role"] == "user" else "### Assistant"
        parts.append(f"{header}\n{m['content']}\n\n")
    parts.append("### Assistant\n")
    return "".join(parts)


def _codellama_instruct(system: str | None, turns: list[Message], eos: str) -> str:
    out = []
    first_user = True
    for m in turns:
        if m["role"] == "user":
            content = m["content"].strip()
            if first_user and system:
                content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
            first_user = False
            out.append(f"[INST] {content} [/INST]")
        else:
            out.append(f" {m['content'].strip()} {eos}")
    return "".join(out)


def render_prompt(
    prompt_format: str,
    prompt: str | Sequence[Message],
    tokenizer: Any = None,
    system_prompt: str | None = None,
) -> str:
    """Render a prompt (string or messages) into the text the model continues."""
    messages = normalise_messages(prompt)
    if prompt_format == "completion":
        return [m for m in messages if m["role"] == "user"][-1]["content"]
    system, turns = _with_system(messages, system_prompt)
    if prompt_format == "phind":
        return _phind(system, turns)
    if prompt_format == "codellama_instruct":
        eos = getattr(tokenizer, "eos_token", None) or "</s>"
        return _codellama_instruct(system, turns, eos)
    if prompt_format == "chat_template":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt_format 'chat_template' needs a tokenizer that has a chat template")
        full = ([{"role": "system", "content": system}] if system else []) + turns
        return tokenizer.apply_chat_template(full, tokenize=False, add_generation_prompt=True)
    raise ValueError(f"unknown prompt format {prompt_format!r}")


def render_example(
    prompt_format: str,
    messages: Sequence[Message],
    tokenizer: Any = None,
    system_prompt: str | None = None,
) -> tuple[str, str]:
    """Render a training conversation ending in an assistant answer.

    Returns ``(prompt_text, answer_text)``: ``prompt_text`` is exactly what
    :func:`render_prompt` produces for the conversation without its last answer, and
    ``answer_text`` is the answer followed by the end-of-sequence marker, the only part
    the training loss sees.
    """
    messages = normalise_messages(messages)
    if messages[-1]["role"] != "assistant":
        raise ValueError("a training example must end with an assistant message")
    eos = getattr(tokenizer, "eos_token", None) or ""
    prompt_text = render_prompt(prompt_format, messages[:-1], tokenizer, system_prompt)
    return prompt_text, messages[-1]["content"] + eos
