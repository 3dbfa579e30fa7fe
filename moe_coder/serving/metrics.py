"""The server's Prometheus metrics, in a registry of its own (two apps in one process never mix counts)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ServerMetrics", "CONTENT_TYPE_LATEST"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServerMetrics:
    """Requests, latency, tokens, per-expert counts, batch sizes, and requests in flight."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "moe_coder_requests", "HTTP requests answered, by endpoint and status", ["endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "moe_coder_request_seconds", "Time to the full answer, by endpoint", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.tokens = Counter("moe_coder_tokens", "Tokens processed, by kind (prompt or completion)", ["kind"], registry=self.registry)
        self.expert_requests = Counter(
            "moe_coder_expert_requests", "Generation requests answered, by expert", ["expert"], registry=self.registry
        )
        self.batch_size = Histogram(
            "moe_coder_batch_size", "Requests per batch sent to the expert pool", buckets=_BATCH_BUCKETS, registry=self.registry
        )
        self.in_flight = Gauge(
            "moe_coder_requests_in_flight", "Generation requests being answered or streamed now", registry=self.registry
        )
        self.cancelled = Counter(
            "moe_coder_streams_cancelled", "Streams whose client left before the end", registry=self.registry
        )

    def count_tokens(self, expert: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.expert_requests.labels(expert).inc()
        self.tokens.labels("prompt").inc(prompt_tokens)
        self.tokens.labels("completion").inc(completion_tokens)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
