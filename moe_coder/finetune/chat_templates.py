"""Jinja chat templates that reproduce the ``phind`` and ``codellama_instruct`` prompt formats.

A trained expert is saved with the template of the format it was trained on (and its system
prompt as the default), so ``tokenizer.apply_chat_template(messages, add_generation_prompt=True)``
gives the same tokens the mixture feeds it. Experts trained with ``chat_template`` keep their
tokenizer's own template; ``completion`` experts have no chat format to describe.
"""
from __future__ import annotations

import json
from typing import Any

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

_BODIES = {"phind": _PHIND, "codellama_instruct": _CODELLAMA}


def _adds_bos(tokenizer: Any) -> bool:
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return False
    ids = tokenizer("x", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos_id


def chat_template(prompt_format: str, tokenizer: Any, system_prompt: str | None) -> str | None:
    """The Jinja template for ``prompt_format`` (``None`` when the tokenizer's own one stands).

    ``apply_chat_template`` tokenizes without adding special tokens, so the template writes the
    BOS token itself exactly when the tokenizer would have added it to a rendered prompt.
    """
    body = _BODIES.get(prompt_format)
    if body is None:
        return None
    default = json.dumps(system_prompt) if system_prompt else "none"
    bos = "{{ bos_token }}" if _adds_bos(tokenizer) else ""
    return "{%- set DEFAULT_SYSTEM = " + default + " -%}" + _SPLIT_SYSTEM + bos + body
