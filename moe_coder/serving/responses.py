"""Answers in OpenAI's shapes, plus the mixture's ``route`` object."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from moe_coder.experts.completion import Completion
from moe_coder.decisions import RoutingDecision

EXPERT_HEADER = "X-MoE-Expert"
DONE = b"data: [DONE]\n\n"


def route_object(decision: RoutingDecision) -> dict[str, Any]:
    """The routing decision a response carries: which expert answered, and why."""
    return {
        "expert": decision.expert,
        "language": decision.language,
        "task": decision.task,
        "confidence": decision.confidence,
        "abstained": decision.abstained,
        "source_language": decision.source_language,
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}


def new_id(kind: str) -> str:
    return f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex}"


def full_body(kind: str, decision: RoutingDecision, completion: Completion) -> dict[str, Any]:
    """A whole ``chat.completion`` or ``text_completion`` object."""
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": completion.text}, "finish_reason": completion.finish_reason}
    else:
        choice = {"index": 0, "text": completion.text, "logprobs": None, "finish_reason": completion.finish_reason}
    return {
        "id": new_id(kind),
        "object": "chat.completion" if kind == "chat" else "text_completion",
        "created": int(time.time()),
        "model": decision.expert,
        "choices": [choice],
        "usage": usage(completion.prompt_tokens, completion.completion_tokens),
        "route": route_object(decision),
    }


class ChunkWriter:
    """Server-sent events for one streamed answer, in OpenAI's chunk format."""

    def __init__(self, kind: str, decision: RoutingDecision) -> None:
        self.kind = kind
        self.decision = decision
        self.id = new_id(kind)
        self.created = int(time.time())

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.kind == "chat" else "text_completion",
            "created": self.created,
            "model": self.decision.expert,
            "choices": choices,
            **extra,
        }
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

    def _choice(self, text: str | None, finish_reason: str | None, role: bool = False) -> dict[str, Any]:
        if self.kind == "chat":
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            return {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def opening(self) -> bytes:
        """The first event: the assistant role (for a chat) and the ``route`` object."""
        return self._event([self._choice(None if self.kind == "chat" else "", None, role=True)], route=route_object(self.decision))

    def piece(self, text: str) -> bytes:
        return self._event([self._choice(text, None)])

    def finish(self, finish_reason: str) -> bytes:
        return self._event([self._choice(None, finish_reason)])

    def usage(self, completion: Completion) -> bytes:
        return self._event([], usage=usage(completion.prompt_tokens, completion.completion_tokens))

    @staticmethod
    def error(body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(body).encode() + b"\n\n"
