"""``moe-coder serve`` as clients see it: real server processes on 127.0.0.1, the official ``openai`` client.

Two servers run for the module. The *backend* serves the tiny mixture behind an API key. The
*front* serves a mixture whose experts are partly local (tiny random models) and partly remote:
``python`` and ``web`` point at the backend, ``ghost`` at a closed port, ``sleepy`` at a socket
that never answers.
"""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
BACKEND_KEY = "backend-secret"
KEY_ENV = "MOE_TEST_BACKEND_KEY"
LONG = 800  # tokens the front's generalist generates for HELLO without meeting its end-of-sequence token
HELLO = "hello world"  # the generalist answers it with newlines, so its stream arrives piece by piece
BASH = "Write a bash script that counts lines in every .txt file."
PYTHON = "Write a Python function that reverses a list."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``moe-coder serve`` subprocess, stopped when the test module ends."""

    def __init__(self, mixture: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environment = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", **(env or {})}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moe_coder.cli", "serve", "--mixture", str(mixture), "--port", str(self.port), *args],
            env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")

    def client(self, api_key: str = "none", **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, timeout=120, **kwargs)

    def metrics(self) -> dict[tuple, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _metric(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def backend(tiny_mixture, tmp_path_factory):
    server = Server(tiny_mixture, tmp_path_factory.mktemp("backend") / "log", "--api-key", BACKEND_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def silent_endpoint():
    """A TCP server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    listener.close()
    for conn in held:
        conn.close()


@pytest.fixture(scope="module")
def front_mixture(tmp_path_factory, tiny_router, tiny_llama_b_dir, backend, silent_endpoint) -> Path:
    from moe_coder.config import ExpertSpec, MixtureConfig
    from moe_coder.mixture import MoECoder
    from moe_coder.testing import build_tiny_llama

    long_llama = build_tiny_llama(tmp_path_factory.mktemp("long-llama"), seed=2, max_positions=4096)
    gen = {"max_new_tokens": 8, "temperature": 0.0}
    config = MixtureConfig(
        name="front",
        experts=[
            ExpertSpec(name="generalist", model=str(long_llama), generation=gen),
            ExpertSpec(
                name="python", model="python", endpoint=f"{backend.url}/v1", api_key_env=KEY_ENV,
                languages=["python"], generation=gen,
            ),
            ExpertSpec(
                name="web", model="web", endpoint=f"{backend.url}/v1", api_key_env=KEY_ENV, prompt_format="phind",
                system_prompt="You are a PHP expert.", languages=["php"], generation=gen,
            ),
            ExpertSpec(name="shell", model=str(tiny_llama_b_dir), prompt_format="completion", languages=["bash"], generation=gen),
            ExpertSpec(name="ghost", model="x", endpoint=f"http://127.0.0.1:{_free_port()}/v1", generation=gen),
            ExpertSpec(name="sleepy", model="x", endpoint=silent_endpoint, timeout=1.0, generation=gen),
        ],
        generalist="generalist",
        confidence_threshold=0.0,
    )
    directory = tmp_path_factory.mktemp("front-mixture")
    MoECoder(config, tiny_router).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def front(front_mixture, tmp_path_factory):
    server = Server(
        front_mixture, tmp_path_factory.mktemp("front") / "log", "--batch-window-ms", "100", "--max-batch", "8",
        env={KEY_ENV: BACKEND_KEY},
    )
    yield server
    server.stop()


def _ask(client: openai.OpenAI, content: str, model: str = "auto", **kwargs):
    kwargs.setdefault("max_tokens", 6)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kwargs)


# ----------------------------------------------------------------------------- the API
def test_models_lists_auto_and_every_expert(front):
    ids = [m.id for m in front.client().models.list()]
    assert ids == ["auto", "generalist", "python", "web", "shell", "ghost", "sleepy"]
    assert front.client().models.retrieve("shell").id == "shell"


