"""The OpenAI request fields the server accepts, validated into one :class:`GenerationRequest`.

Validation happens here, at the edge: a field of the wrong type, an unknown field or an
unsupported value is a 400 naming the field. Everything past this module trusts its input.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from moe_coder.messages import Message, normalise_messages
from moe_coder.serving.errors import invalid

AUTO = "auto"
#: Fields every generation request may carry (``top_k`` and ``repetition_penalty`` as vLLM accepts them).
_COMMON = {
    "model", "max_tokens", "temperature", "top_p", "stop", "seed", "n", "stream", "stream_options",
    "top_k", "repetition_penalty", "user",
}
FIELDS = {"chat": _COMMON | {"messages", "max_completion_tokens"}, "completion": _COMMON | {"prompt"}}
MAX_STOP_STRINGS = 8


@dataclass
class GenerationRequest:
    """One validated request: what to answer, which model was asked for, and how to generate.

    ``prompt`` is a messages list for a chat and the text to continue for a completion.
    ``settings`` uses the pool's generation keys (``max_new_tokens``, ``temperature``, ...);
    only fields the client sent appear, so the expert's defaults fill the rest.
    """

    kind: str
    model: str
    prompt: str | list[Message]
    settings: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False

    @property
    def settings_key(self) -> str:
        """Requests with equal keys can share a generation batch."""
        return json.dumps(self.settings, sort_keys=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _int(data: dict, name: str, low: int, high: int | None = None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise invalid(f"'{name}' must be an integer {bound}, found {json.dumps(value)[:60]}", name)
    return value


def _number(data: dict, name: str, low: float, high: float, low_open: bool = False) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not _is_number(value) or value > high or value < low or (low_open and value == low):
        raise invalid(f"'{name}' must be a number in {'(' if low_open else '['}{low}, {high}], found {json.dumps(value)[:60]}", name)
    return float(value)


def _stop(data: dict) -> list[str] | None:
    value = data.get("stop")
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP_STRINGS:
        raise invalid(f"'stop' must be a non-empty string or a list of at most {MAX_STOP_STRINGS} of them", "stop")
    return stops or None


def _content(message: dict, i: int) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise invalid(f"messages[{i}].content must be a string or a list of text parts", "messages")


def _messages(data: dict) -> list[Message]:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty list of {role, content} objects", "messages")
    plain = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise invalid(f"messages[{i}] must be an object with a string 'role' and a 'content'", "messages")
        plain.append({"role": m["role"], "content": _content(m, i)})
    try:
        normalised = normalise_messages(plain)
    except ValueError as exc:
        raise invalid(str(exc), "messages") from None
    if not any(m["content"].strip() for m in normalised if m["role"] == "user"):
        raise invalid("the user messages are empty", "messages")
    return normalised


def parse_request(data: Any, kind: str) -> GenerationRequest:
    """Validate a decoded JSON body for ``/v1/chat/completions`` (``kind="chat"``) or ``/v1/completions``."""
    if not isinstance(data, dict):
        raise invalid("the request body must be a JSON object")
    unknown = sorted(set(data) - FIELDS[kind])
    if unknown:
        raise invalid(f"unrecognised field(s) {unknown}; this server accepts {sorted(FIELDS[kind])}", unknown[0])
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("'model' must be a non-empty string: 'auto' or an expert name", "model")
    if kind == "chat":
        prompt: str | list[Message] = _messages(data)
    else:
        prompt = data.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise invalid("'prompt' must be a non-empty string", "prompt")
    if data.get("n") is not None and (not _is_int(data["n"]) or data["n"] != 1):
        raise invalid("only n=1 is supported", "n")
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("'stream' must be true or false", "stream")
    options = data.get("stream_options")
    if options is not None and not (isinstance(options, dict) and set(options) <= {"include_usage"}
                                    and isinstance(options.get("include_usage", False), bool)):
        raise invalid("'stream_options' must be an object {\"include_usage\": bool}", "stream_options")
    if data.get("user") is not None and not isinstance(data["user"], str):
        raise invalid("'user' must be a string", "user")
    max_tokens = _int(data, "max_tokens", 1)
    if kind == "chat" and data.get("max_completion_tokens") is not None:
        max_tokens = _int(data, "max_completion_tokens", 1)
    settings = {
        "max_new_tokens": max_tokens,
        "temperature": _number(data, "temperature", 0.0, 2.0),
        "top_p": _number(data, "top_p", 0.0, 1.0, low_open=True),
        "stop": _stop(data),
        "seed": _int(data, "seed", 0, 2**63 - 1),
        "top_k": _int(data, "top_k", 1),
        "repetition_penalty": _number(data, "repetition_penalty", 0.0, 10.0, low_open=True),
    }
    return GenerationRequest(
        kind=kind, model=model, prompt=prompt,
        settings={k: v for k, v in settings.items() if v is not None},
        stream=bool(stream), include_usage=bool(options and options.get("include_usage")),
    )
