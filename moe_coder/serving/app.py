"""The OpenAI-compatible HTTP server in front of a mixture (Starlette, run by uvicorn).

``/v1/chat/completions`` and ``/v1/completions`` route each request (``model: "auto"``) or
force an expert (``model: "<expert>"``); ``/v1/models`` lists both; ``/health`` and
``/metrics`` (Prometheus text) are for operators. The server holds no state between
requests, so replicas can stand behind any load balancer.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Generator

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moe_coder.experts.completion import Completion, ContextLengthError
from moe_coder.experts.remote import RemoteExpertError, RemoteExpertTimeout
from moe_coder.mixture import MoECoder
from moe_coder.serving.batching import Batcher
from moe_coder.serving.defaults import DEFAULT_BATCH_WINDOW_MS, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES
from moe_coder.serving.engine import Engine
from moe_coder.serving.errors import APIError, invalid
from moe_coder.serving.memory import HeapTrimmer, fix_mmap_threshold
from moe_coder.serving.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from moe_coder.serving.protocol import GenerationRequest, parse_request
from moe_coder.serving.responses import DONE, EXPERT_HEADER, ChunkWriter, full_body

logger = logging.getLogger(__name__)

_PATHS = ("/v1/models", "/v1/chat/completions", "/v1/completions", "/health", "/metrics")


def api_error(exc: BaseException) -> APIError:
    """The HTTP error a failure becomes; unexpected ones are logged here and reach the client as a bare 500."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, RemoteExpertTimeout):
        return APIError(504, str(exc), "expert_timeout")
    if isinstance(exc, RemoteExpertError):
        return APIError(502, str(exc), "expert_unavailable")
    if isinstance(exc, ContextLengthError):
        return APIError(400, str(exc), "context_length_exceeded", "max_tokens")
    if isinstance(exc, ValueError):
        return invalid(str(exc))
    logger.error("request failed", exc_info=exc)
    return APIError(500, "internal server error; the server log has the details", "internal_error")


def _next(stream: Generator[str, None, Completion], trim: HeapTrimmer) -> tuple[str | None, Completion | None]:
    try:
        return next(stream), None
    except StopIteration as stop:
        trim()  # the stream's generation has ended and freed its memory
        return None, stop.value