def test_chat_routes_and_reports_the_route_header_and_real_token_usage(front, tiny_llama_b_dir):
    from transformers import AutoTokenizer

    raw = front.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": BASH}], max_tokens=6
    )
    answer = raw.parse()
    assert raw.headers["x-moe-expert"] == "shell"
    route = answer.model_extra["route"]
    assert route["expert"] == "shell" and route["language"] == "bash" and route["abstained"] is False
    assert set(route) == {"expert", "language", "task", "confidence", "abstained", "source_language"}
    assert answer.model == "shell" and answer.choices[0].message.role == "assistant"
    # the shell expert continues the prompt verbatim, so the prompt's tokens are the tokenizer's count of it
    assert answer.usage.prompt_tokens == len(AutoTokenizer.from_pretrained(tiny_llama_b_dir)(BASH)["input_ids"])
    assert 1 <= answer.usage.completion_tokens <= 6
    assert (answer.choices[0].finish_reason == "length") == (answer.usage.completion_tokens == 6)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_a_named_expert_is_used_without_routing(front):
    raw = front.client().chat.completions.with_raw_response.create(
        model="generalist", messages=[{"role": "user", "content": BASH}], max_tokens=4
    )
    assert raw.headers["x-moe-expert"] == "generalist"
    route = raw.parse().model_extra["route"]
    assert route["expert"] == "generalist" and route["language"] == "unknown" and route["confidence"] == 1.0


def test_long_generation_runs_to_max_tokens(front):
    answer = _ask(front.client(), HELLO, model="generalist", max_tokens=LONG)
    assert answer.usage.completion_tokens == LONG and answer.choices[0].finish_reason == "length"


