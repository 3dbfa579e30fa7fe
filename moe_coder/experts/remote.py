"""Experts served by an OpenAI-compatible engine: vLLM, TGI, SGLang, llama.cpp, another ``moe-coder serve``.

The router stays local; generation goes over HTTP. An expert whose ``prompt_format`` is
``chat_template`` sends its conversation to ``/chat/completions`` (the engine applies the
model's own template); any other format is rendered here and continued verbatim through
``/completions``. Connection failures are retried a bounded number of times; every failure
raises :class:`RemoteExpertError` naming the expert and the URL.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any, Generator, Sequence

import httpx

from moe_coder.config import ExpertSpec
from moe_coder.experts.completion import Completion, check_room
from moe_coder.experts.prompt_formats import render_prompt
from moe_coder.messages import Message, normalise_messages

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for an answer (or, when streaming, for the next piece) when the expert sets no ``timeout``.
READ_TIMEOUT_S = 300.0
#: Extra attempts after a connection error; nothing was generated yet, so retrying is safe.
RETRIES = 2
RETRY_BACKOFF_S = 0.2
_RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class RemoteExpertError(RuntimeError):
    """A remote expert could not answer. ``expert`` and ``url`` say which one and where."""

    def __init__(self, expert: str, url: str, reason: str) -> None:
        super().__init__(f"remote expert {expert!r} at {url}: {reason}")
        self.expert = expert
        self.url = url


class RemoteExpertTimeout(RemoteExpertError):
    """A remote expert did not answer in time."""


def _request(spec: ExpertSpec, prompt: str | Sequence[Message], settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The path and JSON body that ask the endpoint for this expert's answer."""
    check_room(spec, spec.max_context, int(settings["max_new_tokens"]))
    body: dict[str, Any] = {"model": spec.model, "max_tokens": int(settings["max_new_tokens"])}
    body["temperature"] = float(settings.get("temperature") or 0.0)
    if body["temperature"] > 0:
        body["top_p"] = float(settings.get("top_p", 1.0))
    for key, name in (("stop", "stop"), ("seed", "seed"), ("top_k", "top_k"), ("repetition_penalty", "repetition_penalty")):
        if settings.get(key) is not None:
            body[name] = settings[key]
    if spec.prompt_format == "chat_template":
        messages = normalise_messages(prompt)
        if spec.system_prompt and messages[0]["role"] != "system":
            messages = [{"role": "system", "content": spec.system_prompt}, *messages]
        return "chat/completions", {**body, "messages": messages}
    return "completions", {**body, "prompt": render_prompt(spec.prompt_format, prompt, None, spec.system_prompt)}


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return f"HTTP {response.status_code}: {message or response.text[:200] or response.reason_phrase}"


def _piece(choice: dict[str, Any]) -> str:
    if "delta" in choice:
        return choice["delta"].get("content") or ""
    if "message" in choice:
        return choice["message"].get("content") or ""
    return choice.get("text") or ""


class RemoteEndpoint:
    """A connection pool to one OpenAI-compatible base URL (``.../v1``), shared by its experts."""

    def __init__(self, url: str, api_key: str | None = None, retries: int = RETRIES) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=self.url + "/", headers=headers,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    @classmethod
    def for_expert(cls, spec: ExpertSpec) -> "RemoteEndpoint":
        """The endpoint a remote expert names, with the key from its ``api_key_env`` variable."""
        assert spec.endpoint is not None
        key = None
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise ValueError(f"expert {spec.name!r}: environment variable {spec.api_key_env} (its api_key_env) is not set")
        return cls(spec.endpoint, key)

    def close(self) -> None:
        self.client.close()

    def _send(self, spec: ExpertSpec, path: str, body: dict[str, Any], stream: bool) -> httpx.Response:
        url = f"{self.url}/{path}"
        timeout = httpx.Timeout(spec.timeout or READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        for attempt in range(self.retries + 1):
            try:
                request = self.client.build_request("POST", path, json=body, timeout=timeout)
                response = self.client.send(request, stream=stream)
            except _RETRYABLE as exc:
                if attempt == self.retries:
                    raise RemoteExpertError(spec.name, url, f"cannot connect ({exc or type(exc).__name__}) after {attempt + 1} attempts") from None
                logger.warning("remote expert %r at %s: %s; retrying", spec.name, url, exc or type(exc).__name__)
                time.sleep(RETRY_BACKOFF_S * 2**attempt)
                continue
            except httpx.TimeoutException:
                raise RemoteExpertTimeout(spec.name, url, f"no answer within {timeout.read:g} s") from None
            except httpx.HTTPError as exc:
                raise RemoteExpertError(spec.name, url, str(exc) or type(exc).__name__) from None
            if response.status_code >= 400:
                response.read()
                response.close()
                raise RemoteExpertError(spec.name, url, _error_text(response))
            return response
        raise AssertionError("unreachable")

    def complete(self, spec: ExpertSpec, prompt: str | Sequence[Message], settings: dict[str, Any]) -> Completion:
        """One answer, with the token counts the endpoint reports."""
        path, body = _request(spec, prompt, settings)
        response = self._send(spec, path, body, stream=False)
        try:
            data = response.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return Completion(
                _piece(choice), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                choice.get("finish_reason") or "stop",
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise RemoteExpertError(spec.name, f"{self.url}/{path}", f"malformed answer: {response.text[:200]!r}") from None

    def stream(
        self,
        spec: ExpertSpec,
        prompt: str | Sequence[Message],
        settings: dict[str, Any],
        cancel: threading.Event | None = None,
    ) -> Generator[str, None, Completion]:
        """Yield pieces from the endpoint's server-sent events; closing the generator closes the connection."""
        path, body = _request(spec, prompt, settings)
        url = f"{self.url}/{path}"
        response = self._send(spec, path, {**body, "stream": True, "stream_options": {"include_usage": True}}, stream=True)
        text, usage, finish = [], {}, "stop"
        try:
            for line in response.iter_lines():
                if cancel is not None and cancel.is_set():
                    break
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise RemoteExpertError(spec.name, url, str((chunk["error"] or {}).get("message", chunk["error"])))
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    finish = choice.get("finish_reason") or finish
                    piece = _piece(choice)
                    if piece:
                        text.append(piece)
                        yield piece
        except httpx.TimeoutException:
            raise RemoteExpertTimeout(spec.name, url, f"no piece within {spec.timeout or READ_TIMEOUT_S:g} s") from None
        except httpx.HTTPError as exc:
            raise RemoteExpertError(spec.name, url, f"stream broke: {exc or type(exc).__name__}") from None
        except (ValueError, AttributeError, TypeError):
            raise RemoteExpertError(spec.name, url, "malformed server-sent event") from None
        finally:
            response.close()
        return Completion("".join(text), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), finish)
