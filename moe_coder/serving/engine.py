"""Between HTTP and the mixture: route requests, answer them in batches, open streams.

Nothing here knows HTTP; :mod:`moe_coder.serving.app` turns requests into
:class:`~moe_coder.serving.protocol.GenerationRequest` objects and answers into JSON.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Generator, Sequence

from moe_coder.config import ExpertSpec
from moe_coder.decisions import RoutingDecision
from moe_coder.experts.completion import Completion
from moe_coder.mixture import MoECoder
from moe_coder.serving.protocol import AUTO, GenerationRequest


@dataclass
class Answer:
    """A generated answer and the routing decision that chose its expert."""

    decision: RoutingDecision
    completion: Completion


class Engine:
    """Routes and answers :class:`GenerationRequest` objects with one mixture.

    A chat is rendered in the chosen expert's prompt format. A completion continues its prompt
    verbatim, as OpenAI's ``/v1/completions`` does: the expert's weights, no prompt format.
    """

    def __init__(self, mixture: MoECoder, max_batch: int = 16) -> None:
        self.mixture = mixture
        self.max_batch = max_batch
        self._raw_specs: dict[str, ExpertSpec] = {}

    @property
    def models(self) -> list[str]:
        """``auto`` and every expert name: the values a request's ``model`` may take."""
        return [AUTO, *(e.name for e in self.mixture.experts)]

    def spec_for(self, expert: str, kind: str) -> ExpertSpec:
        spec = self.mixture.config.expert(expert)
        if kind == "chat":
            return spec
        if expert not in self._raw_specs:
            self._raw_specs[expert] = replace(spec, prompt_format="completion", system_prompt=None)
        return self._raw_specs[expert]

    def route(self, requests: Sequence[GenerationRequest]) -> list[RoutingDecision]:
        """One decision per request: ``auto`` ones classified in one batch, the others forced to the expert they name."""
        auto = [r.prompt for r in requests if r.model == AUTO]
        routed = iter(self.mixture.route_batch(auto) if auto else [])
        return [next(routed) if r.model == AUTO else RoutingDecision.forced(r.model) for r in requests]

    def answer_batch(self, requests: Sequence[GenerationRequest]) -> list[Answer | Exception]:
        """Answer many requests; each gets its answer or the error that stopped it.

        Requests with the same generation settings go through the pool together (which groups
        them again by weights). A remote expert's requests form their own group, so an expert
        that is down fails only its own requests.
        """
        decisions = self.route(requests)
        specs = [self.spec_for(d.expert, r.kind) for r, d in zip(requests, decisions)]
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (request, spec) in enumerate(zip(requests, specs)):
            groups.setdefault((request.settings_key, spec.name if spec.endpoint else ""), []).append(i)
        results: list[Answer | Exception] = [RuntimeError("not answered")] * len(requests)
        for indices in groups.values():
            try:
                completions = self.mixture.pool.complete_many(
                    [(specs[i], requests[i].prompt) for i in indices], self.max_batch, **requests[indices[0]].settings
                )
            except Exception as exc:  # this group's requests fail with it; the other groups still run
                for i in indices:
                    results[i] = exc
                continue
            for i, completion in zip(indices, completions):
                results[i] = Answer(decisions[i], completion)
        return results

    def open_streams(
        self, requests: Sequence[tuple[GenerationRequest, threading.Event]]
    ) -> list[tuple[RoutingDecision, Generator[str, None, Completion]] | Exception]:
        """Route streaming requests together and open their streams, local ones batched.

        Each ``(request, cancel)`` gets its decision and stream, or the error that stopped it.
        Streams with the same generation settings are opened together, so the pool runs those
        on the same weights as one batch; nothing is generated until a stream is first read.
        """
        decisions = self.route([request for request, _ in requests])
        results: list[tuple[RoutingDecision, Generator[str, None, Completion]] | Exception] = [RuntimeError("not opened")] * len(requests)
        groups: dict[str, list[int]] = {}
        for i, (request, _) in enumerate(requests):
            groups.setdefault(request.settings_key, []).append(i)
        for indices in groups.values():
            settings = requests[indices[0]][0].settings
            try:
                streams = self.mixture.pool.stream_many(
                    [(self.spec_for(decisions[i].expert, requests[i][0].kind), requests[i][0].prompt, requests[i][1]) for i in indices],
                    self.max_batch,
                    **settings,
                )
            except Exception as exc:  # this group's requests fail with it; the other groups still open
                for i in indices:
                    results[i] = exc
                continue
            for i, stream in zip(indices, streams):
                results[i] = (decisions[i], stream)
        return results

    def open_stream(
        self, request: GenerationRequest, cancel: threading.Event
    ) -> tuple[RoutingDecision, Generator[str, None, Completion]]:
        """Route one request and start streaming its answer (nothing is generated until the first ``next``)."""
        result = self.open_streams([(request, cancel)])[0]
        if isinstance(result, Exception):
            raise result
        return result