def test_streamed_chat_equals_the_whole_answer_and_ends_with_done(front):
    client = front.client()
    whole = _ask(client, BASH, model="generalist", max_tokens=10).choices[0].message.content
    chunks = list(_ask(client, BASH, model="generalist", max_tokens=10, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole
    assert chunks[0].model_extra["route"]["expert"] == "generalist"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage.completion_tokens >= 1
    with httpx.stream(
        "POST", f"{front.url}/v1/chat/completions", timeout=60,
        json={"model": "generalist", "messages": [{"role": "user", "content": BASH}], "max_tokens": 4, "stream": True},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-moe-expert"] == "generalist"
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(json.loads(e[len("data: "):])["object"] == "chat.completion.chunk" for e in events[:-1])


def test_streamed_completion_equals_the_whole_completion(front):
    client = front.client()
    whole = client.completions.create(model="shell", prompt="#!/bin/bash\nfor f in", max_tokens=8)
    assert whole.object == "text_completion" and whole.usage.completion_tokens >= 1
    streamed = client.completions.create(model="shell", prompt="#!/bin/bash\nfor f in", max_tokens=8, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == whole.choices[0].text


# ----------------------------------------------------------------------------- errors
def _error(response: httpx.Response) -> dict:
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    return error


def test_malformed_json_and_wrong_types_are_400(front):
    assert _error(httpx.post(f"{front.url}/v1/chat/completions", content=b'{"model": "auto", "mess', timeout=30))
    for body in (
        {"model": "auto", "messages": "hello"},
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"},
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "temperature": True},
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"model": 7, "prompt": "x"},
        {"model": "auto", "prompt": ["a", "b"]},
        {"model": "auto", "prompt": "x", "frequency_penalty": 1},
    ):
        path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
        response = httpx.post(front.url + path, json=body, timeout=30)
        assert response.status_code == 400, body
        assert _error(response)["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        front.client().chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens="many")


def test_unknown_model_is_404(front):
    with pytest.raises(openai.NotFoundError) as caught:
        _ask(front.client(), BASH, model="gpt-4")
    assert caught.value.code == "model_not_found" and "gpt-4" in caught.value.message
    assert _error(httpx.get(f"{front.url}/no/such/path", timeout=30))


def test_max_tokens_beyond_the_experts_context_is_400(front):
    with pytest.raises(openai.BadRequestError) as caught:
        _ask(front.client(), BASH, model="shell", max_tokens=100_000)
    assert caught.value.code == "context_length_exceeded" and "shell" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        _ask(front.client(), BASH, model="shell", max_tokens=100_000, stream=True)


def test_a_body_over_the_limit_is_413(front):
    body = json.dumps({"model": "auto", "prompt": "x" * (2 << 20)})
    response = httpx.post(f"{front.url}/v1/completions", content=body, timeout=30)
    assert response.status_code == 413 and _error(response)["code"] == "request_too_large"


def test_the_api_key_is_required_when_set(backend):
    for key in ("none", "backend-secreT", BACKEND_KEY + "x"):
        with pytest.raises(openai.AuthenticationError):
            backend.client(api_key=key).models.list()
    assert httpx.post(f"{backend.url}/v1/completions", json={"model": "auto", "prompt": "x"}, timeout=30).status_code == 401
    assert [m.id for m in backend.client(api_key=BACKEND_KEY).models.list()][0] == "auto"
    assert httpx.get(f"{backend.url}/health", timeout=30).status_code == 200


# ----------------------------------------------------------------------------- remote experts
def test_remote_experts_answer_as_their_endpoint_does(front, backend):
    direct = backend.client(api_key=BACKEND_KEY)
    via_front = front.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": PYTHON}], max_tokens=6
    )
    assert via_front.headers["x-moe-expert"] == "python"
    answer, expected = via_front.parse(), _ask(direct, PYTHON, model="python")
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert answer.usage.model_dump() == expected.usage.model_dump()
    streamed = _ask(front.client(), PYTHON, model="python", stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected.choices[0].message.content


def test_a_remote_expert_with_a_prompt_format_sends_the_rendered_text(front, backend):
    from moe_coder.experts.prompt_formats import render_prompt

    php = "Write a PHP function that reverses a string."
    answer = _ask(front.client(), php, model="web")
    rendered = render_prompt("phind", php, None, "You are a PHP expert.")
    expected = backend.client(api_key=BACKEND_KEY).completions.create(model="web", prompt=rendered, max_tokens=6)
    assert answer.choices[0].message.content == expected.choices[0].text


def test_concurrent_local_and_remote_requests_all_succeed(front):
    client = front.client()
    jobs = [(PYTHON, "python"), (BASH, "shell"), ("Write a PHP function that reverses a string.", "web"), (BASH, "generalist")] * 3
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: _ask(client, job[0], model=job[1]), jobs))
    assert [a.model for a in answers] == [model for _, model in jobs]
    assert all(a.usage.completion_tokens >= 1 for a in answers)


def test_a_down_remote_expert_is_502_naming_it_and_the_others_keep_serving(front):
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(front.client(), BASH, model="ghost")
    assert caught.value.status_code == 502
    assert "'ghost'" in caught.value.message and "http://127.0.0.1:" in caught.value.message
    with pytest.raises(openai.APIStatusError) as streamed:
        _ask(front.client(), BASH, model="ghost", stream=True)
    assert streamed.value.status_code == 502
    assert _ask(front.client(), PYTHON, model="python").usage.completion_tokens >= 1
    assert _ask(front.client(), BASH, model="shell").usage.completion_tokens >= 1


def test_a_remote_expert_that_never_answers_is_504(front):
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(front.client(), BASH, model="sleepy")
    assert caught.value.status_code == 504 and "'sleepy'" in caught.value.message


def test_the_library_names_the_remote_expert_and_url_and_mixes_local_and_remote(front_mixture, backend, monkeypatch):
    from moe_coder.experts.remote import RemoteExpertError
    from moe_coder.mixture import MoECoder

    monkeypatch.setenv(KEY_ENV, BACKEND_KEY)
    coder = MoECoder.from_pretrained(front_mixture)
    with pytest.raises(RemoteExpertError) as caught:
        coder.generate(BASH, expert="ghost")
    assert caught.value.expert == "ghost" and caught.value.url.startswith("http://127.0.0.1:")
    assert "'ghost'" in str(caught.value) and caught.value.url in str(caught.value)
    expected = _ask(backend.client(api_key=BACKEND_KEY), PYTHON, model="python").choices[0].message.content
    both = coder.generate([PYTHON, BASH], max_new_tokens=6)  # one remote, one local, in one call
    assert both[0] == expected and isinstance(both[1], str)
    assert "".join(coder.stream(PYTHON, expert="python", max_new_tokens=6)) == expected


# ----------------------------------------------------------------------------- concurrency
def test_concurrent_requests_go_through_the_pool_as_one_batch(front):
    before = front.metrics()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _ask(front.client(), BASH, model="shell"), range(8)))
    after = front.metrics()
    batches = _metric(after, "moe_coder_batch_size_count") - _metric(before, "moe_coder_batch_size_count")
    requests = _metric(after, "moe_coder_batch_size_sum") - _metric(before, "moe_coder_batch_size_sum")
    assert requests == 8 and batches < 8