class _MetricsMiddleware:
    """Counts every response by path and status and times it to its last byte (streams included)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = scope["path"] if scope["path"] in _PATHS else "other"
            self.metrics.requests.labels(path, str(status[0])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)


def create_app(
    mixture: MoECoder,
    *,
    api_key: str | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
    batch_window_ms: float = DEFAULT_BATCH_WINDOW_MS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The ASGI app serving ``mixture``.

    ``api_key``, when set, is required as ``Authorization: Bearer <key>`` on ``/v1/*``.
    Requests arriving within ``batch_window_ms`` of each other (up to ``max_batch``) are
    generated as one batch. Bodies over ``max_body_bytes`` get a 413. Remote experts' API keys
    are read here, so a missing one fails at start, naming the expert.
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be >= 1, found {max_body_bytes}")
    for spec in mixture.experts:
        if spec.endpoint:
            mixture.pool.remote_endpoint(spec)
    engine = Engine(mixture, max_batch)
    metrics = ServerMetrics()
    trim = HeapTrimmer()

    def answer_batch(requests: list[GenerationRequest]) -> list[Any]:
        try:
            return engine.answer_batch(requests)
        finally:
            trim()  # runs in the batch's worker thread, after generation freed its memory

    # Requests the batchers may wait for: accepted with their body still being read, or parsed and
    # not yet answered (plain) or opened (streams).
    reading = plain = streaming = 0
    batcher: Batcher[GenerationRequest, Any] = Batcher(
        answer_batch, max_batch, batch_window_ms / 1000, on_batch=metrics.batch_size.observe, expected=lambda: reading + plain
    )
    # Streams that arrive together are opened together, so that they generate as one batch.
    stream_batcher: Batcher[tuple[GenerationRequest, threading.Event], Any] = Batcher(
        engine.open_streams, max_batch, batch_window_ms / 1000, on_batch=metrics.batch_size.observe,
        expected=lambda: reading + streaming,
    )
    stream_threads = anyio.CapacityLimiter(1024)
    key = api_key.encode() if api_key else None

    def authorise(request: Request) -> None:
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # compare_digest takes the same time wherever the strings differ
        if not (hmac.compare_digest(token.strip().encode(), key) and scheme.lower() == "bearer"):
            raise APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "invalid_api_key")

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body_bytes:
            raise APIError(413, f"request body over {max_body_bytes} bytes", "request_too_large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise APIError(413, f"request body over {max_body_bytes} bytes", "request_too_large")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise invalid("the request body is not valid JSON") from None

    def check_model(name: str) -> None:
        if name not in engine.models:
            raise APIError(404, f"model {name!r} does not exist; this server has {engine.models}", "model_not_found", "model")

    async def stream_answer(request: GenerationRequest) -> StreamingResponse:
        nonlocal streaming
        cancel = threading.Event()
        try:
            decision, stream = await stream_batcher.submit((request, cancel))
        finally:
            streaming -= 1
        try:  # the first piece comes before the status line, so failing to start is still a proper HTTP error
            first = await anyio.to_thread.run_sync(_next, stream, trim, limiter=stream_threads)
        except BaseException:
            stream.close()
            raise
        writer = ChunkWriter(request.kind, decision)

        def finish(completion: Completion) -> None:
            metrics.count_tokens(decision.expert, completion.prompt_tokens, completion.completion_tokens)
            metrics.in_flight.dec()

        def drain() -> None:  # after the client left: stop generating, count what was generated
            try:
                while True:
                    next(stream)
            except StopIteration as stop:
                finish(stop.value)
            except Exception:
                metrics.in_flight.dec()

        async def events() -> AsyncIterator[bytes]:
            piece, completion = first
            failure: Exception | None = None
            try:
                yield writer.opening()
                while completion is None:
                    if piece:
                        yield writer.piece(piece)
                    piece, completion = await anyio.to_thread.run_sync(_next, stream, trim, limiter=stream_threads)
                yield writer.finish(completion.finish_reason)
                if request.include_usage:
                    yield writer.usage(completion)
            except Exception as exc:
                failure = exc
            finally:
                if completion is None and failure is None:  # the client left: free the generation now
                    cancel.set()
                    metrics.cancelled.inc()
                    threading.Thread(target=drain, name="stream-drain", daemon=True).start()
            if failure is not None:  # the status line is gone: the error travels as an event
                metrics.in_flight.dec()
                yield writer.error(api_error(failure).body())
            else:
                assert completion is not None
                finish(completion)
            yield DONE

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={EXPERT_HEADER: decision.expert, "Cache-Control": "no-cache"}
        )

    async def read_request(request: Request, kind: str) -> GenerationRequest:
        try:
            parsed = parse_request(await read_json(request), kind)
        except ClientDisconnect:
            raise APIError(400, "the client closed the connection before the body ended", "incomplete_body") from None
        check_model(parsed.model)
        return parsed

    async def answer(parsed: GenerationRequest) -> Response:
        metrics.in_flight.inc()
        try:
            if parsed.stream:
                return await stream_answer(parsed)  # the stream decrements in_flight when it ends
            result = await batcher.submit(parsed)
        except Exception as exc:
            metrics.in_flight.dec()
            raise api_error(exc) from None
        except BaseException:
            metrics.in_flight.dec()
            raise
        completion = result.completion
        metrics.count_tokens(result.decision.expert, completion.prompt_tokens, completion.completion_tokens)
        metrics.in_flight.dec()
        return JSONResponse(full_body(parsed.kind, result.decision, completion), headers={EXPERT_HEADER: result.decision.expert})

    async def generate(request: Request, kind: str) -> Response:
        nonlocal reading, plain, streaming
        authorise(request)
        reading += 1
        try:
            parsed = await read_request(request, kind)
        finally:
            reading -= 1
        if parsed.stream:  # the stream's batch is opened by stream_answer, which counts it out
            streaming += 1
            return await answer(parsed)
        plain += 1
        try:
            return await answer(parsed)
        finally:
            plain -= 1

    async def chat_completions(request: Request) -> Response:
        return await generate(request, "chat")

    async def completions(request: Request) -> Response:
        return await generate(request, "completion")

    def model_card(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 0, "owned_by": "moe-coder"}

    async def list_models(request: Request) -> Response:
        authorise(request)
        return JSONResponse({"object": "list", "data": [model_card(m) for m in engine.models]})

    async def get_model(request: Request) -> Response:
        authorise(request)
        name = request.path_params["model"]
        check_model(name)
        return JSONResponse(model_card(name))

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mixture": mixture.config.name, "experts": len(mixture.experts)})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def on_api_error(request: Request, exc: Exception) -> Response:
        return api_error(exc).response()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return APIError(exc.status_code, str(exc.detail), "not_found" if exc.status_code == 404 else None).response()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        batcher.start()
        stream_batcher.start()
        try:
            yield
        finally:
            await stream_batcher.stop()
            await batcher.stop()

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ],
        exception_handlers={APIError: on_api_error, HTTPException: on_http_error, Exception: on_api_error},
        lifespan=lifespan,
    )
    app.add_middleware(_MetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    app.state.engine = engine
    app.state.trimmer = trim
    return app


def serve(
    mixture: MoECoder,
    host: str = "127.0.0.1",
    port: int = 8000,
    **options: Any,
) -> None:
    """Serve ``mixture`` until interrupted (``options`` as :func:`create_app`).

    Pins glibc's mmap threshold for the process first (:func:`moe_coder.serving.memory.fix_mmap_threshold`),
    so that resident memory stays flat under load.
    """
    import uvicorn

    fix_mmap_threshold()  # process-wide, so here and not in create_app: the server owns this process
    app = create_app(mixture, **options)
    logger.warning("serving mixture %r on http://%s:%d/v1", mixture.config.name, host, port)
    uvicorn.run(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=30, timeout_graceful_shutdown=5
    )
