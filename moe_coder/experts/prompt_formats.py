"""Prompt formats: how a conversation becomes the text an expert model reads.

One code path serves inference (:func:`render_prompt`), training (:func:`render_example`, which
also returns the answer so the loss can be masked to it) and the chat template a trained expert
is exported with (:func:`chat_template`): ``phind`` and ``codellama_instruct`` are written once,
as Jinja chat templates (:data:`TEMPLATES`), and rendered as ``apply_chat_template`` renders them.

Formats:

- ``chat_template``: the tokenizer's own chat template.
- ``phind``: Phind-CodeLlama v2 — ``### System Prompt`` / ``### User Message`` / ``### Assistant``.
- ``codellama_instruct``: ``[INST] <<SYS>> ... <</SYS>> ... [/INST]`` (Llama-2 chat style; the
  tokenizer adds the BOS token).
- ``completion``: the last user message verbatim (a code prefix to continue).
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Sequence

from moe_coder.messages import Message, normalise_messages

#: Splits off the system message: the conversation's own one wins over the expert's
#: (``DEFAULT_SYSTEM``).
_SPLIT_SYSTEM = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system = DEFAULT_SYSTEM -%}{%- set turns = messages -%}"
    "{%- endif -%}"
)

_PHIND = (
    "{%- if system -%}{{ '### System Prompt\\n' + system + '\\n\\n' }}{%- endif -%}"
    "{%- for m in turns -%}"
    "{%- if m['role'] == 'user' -%}{{ '### User Message\\n' + m['content'] + '\\n\\n' }}"
    "{%- else -%}{{ '### Assistant\\n' + m['content'] + '\\n\\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '### Assistant\\n' }}{%- endif -%}"
)

_CODELLAMA = (
    "{%- set ns = namespace(first=true) -%}"
    "{%- for m in turns -%}"
    "{%- if m['role'] == 'user' -%}"
    "{%- set content = m['content'] | trim -%}"
    "{%- if ns.first and system -%}{%- set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + content -%}{%- endif -%}"
    "{%- set ns.first = false -%}"
    "{{ '[INST] ' + content + ' [/INST]' }}"
    "{%- else -%}{{ ' ' + (m['content'] | trim) + ' ' + eos_token }}{%- endif -%}"
    "{%- endfor -%}"
)

#: The formats written here as Jinja chat templates: rendered for serving and training, and
#: exported with a trained expert's tokenizer (:func:`chat_template`).
TEMPLATES: dict[str, str] = {"phind": _PHIND, "codellama_instruct": _CODELLAMA}


@lru_cache(maxsize=None)
def _compiled(prompt_format: str) -> Any:
    """The format's template compiled as ``apply_chat_template`` compiles chat templates."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(_SPLIT_SYSTEM + TEMPLATES[prompt_format])


def _adds_bos(tokenizer: Any) -> bool:
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    ids = tokenizer("x", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos_id


def chat_template(prompt_format: str, tokenizer: Any, system_prompt: str | None) -> str | None:
    """The Jinja chat template a trained expert's tokenizer is saved with (``None`` when the
    tokenizer's own one stands: ``chat_template`` and ``completion`` experts).

    It is the very template :func:`render_prompt` renders, with ``system_prompt`` as the default
    system message, so ``tokenizer.apply_chat_template(messages, add_generation_prompt=True)``
    gives the text the mixture feeds the expert. ``apply_chat_template`` tokenizes without adding
    special tokens, so the template writes the BOS token itself exactly when the tokenizer would
    have added it to a rendered prompt.
    """
    body = TEMPLATES.get(prompt_format)
    if body is None:
        return None
    default = json.dumps(system_prompt) if system_prompt else "none"
    bos = "{{ bos_token }}" if _adds_bos(tokenizer) else ""
    return "{%- set DEFAULT_SYSTEM = " + default + " -%}" + _SPLIT_SYSTEM + bos + body


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
    if prompt_format in TEMPLATES:
        eos = getattr(tokenizer, "eos_token", None) or "</s>"
        return _compiled(prompt_format).render(
            messages=messages, DEFAULT_SYSTEM=system_prompt, add_generation_prompt=True, eos_token=eos, bos_token="",
        )
    if prompt_format == "chat_template":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("prompt_format 'chat_template' needs a tokenizer that has a chat template")
        # the conversation's own system message wins over the expert's, as in TEMPLATES
        system, turns = (messages[0]["content"], messages[1:]) if messages[0]["role"] == "system" else (system_prompt, messages)
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