def test_a_stream_cancelled_midway_stops_generating_and_frees_its_slot(front):
    before = front.metrics()
    with httpx.stream(
        "POST", f"{front.url}/v1/chat/completions", timeout=60,
        json={"model": "generalist", "messages": [{"role": "user", "content": HELLO}], "max_tokens": LONG, "stream": True},
    ) as response:
        lines = response.iter_lines()
        for _ in range(3):
            next(lines)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = front.metrics()
        if _metric(after, "moe_coder_streams_cancelled_total") > _metric(before, "moe_coder_streams_cancelled_total") and (
            _metric(after, "moe_coder_requests_in_flight") == 0
        ):
            break
        time.sleep(0.2)
    generated = _metric(after, "moe_coder_tokens_total", kind="completion") - _metric(before, "moe_coder_tokens_total", kind="completion")
    assert _metric(after, "moe_coder_requests_in_flight") == 0
    assert 1 <= generated < LONG  # the full answer is LONG tokens (test_long_generation_runs_to_max_tokens)
    assert _ask(front.client(), BASH, model="generalist").usage.completion_tokens >= 1


def test_a_slow_stream_reader_does_not_hold_the_pool(tiny_llama_dir):
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    pool = ExpertPool(max_loaded=1, device="cpu")
    spec = ExpertSpec(name="a", model=str(tiny_llama_dir), prompt_format="completion")
    stream = pool.stream(spec, "def add(a, b):", max_new_tokens=400)
    next(stream)  # the reader takes one piece, then stalls while holding the generator open
    other: list[str] = []
    worker = threading.Thread(target=lambda: other.extend(pool.generate(spec, ["def sub(a, b):"], max_new_tokens=4)))
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive() and len(other) == 1, "another request waited for the stalled stream"
    stream.close()


# ----------------------------------------------------------------------------- hostile input
def _junk(rng: random.Random, chat: bool) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 512))
    if kind == 1:
        return json.dumps(rng.choice([None, 1, -3.5, "auto", [], [1, "x"], True])).encode()
    if kind == 2:  # a request with one field of the wrong type
        body: dict = {"model": rng.choice(["auto", "generalist"])}
        body.update({"messages": [{"role": "user", "content": "hi"}]} if chat else {"prompt": "hi"})
        field = rng.choice(["model", "messages" if chat else "prompt", "max_tokens", "temperature", "top_p", "stop", "seed", "n", "stream"])
        wrong = [{}, [[]], -1, [1, 2], float("inf")] + ([] if field in ("stop", "prompt") else ["x" * rng.randrange(1, 5)])
        body[field] = rng.choice(wrong)
        return json.dumps(body).encode()
    if kind == 3:
        return b"[" * rng.randrange(1, 100_000)
    if kind == 4:
        return json.dumps({"model": "auto", "messages": [{"role": rng.choice(["bot", "", 3]), "content": "x"}]}).encode()
    return b'{"model": "auto", "prompt": "' + rng.randbytes(rng.randrange(1, 64)).replace(b'"', b"") + b"\xff\xfe"


