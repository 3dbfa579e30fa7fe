"""Load benchmark for ``moe-coder serve``: concurrent clients on loopback, bounded in time.

Starts a server (and, for the remote-expert figure, a second one whose experts are remote
experts pointing at the first), then prints:
- for 1, 4, 16, 64 closed-loop clients: requests/s, tokens/s, p50/p95/p99 latency, time to
  first token (over the streamed share of requests), errors, the server's peak RSS;
- the same 16 requests sent one by one and all at once (target: at once <= 1/3 of one by one), and
  the same again streamed;
- routing + HTTP overhead per request at p50, beyond generation measured in-process (target <= 10 ms);
- a remote expert's overhead over calling its endpoint directly, at p50 (target <= 5 ms);
- a soak: 64 clients for ``--soak`` seconds, errors and RSS growth after warm-up (target 0, <= 10%).

    python benchmarks/serve_load.py [--mixture tiny|builtin] [--clients 1,4,16,64] [--duration 10]
                                    [--soak 60] [--max-tokens 16] [--json]

``tiny`` is a mixture of tiny random Llama experts (hidden size 64) behind the built-in router:
generation is cheap, so the server's own costs show. ``builtin`` is the shipped SmolLM2 mixture.
All traffic stays on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from routing_overhead import PROMPTS  # noqa: E402  (the same prompts as the in-process benchmark)

REPO = Path(__file__).resolve().parents[1]
THREADS = 1  # torch threads per process; set by --threads


def build_tiny_mixture(directory: Path, max_tokens: int) -> Path:
    """Tiny random experts on one base (as LoRA experts share one), the built-in router."""
    from moe_coder.config import ExpertSpec, MixtureConfig
    from moe_coder.mixture import MoECoder, builtin_dir
    from moe_coder.routing.router import PromptRouter
    from moe_coder.testing import build_tiny_llama

    base = str(build_tiny_llama(directory / "tiny-llama", seed=0, max_positions=1024))
    builtin = MixtureConfig.from_json_file(builtin_dir() / "mixture.json")
    experts = [
        ExpertSpec(name=e.name, model=base, prompt_format=e.prompt_format, system_prompt=e.system_prompt,
                   languages=e.languages, tasks=e.tasks, generation={"max_new_tokens": max_tokens, "temperature": 0.0})
        for e in builtin.experts
    ]
    config = MixtureConfig(experts=experts, generalist=builtin.generalist, router="builtin",
                           confidence_threshold=builtin.confidence_threshold, name="tiny-load")
    MoECoder(config, PromptRouter.from_pretrained(builtin_dir() / "router")).save_pretrained(directory / "mixture")
    return directory / "mixture"


def remote_front(mixture: Path, endpoint: str, directory: Path) -> Path:
    """A mixture whose every expert is a remote expert served at ``endpoint`` under its own name."""
    from moe_coder.config import CONFIG_NAME, ExpertSpec, MixtureConfig

    config = MixtureConfig.from_json_file(mixture / CONFIG_NAME)
    config.experts = [
        ExpertSpec(name=e.name, model=e.name, endpoint=endpoint, languages=e.languages, tasks=e.tasks, generation=e.generation)
        for e in config.experts
    ]
    config.router = "builtin"
    directory.mkdir(parents=True, exist_ok=True)
    config.to_json_file(directory / CONFIG_NAME)
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, mixture: Path | str, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(THREADS)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moe_coder.cli", "serve", "--mixture", str(mixture), "--port", str(self.port), *args],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise SystemExit("server did not start within 3 minutes")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class RssSampler:
    """Samples a server's RSS every 100 ms in a thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(0.1):
            self.samples.append((time.monotonic() - start, self.server.rss_mb()))

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def body(prompt: str, model: str, max_tokens: int, stream: bool) -> dict:
    out = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0.0}
    if stream:
        out.update(stream=True, stream_options={"include_usage": True})
    return out


async def one_request(client: httpx.AsyncClient, url: str, payload: dict) -> dict:
    """Latency, time to first token, completion tokens, expert; ``error`` on any failure."""
    start = time.perf_counter()
    try:
        if not payload.get("stream"):
            response = await client.post(f"{url}/v1/chat/completions", json=payload)
            if response.status_code != 200:
                return {"error": f"HTTP {response.status_code}: {response.text[:100]}"}
            data = response.json()
            elapsed = time.perf_counter() - start
            return {"latency": elapsed, "ttft": None, "tokens": data["usage"]["completion_tokens"], "expert": data["route"]["expert"]}
        ttft, tokens = None, 0
        async with client.stream("POST", f"{url}/v1/chat/completions", json=payload) as response:
            if response.status_code != 200:
                return {"error": f"HTTP {response.status_code}"}
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                if ttft is None and any(c.get("delta", {}).get("content") for c in chunk.get("choices", [])):
                    ttft = time.perf_counter() - start
        return {"latency": time.perf_counter() - start, "ttft": ttft, "tokens": tokens, "expert": None}
    except httpx.HTTPError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:120]}


