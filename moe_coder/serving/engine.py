"""Between HTTP and the mixture: route requests, answer them in batches, open streams.

Nothing here knows HTTP; :mod:`moe_coder.serving.app` turns requests into
:class:`~moe_coder.serving.protocol.GenerationRequest` objects and answers into JSON.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any, Callable, Generator, Sequence

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

    def _grouped(
        self,
        requests: Sequence[GenerationRequest],
        call: Callable[[list[int], list[ExpertSpec], dict], Sequence[Any]],
    ) -> list[tuple[RoutingDecision, Any] | Exception]:
        """Route ``requests``, then hand each group to ``call(indices, specs, settings)``.

        A group is the requests with the same generation settings (the pool groups them again by
        weights); a remote expert's requests form their own group, so an expert that is down
        fails only its own requests. Each request gets its decision and output, or the error
        that stopped its group.
        """
        decisions = self.route(requests)
        specs = [self.spec_for(d.expert, r.kind) for r, d in zip(requests, decisions)]
        groups: dict[tuple[str, str], list[int]] = {}
        for i, (request, spec) in enumerate(zip(requests, specs)):
            groups.setdefault((request.settings_key, spec.name if spec.endpoint else ""), []).append(i)
        results: list[tuple[RoutingDecision, Any] | Exception] = [RuntimeError("not answered")] * len(requests)
        for indices in groups.values():
            try:
                outputs = call(indices, specs, requests[indices[0]].settings)
            except Exception as exc:  # this group's requests fail with it; the other groups still run
                for i in indices:
                    results[i] = exc
                continue
            for i, output in zip(indices, outputs):
                results[i] = (decisions[i], output)
        return results

    def answer_batch(self, requests: Sequence[GenerationRequest]) -> list[Answer | Exception]:
        """Answer many requests (grouped as :meth:`_grouped` says); each gets its answer or the error that stopped it."""
        results = self._grouped(
            requests,
            lambda indices, specs, settings: self.mixture.pool.complete_many(
                [(specs[i], requests[i].prompt) for i in indices], self.max_batch, **settings
            ),
        )
        return [r if isinstance(r, Exception) else Answer(*r) for r in results]

    def open_streams(
        self, requests: Sequence[tuple[GenerationRequest, threading.Event]]
    ) -> list[tuple[RoutingDecision, Generator[str, None, Completion]] | Exception]:
        """Route streaming requests together and open their streams, local ones batched.

        Each ``(request, cancel)`` gets its decision and stream, or the error that stopped it.
        Grouped as :meth:`answer_batch` groups, so the pool runs the streams on the same weights
        and settings as one batch; nothing is generated until a stream is first read.
        """
        plain = [request for request, _ in requests]
        return self._grouped(
            plain,
            lambda indices, specs, settings: self.mixture.pool.stream_many(
                [(specs[i], plain[i].prompt, requests[i][1]) for i in indices], self.max_batch, **settings
            ),
        )