def _process_counts(pid: int) -> tuple[int, int]:
    threads = len(os.listdir(f"/proc/{pid}/task"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return threads, fds


def test_a_thousand_junk_bodies_all_get_a_4xx_and_the_server_stays_alive(front):
    rng = random.Random(17)
    statuses = []
    with httpx.Client(base_url=front.url, timeout=30) as client:
        client.get("/health")
        before = _process_counts(front.process.pid)
        for i in range(1000):
            path = "/v1/chat/completions" if i % 2 else "/v1/completions"
            body = _junk(rng, chat=bool(i % 2))
            response = client.post(path, content=body, headers={"content-type": rng.choice(["application/json", "text/plain"])})
            statuses.append(response.status_code)
            assert "Traceback" not in response.text
            assert 400 <= response.status_code < 500, (response.status_code, body[:200], response.text[:300])
        after = _process_counts(front.process.pid)
    assert len(statuses) == 1000 and front.process.poll() is None
    assert httpx.get(f"{front.url}/health", timeout=30).status_code == 200
    assert after[0] <= before[0] + 4 and after[1] <= before[1] + 4, (before, after)


def test_metrics_count_requests_latency_tokens_and_experts(front):
    _ask(front.client(), BASH, model="shell")
    metrics = front.metrics()
    assert _metric(metrics, "moe_coder_requests_total", endpoint="/v1/chat/completions", status="200") >= 1
    assert _metric(metrics, "moe_coder_request_seconds_count", endpoint="/v1/chat/completions") >= 1
    assert _metric(metrics, "moe_coder_tokens_total", kind="prompt") > 0
    assert _metric(metrics, "moe_coder_expert_requests_total", expert="shell") >= 1


# ----------------------------------------------------------------------------- configuration
def test_a_missing_remote_key_or_a_bad_option_stops_the_cli_with_exit_2(front_mixture, monkeypatch, capsys):
    from moe_coder.cli import main

    monkeypatch.delenv(KEY_ENV, raising=False)
    assert main(["serve", "--mixture", str(front_mixture), "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert "'python'" in err and KEY_ENV in err
    assert main(["serve", "--mixture", str(front_mixture), "--max-batch", "0"]) == 2
    assert main(["serve", "--mixture", str(front_mixture), "--batch-window-ms", "-1"]) == 2


def test_remote_expert_specs_are_validated():
    from moe_coder.config import ExpertSpec

    with pytest.raises(ValueError, match="'r'.*http"):
        ExpertSpec(name="r", model="m", endpoint="gpu-host:8000/v1")
    with pytest.raises(ValueError, match="'r'.*adapter"):
        ExpertSpec(name="r", model="m", endpoint="http://gpu-host:8000/v1", adapter="lora")
    with pytest.raises(ValueError, match="'r'.*endpoint"):
        ExpertSpec(name="r", model="m", api_key_env="KEY")
    with pytest.raises(ValueError, match="'r'.*timeout"):
        ExpertSpec(name="r", model="m", endpoint="http://gpu-host:8000/v1", timeout=0)
    spec = ExpertSpec.from_dict({"name": "r", "model": "python-lora", "endpoint": "http://gpu-host:8000/v1", "api_key_env": "K"})
    assert ExpertSpec.from_dict(spec.to_dict()) == spec


def test_local_batches_run_at_a_few_sizes_and_prompt_lengths(tiny_llama_dir):
    """Every batch size and padded prompt length the pool runs is a bucket, so per-shape kernel state stays bounded."""
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import BATCH_BUCKETS, PROMPT_LENGTH_MULTIPLE, ExpertPool, bucket_size

    assert [bucket_size(n, 64) for n in (1, 3, 5, 13, 17, 33, 49, 64, 70)] == [1, 4, 8, 16, 24, 48, 64, 64, 70]
    assert bucket_size(9, 10) == 10  # never past the batch size the caller asked for
    spec = ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format="completion", dtype="float32")
    pool = ExpertPool(device="cpu")
    shapes: list[tuple[int, int]] = []
    model = pool._get(spec).model
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    rng = random.Random(0)
    prompts = [" ".join(rng.choice(["def", "add", "return", "a", "b"]) for _ in range(rng.randint(1, 40))) for _ in range(13)]
    try:
        answers = pool.complete_many([(spec, p) for p in prompts[:5]], batch_size=64, max_new_tokens=3)
        single = pool.complete_many([(spec, prompts[0])], batch_size=64, max_new_tokens=3)
        pool.complete_many([(spec, p) for p in prompts], batch_size=64, max_new_tokens=3)
    finally:
        hook.remove()
    assert len(answers) == 5 and answers[0].text == single[0].text  # filler rows change no answer
    prefills = [s for s in shapes if s[1] > 1]
    assert {s[0] for s in shapes} <= set(BATCH_BUCKETS) and {s[0] for s in prefills} == {8, 1, 16}
    assert all(s[1] % PROMPT_LENGTH_MULTIPLE == 0 for s in prefills)


def test_the_heap_trimmer_trims_at_most_once_per_interval():
    from moe_coder.serving.memory import HeapTrimmer

    trimmer = HeapTrimmer(interval_s=60)
    if not trimmer.available:
        pytest.skip("not glibc")
    assert trimmer() and not trimmer() and trimmer.trims == 1
    assert HeapTrimmer(interval_s=0)()


# ----------------------------------------------------------------------------- batched streams
def test_streams_opened_together_generate_as_one_batch_and_each_equals_its_whole_answer(tiny_llama_dir):
    """Every stream of a batch yields exactly its greedy answer, with the same token counts and finish reason."""
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    pool = ExpertPool(max_loaded=1, device="cpu")
    spec = ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format="completion", dtype="float32")
    prompts = ["def add(a, b):", "import os\n", "x = [", "class A:\n    def f(self):", "# sum a list\n"]
    whole = pool.complete_many([(spec, p) for p in prompts], batch_size=8, max_new_tokens=12, stop=["\n\n"])
    shapes: list[tuple[int, int]] = []
    model = pool._get(spec).model
    hook = model.register_forward_pre_hook(lambda m, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        streams = pool.stream_many([(spec, p, None) for p in prompts], batch_size=8, max_new_tokens=12, stop=["\n\n"])
        results = []
        for stream in streams:
            pieces = []
            try:
                while True:
                    pieces.append(next(stream))
            except StopIteration as end:
                results.append(("".join(pieces), end.value))
    finally:
        hook.remove()
    from moe_coder.experts.pool import BATCH_BUCKETS

    prefills = [s for s in shapes if s[1] > 1]
    assert [s[0] for s in prefills] == [8], "the five streams did not run as one batch (of bucket size 8)"
    assert {s[0] for s in shapes} <= set(BATCH_BUCKETS)  # rows that ended leave it only at bucket sizes
    for (text, completion), expected in zip(results, whole):
        assert text == completion.text == expected.text
        assert (completion.prompt_tokens, completion.completion_tokens, completion.finish_reason) == (
            expected.prompt_tokens, expected.completion_tokens, expected.finish_reason
        )


def test_a_stream_that_leaves_its_batch_stops_alone(tiny_llama_dir):
    """Closing one stream of a batch ends its row; the other streams still get their whole answers."""
    from moe_coder.config import ExpertSpec
    from moe_coder.experts.pool import ExpertPool

    pool = ExpertPool(max_loaded=1, device="cpu")
    spec = ExpertSpec(name="e", model=str(tiny_llama_dir), prompt_format="completion", dtype="float32")
    prompts = ["def add(a, b):", "def sub(a, b):", "def mul(a, b):"]
    whole = pool.complete_many([(spec, p) for p in prompts], batch_size=4, max_new_tokens=40)
    cancel = threading.Event()
    leaving, staying, cancelled = pool.stream_many(
        [(spec, prompts[0], None), (spec, prompts[1], None), (spec, prompts[2], cancel)], batch_size=4, max_new_tokens=40
    )
    cancel.set()  # before the batch starts: its row ends at the first token, with nothing generated
    next(leaving)
    leaving.close()  # its row ends at the next token
    pieces = []
    try:
        while True:
            pieces.append(next(cancelled))
    except StopIteration as end:
        assert pieces == [] and end.value.text == "" and end.value.completion_tokens == 0
    assert whole[2].completion_tokens > 0
    assert "".join(staying) == whole[1].text


def test_concurrent_streams_are_answered_in_one_batch(front):
    before = front.metrics()

    def stream(_: int) -> str:
        chunks = _ask(front.client(), BASH, model="shell", max_tokens=6, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(stream, range(8)))
    after = front.metrics()
    batches = _metric(after, "moe_coder_batch_size_count") - _metric(before, "moe_coder_batch_size_count")
    requests = _metric(after, "moe_coder_batch_size_sum") - _metric(before, "moe_coder_batch_size_sum")
    assert requests == 8 and batches < 8
    assert len(set(answers)) == 1 and answers[0] == _ask(front.client(), BASH, model="shell", max_tokens=6).choices[0].message.content