async def closed_loop(url: str, clients: int, seconds: float, max_tokens: int, stream_share: float, seed: int = 0) -> dict:
    """``clients`` clients, each sending its next request when the last one is answered, for ``seconds``."""
    results: list[dict] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        async def worker(i: int) -> None:
            rng = random.Random(seed * 1000 + i)
            while time.perf_counter() < deadline:
                payload = body(rng.choice(PROMPTS), "auto", max_tokens, stream=rng.random() < stream_share)
                results.append(await one_request(client, url, payload))

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - start
    return summarise(results, wall)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def summarise(results: list[dict], wall: float) -> dict:
    ok = [r for r in results if "error" not in r]
    latencies = [r["latency"] * 1000 for r in ok]
    ttfts = [r["ttft"] * 1000 for r in ok if r["ttft"] is not None]
    return {
        "requests": len(results), "errors": len(results) - len(ok), "seconds": round(wall, 2),
        "error_kinds": sorted({str(r["error"]) for r in results if "error" in r}),
        "requests_per_s": round(len(ok) / wall, 2), "tokens_per_s": round(sum(r["tokens"] for r in ok) / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1), "ttft_p50_ms": round(percentile(ttfts, 50), 1),
    }


async def one_by_one(url: str, payloads: list[dict]) -> tuple[float, list[dict]]:
    async with httpx.AsyncClient(timeout=300) as client:
        start = time.perf_counter()
        results = [await one_request(client, url, p) for p in payloads]
        return time.perf_counter() - start, results


async def all_at_once(url: str, payloads: list[dict]) -> tuple[float, list[dict]]:
    limits = httpx.Limits(max_connections=len(payloads), max_keepalive_connections=len(payloads))
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(*(client.get(f"{url}/health") for _ in payloads))  # open the connections first
        start = time.perf_counter()
        results = await asyncio.gather(*(one_request(client, url, p) for p in payloads))
        return time.perf_counter() - start, list(results)


def at_once_vs_one_by_one(url: str, payloads: list[dict], repeats: int) -> dict:
    """Medians over ``repeats`` alternating rounds of the same requests sent one by one and all at once."""
    sequential, concurrent = [], []
    for _ in range(repeats):
        sequential.append(asyncio.run(one_by_one(url, payloads))[0])
        concurrent.append(asyncio.run(all_at_once(url, payloads))[0])
    return {
        "one_by_one_s": round(statistics.median(sequential), 3), "all_at_once_s": round(statistics.median(concurrent), 3),
        "ratio": round(statistics.median(concurrent) / statistics.median(sequential), 3),
    }


class InProcess:
    """The same mixture loaded in this process: generation alone, no routing, no HTTP."""

    def __init__(self, mixture: Path) -> None:
        import torch

        from moe_coder.mixture import MoECoder

        torch.set_num_threads(THREADS)
        self.coder = MoECoder.from_pretrained(mixture)

    def generate_ms(self, payload: dict) -> float:
        spec = self.coder.config.expert(payload["model"])
        start = time.perf_counter()
        self.coder.pool.complete_many([(spec, payload["messages"])], max_new_tokens=payload["max_tokens"], temperature=0.0)
        return (time.perf_counter() - start) * 1000


def http_ms(client: httpx.Client, url: str, payload: dict) -> float:
    start = time.perf_counter()
    response = client.post(f"{url}/v1/chat/completions", json=payload)
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed


def paired_overhead(slow, fast, payloads: list[dict], repeats: int) -> dict:
    """``slow(p) - fast(p)`` for each payload, the two measured back to back so load drifts cancel."""
    slow_ms, fast_ms = [], []
    for _ in range(repeats):
        for payload in payloads:
            slow_ms.append(slow(payload))
            fast_ms.append(fast(payload))
    return {
        "p50": round(statistics.median(s - f for s, f in zip(slow_ms, fast_ms)), 2),
        "slow_p50": round(statistics.median(slow_ms), 2), "fast_p50": round(statistics.median(fast_ms), 2),
        "pairs": len(slow_ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixture", choices=["tiny", "builtin"], default="tiny")
    ap.add_argument("--clients", default="1,4,16,64")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    ap.add_argument("--soak", type=float, default=60.0, help="seconds of the 64-client soak (0 skips it)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--stream-share", type=float, default=0.25, help="share of requests that stream (for time to first token)")
    ap.add_argument("--batch-window-ms", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=5, help="rounds of the 16 requests for the ratio and overhead figures")
    ap.add_argument(
        "--threads", type=int, default=1,
        help="torch threads in each server and in the in-process reference (default 1: on a shared CPU more threads spin against each other)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    from moe_coder.mixture import builtin_dir

    report: dict = {"mixture": args.mixture, "max_tokens": args.max_tokens, "batch_window_ms": args.batch_window_ms, "threads": THREADS}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        tmp_path = Path(tmp)
        mixture = build_tiny_mixture(tmp_path, args.max_tokens) if args.mixture == "tiny" else builtin_dir()
        flags = ["--max-batch", "64", "--batch-window-ms", str(args.batch_window_ms)]
        server = Server(mixture, tmp_path / "server.log", *flags)
        front = None
        try:
            sixteen = [body(p, "auto", args.max_tokens, stream=False) for p in PROMPTS[:16]]
            asyncio.run(all_at_once(server.url, sixteen))  # warm up: loads the weights, first-call costs
            asyncio.run(one_by_one(server.url, sixteen))

            levels = []
            for clients in [int(c) for c in args.clients.split(",")]:
                with RssSampler(server) as rss:
                    level = asyncio.run(closed_loop(server.url, clients, args.duration, args.max_tokens, args.stream_share))
                level.update(clients=clients, peak_rss_mb=round(max(mb for _, mb in rss.samples), 1))
                levels.append(level)
            report["levels"] = levels

            report["sixteen"] = at_once_vs_one_by_one(server.url, sixteen, args.repeats)
            streamed = [body(p, "auto", args.max_tokens, stream=True) for p in PROMPTS[:16]]
            report["sixteen_streamed"] = at_once_vs_one_by_one(server.url, streamed, args.repeats)

            _, routed = asyncio.run(one_by_one(server.url, sixteen))
            forced = [body(p, r["expert"], args.max_tokens, stream=False) for p, r in zip(PROMPTS[:16], routed)]
            local = InProcess(mixture)
            local.generate_ms(forced[0])  # warm up
            with httpx.Client(timeout=300) as client:
                report["routing_http_overhead_ms"] = paired_overhead(
                    lambda p: http_ms(client, server.url, {**p, "model": "auto"}), local.generate_ms, forced, args.repeats
                )
            del local

            front = Server(remote_front(mixture, f"{server.url}/v1", tmp_path / "front"), tmp_path / "front.log", *flags)
            with httpx.Client(timeout=300) as client:
                http_ms(client, front.url, forced[0])  # warm up the front's connections
                report["remote_expert_overhead_ms"] = paired_overhead(
                    lambda p: http_ms(client, front.url, p), lambda p: http_ms(client, server.url, p), forced, args.repeats
                )

            if args.soak > 0:
                with RssSampler(server) as rss:
                    soak = asyncio.run(closed_loop(server.url, 64, args.soak, args.max_tokens, args.stream_share, seed=1))
                warm = [mb for t, mb in rss.samples if t >= min(10.0, args.soak / 6)]
                after_warmup, peak = warm[0], max(warm)
                soak.update(clients=64, rss_after_warmup_mb=round(after_warmup, 1), peak_rss_mb=round(peak, 1),
                            rss_growth_pct=round(100 * (peak - after_warmup) / after_warmup, 1),
                            rss_by_quarter_mb=[round(max(mb for t, mb in rss.samples if t <= q * args.soak / 4), 1) for q in (1, 2, 3, 4)])
                report["soak"] = soak
        finally:
            if front is not None:
                front.stop()
            server.stop()
    print_report(report, args.json)


def print_report(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print(f"mixture: {report['mixture']}, max_tokens {report['max_tokens']}, batch window {report['batch_window_ms']:g} ms, "
          f"{report['threads']} torch thread(s) per process")
    print(f"{'clients':>7} {'req/s':>8} {'tok/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'TTFT p50':>9} {'errors':>6} {'peak RSS MB':>11}")
    for lv in report["levels"]:
        print(f"{lv['clients']:>7} {lv['requests_per_s']:>8} {lv['tokens_per_s']:>8} {lv['p50_ms']:>8} {lv['p95_ms']:>8} "
              f"{lv['p99_ms']:>8} {lv['ttft_p50_ms']:>9} {lv['errors']:>6} {lv['peak_rss_mb']:>11}")
    s = report["sixteen"]
    print(f"16 requests: one by one {s['one_by_one_s']} s, all at once {s['all_at_once_s']} s, ratio {s['ratio']} (target <= 0.333)")
    s = report["sixteen_streamed"]
    print(f"16 streamed requests: one by one {s['one_by_one_s']} s, all at once {s['all_at_once_s']} s, ratio {s['ratio']}")
    o = report["routing_http_overhead_ms"]
    print(f"routing + HTTP overhead p50 of {o['pairs']} pairs: {o['p50']} ms (HTTP with model auto {o['slow_p50']} ms, "
          f"generation in-process {o['fast_p50']} ms; target <= 10)")
    r = report["remote_expert_overhead_ms"]
    print(f"remote expert overhead p50 of {r['pairs']} pairs: {r['p50']} ms (through the front {r['slow_p50']} ms, "
          f"endpoint directly {r['fast_p50']} ms; target <= 5)")
    if "soak" in report:
        k = report["soak"]
        print(f"soak: 64 clients for {k['seconds']} s: {k['requests']} requests, {k['errors']} errors, RSS {k['rss_after_warmup_mb']} MB "
              f"after warm-up, peak {k['peak_rss_mb']} MB (+{k['rss_growth_pct']}%; target <= 10%); peak by quarter {k['rss_by_quarter_mb']}")
        if k["error_kinds"]:
            print(f"soak errors: {k['error_kinds']}")


if __name__ == "__main__":
    main()
