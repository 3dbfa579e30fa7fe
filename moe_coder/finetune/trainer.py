"""``train_expert``: the fine-tuning loop, one pass from recipe to expert.

The same code runs on one CPU, one GPU, or many GPUs under ``accelerate launch`` (DDP, FSDP or
DeepSpeed ZeRO-3): every process builds the same plan of rows (see :mod:`.packing`), takes its
share of each step's rows, and the step's loss is the mean over all of the step's answer tokens
whatever the split. A run is checkpointed every ``checkpoint_every`` steps and at each epoch's end,
and resumes from the last checkpoint with the same data order, optimizer, scheduler and RNG state.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from moe_coder.atomic import write_text_atomic
from moe_coder.config import ExpertSpec
from moe_coder.finetune import checkpoints as ckpt
from moe_coder.finetune.provenance import (
    Provenance,
    decontaminated_output,
    run_decontamination,
    unchecked,
    verify,
)
from moe_coder.finetune.data import (
    DataStats,
    Example,
    encode_conversations,
    read_conversations,
    split_heldout,
)
from moe_coder.finetune.export import EXPERT_NAME, save_weights, write_expert_files
from moe_coder.finetune.modeling import (
    attention_implementation,
    has_accelerator,
    load_model,
    load_tokenizer,
    mixed_precision,
    trainable_parameters,
)
from moe_coder.finetune.packing import (
    Plan,
    collate,
    epoch_rows,
    make_plan,
    token_loss_sum,
)
from moe_coder.finetune.recipe import Recipe
from moe_coder.finetune.step import batch_layout, train_step

logger = logging.getLogger(__name__)

METRICS_NAME = "metrics.json"
CHECKPOINTS = "checkpoints"
DECONTAMINATION = "decontamination"


@dataclass
class StepLog:
    """What one optimizer step did (``step`` counts from 1; ``epoch`` from 0)."""

    step: int
    epoch: int
    loss: float
    learning_rate: float
    grad_norm: float | None
    tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


Callback = Callable[[StepLog], None]


@dataclass
class TrainResult:
    output_dir: Path
    expert: ExpertSpec
    metrics: dict[str, Any]


def _trajectory(recipe: Recipe) -> dict[str, Any]:
    """The recipe fields that decide the training trajectory; a resumed run must not change them."""
    data = recipe.to_dict()
    for key in ("checkpoint_every", "keep_checkpoints"):
        data["training"].pop(key)
    data.pop("evaluation")
    data["expert"] = {k: data["expert"][k] for k in ("model", "gguf_file", "prompt_format", "system_prompt")}
    data["data"].pop("decontaminate")
    return data


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested recipe as flat scalars, for TensorBoard's hyperparameter table."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


class ExpertTrainer:
    """Trains one expert from a recipe into ``output_dir``; see :func:`train_expert`."""

    def __init__(self, recipe: Recipe, output_dir: str | os.PathLike, *, resume: bool = False,
                 decontaminate: bool = False, allow_contaminated: bool = False,
                 callbacks: Sequence[Callback] = ()) -> None:
        from accelerate import Accelerator

        self.recipe = recipe
        self.output = Path(output_dir)
        self.resume = resume
        self.decontaminate = decontaminate or recipe.data.decontaminate
        self.allow_contaminated = allow_contaminated
        self.callbacks = list(callbacks)
        on_cpu = not has_accelerator()
        self.precision = mixed_precision(recipe.training.precision, on_cpu)
        self.accelerator = Accelerator(
            cpu=on_cpu, mixed_precision=self.precision,
            gradient_accumulation_steps=recipe.training.gradient_accumulation_steps,
            log_with="tensorboard", project_dir=str(self.output / "logs"),
        )
        if self.accelerator.gradient_accumulation_steps != recipe.training.gradient_accumulation_steps:
            raise ValueError(
                f"the accelerate config asks for gradient_accumulation_steps={self.accelerator.gradient_accumulation_steps}"
                f" but the recipe for {recipe.training.gradient_accumulation_steps}; set it in the recipe only"
            )
        self.attention = attention_implementation(recipe.training.attention, recipe.training.packing)
        self.checkpoints = self.output / CHECKPOINTS

    # ------------------------------------------------------------------------------- the run
    def train(self) -> TrainResult:
        from accelerate.utils import set_seed

        started = time.perf_counter()
        acc, t, spec = self.accelerator, self.recipe.training, self.recipe.expert
        resuming = self._check_output()
        provenance = self._gate_data(resuming)
        tokenizer = self.tokenizer = load_tokenizer(spec)
        self.layout = batch_layout(t, self.attention, tokenizer.pad_token_id)
        train_examples, eval_examples, stats = self._examples(provenance, tokenizer)

        rows_per_step = t.micro_batch_size * t.gradient_accumulation_steps * acc.num_processes
        plan = make_plan([len(e) for e in train_examples], t.seq_len, t.packing, t.epochs, t.seed,
                         rows_per_step, t.max_steps)
        set_seed(t.seed)
        model = load_model(spec, self.attention, t.gradient_checkpointing, self.recipe.lora)
        trainable, total = trainable_parameters(model)
        optimizer = self._optimizer(model)
        scheduler = self._scheduler(optimizer, plan.total_steps)
        self._configure_deepspeed()
        model, optimizer = acc.prepare(model, optimizer)
        acc.register_for_checkpointing(scheduler)
        self._adapter_only_checkpoints()
        logger.info(
            "%s: %d training / %d held-out examples, %d steps of %d rows x %d tokens, %d processes, "
            "%.1fM of %.1fM parameters trained, precision %s, %s attention",
            spec.name, len(train_examples), len(eval_examples), plan.total_steps, rows_per_step, t.seq_len,
            acc.num_processes, trainable / 1e6, total / 1e6, self.precision, self.attention,
        )

        state = self._start_state(plan, provenance, resuming)
        acc.init_trackers("train", config=_flat(self.recipe.to_dict()))
        if state.step == 0 and eval_examples:
            state.eval_loss_initial = self._eval_loss(model, eval_examples)
            acc.log({"eval/loss": state.eval_loss_initial}, step=0)

        progress = tqdm(total=plan.total_steps, initial=state.step, desc=f"train {spec.name}", unit="step",
                        disable=not acc.is_local_main_process)
        while state.step < plan.total_steps:
            log = self._step(model, optimizer, scheduler, plan, train_examples, state)
            progress.update(1)
            progress.set_postfix(loss=f"{log.loss:.4f}", tok_s=f"{log.tokens_per_s:,.0f}")
            acc.log({"train/loss": log.loss, "train/lr": log.learning_rate, "train/tokens_per_s": log.tokens_per_s,
                     **({"train/grad_norm": log.grad_norm} if log.grad_norm is not None else {})}, step=log.step)
            for callback in self.callbacks:
                callback(log)
            epoch_end = plan.epoch_end(state.step - 1) or state.step == plan.total_steps
            if epoch_end:
                self._end_epoch(model, log.epoch, eval_examples, state)
            if epoch_end or (t.checkpoint_every and state.step % t.checkpoint_every == 0):
                self._save_checkpoint(state)
        progress.close()

        save_dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        expert = save_weights(acc, model, tokenizer, self.recipe, self.output, save_dtype)
        metrics = self._metrics(state, plan, stats, len(train_examples), len(eval_examples), started)
        if acc.is_main_process:
            write_text_atomic(self.output / METRICS_NAME, json.dumps(metrics, indent=2) + "\n")
            write_expert_files(self.output, expert, {
                "recipe": self.recipe.to_dict(),
                "data": {**provenance.to_dict(), **stats.to_dict()},
                "processes": acc.num_processes, "precision": self.precision, "attention": self.attention,
                "trainable_parameters": trainable, "parameters": total,
                "versions": _versions(),
            }, metrics)
        acc.wait_for_everyone()
        acc.end_training()
        return TrainResult(self.output, expert, metrics)

    # ------------------------------------------------------------------------------- setup
    def _check_output(self) -> bool:
        """Refuse to overwrite a finished expert or silently restart a run; return whether to resume."""
        if (self.output / EXPERT_NAME).exists():
            raise ValueError(f"{self.output} already holds a trained expert ({EXPERT_NAME}); choose another --output")
        latest = ckpt.latest_checkpoint(self.checkpoints)
        if latest is not None and not self.resume:
            raise ValueError(f"{self.output} has checkpoints (latest: {latest.name}); pass --resume to continue "
                             "that run, or choose another --output")
        if self.resume and latest is None:
            logger.info("no checkpoint in %s: starting from the beginning", self.checkpoints)
        return latest is not None

    def _gate_data(self, resuming: bool) -> Provenance:
        data, acc = self.recipe.data, self.accelerator
        if self.allow_contaminated:
            return unchecked(data.train)
        if self.decontaminate:
            clean, report = decontaminated_output(self.output / DECONTAMINATION)
            reuse = resuming and clean.is_file() and report.is_file()
            if acc.is_main_process and not reuse:
                run_decontamination(data.train, data.benchmarks, self.output / DECONTAMINATION)
            acc.wait_for_everyone()
            return verify([str(clean)], [str(report)], data.benchmarks)
        return verify(data.train, data.decontamination_reports, data.benchmarks)

    def _examples(self, provenance: Provenance, tokenizer: Any) -> tuple[list[Example], list[Example], DataStats]:
        data, t, spec = self.recipe.data, self.recipe.training, self.recipe.expert
        stats = DataStats()
        conversations = read_conversations(provenance.train_files, data.max_examples, stats)
        if data.eval:
            train_conv, eval_conv = conversations, read_conversations(data.eval)
        else:
            train_conv, eval_conv = split_heldout(conversations, data.eval_fraction, t.seed)
        train = encode_conversations(train_conv, spec, tokenizer, t.seq_len, stats)
        held = encode_conversations(eval_conv, spec, tokenizer, t.seq_len)
        if not train:
            raise ValueError(f"no training examples left in {provenance.train_files} "
                             f"(read {stats.records} records, {stats.dropped_no_answer} had no answer within seq_len)")
        if stats.truncated:
            logger.warning("%d examples were longer than seq_len=%d and were cut", stats.truncated, t.seq_len)
        return train, held, stats

    def _optimizer(self, model: Any) -> torch.optim.Optimizer:
        t = self.recipe.training
        params = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        fused = {"fused": True} if self.accelerator.device.type == "cuda" else {}
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=t.learning_rate,
                                 betas=tuple(t.adam_betas), eps=1e-8, **fused)

    def _scheduler(self, optimizer: torch.optim.Optimizer, total_steps: int) -> Any:
        from transformers import get_scheduler

        t = self.recipe.training
        name = "constant_with_warmup" if t.lr_scheduler == "constant" else t.lr_scheduler
        return get_scheduler(name, optimizer, num_warmup_steps=math.ceil(t.warmup_ratio * total_steps),
                             num_training_steps=total_steps)

    def _configure_deepspeed(self) -> None:
        """DeepSpeed takes the micro-batch and gradient clipping from its JSON: fill its "auto" ones from the recipe."""
        plugin = self.accelerator.state.deepspeed_plugin
        if plugin is None:
            return
        t = self.recipe.training
        for key, value in (("train_micro_batch_size_per_gpu", t.micro_batch_size), ("gradient_clipping", t.max_grad_norm)):
            if plugin.deepspeed_config.get(key, "auto") == "auto":
                plugin.deepspeed_config[key] = value

    def _adapter_only_checkpoints(self) -> None:
        """Checkpoint a LoRA run's adapter, not the frozen base (FSDP/DeepSpeed save their own shards)."""
        from accelerate.utils import DistributedType

        acc = self.accelerator
        if self.recipe.lora is None or acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
            return
        from peft import get_peft_model_state_dict, set_peft_model_state_dict
        from safetensors.torch import load_file, save_file

        def save(models: list, weights: list, output_dir: str) -> None:
            (model,) = models
            if acc.is_main_process:
                save_file(get_peft_model_state_dict(acc.unwrap_model(model)), os.path.join(output_dir, ckpt.ADAPTER_STATE))
            weights.clear()

        def load(models: list, input_dir: str) -> None:
            (model,) = models
            set_peft_model_state_dict(acc.unwrap_model(model), load_file(os.path.join(input_dir, ckpt.ADAPTER_STATE)))
            models.clear()

        acc.register_save_state_pre_hook(save)
        acc.register_load_state_pre_hook(load)

    def _start_state(self, plan: Plan, provenance: Provenance, resuming: bool) -> ckpt.TrainingState:
        fresh = ckpt.TrainingState(rows_per_step=plan.rows_per_step, data_sha256=provenance.sha256,
                                   recipe=_trajectory(self.recipe))
        if not resuming:
            return fresh
        latest = ckpt.latest_checkpoint(self.checkpoints)
        assert latest is not None
        state = ckpt.load_training_state(latest)
        problems = []
        if state.recipe != fresh.recipe:
            before, now = _flat(state.recipe), _flat(fresh.recipe)
            changed = sorted(k for k in set(before) | set(now) if before.get(k, "absent") != now.get(k, "absent"))
            problems.append(f"the recipe changed ({', '.join(changed)})")
        if state.data_sha256 != fresh.data_sha256:
            problems.append("the training data changed")
        if state.rows_per_step != fresh.rows_per_step:
            problems.append(f"a step now covers {fresh.rows_per_step} rows instead of {state.rows_per_step} "
                            "(micro_batch_size x gradient_accumulation_steps x processes must stay the same)")
        if problems:
            raise ValueError(f"cannot resume from {latest}: " + "; ".join(problems))
        self.accelerator.load_state(str(latest))
        logger.info("resumed from %s (step %d of %d)", latest, state.step, plan.total_steps)
        return state

    # ------------------------------------------------------------------------------- a step
    def _step(self, model: Any, optimizer: Any, scheduler: Any, plan: Plan, examples: list[Example],
              state: ckpt.TrainingState) -> StepLog:
        """One optimizer step over the plan's rows for ``state.step``; updates ``state``."""
        epoch, _ = plan.locate(state.step)
        result = train_step(self.accelerator, model, optimizer, scheduler, examples, plan.step_rows(state.step),
                            self.recipe.training, self.layout)
        state.step += 1
        state.tokens += result.tokens
        state.positions += result.positions
        state.answer_tokens += result.answer_tokens
        state.train_seconds += result.seconds
        state.epoch_loss_sum += result.loss_sum
        state.epoch_answer_tokens += result.answer_tokens
        log = StepLog(step=state.step, epoch=epoch, loss=result.loss_sum / result.answer_tokens,
                      learning_rate=result.learning_rate, grad_norm=result.grad_norm, tokens=result.tokens,
                      seconds=result.seconds)
        state.history.append({"step": log.step, "epoch": epoch, "loss": round(log.loss, 6),
                              "lr": log.learning_rate, "tokens": log.tokens})
        return log

    # ------------------------------------------------------------------------------- epochs
    def _eval_loss(self, model: Any, examples: list[Example]) -> float:
        """Mean answer-token loss over held-out examples (each process takes its share of rows)."""
        acc, t = self.accelerator, self.recipe.training
        rows = epoch_rows([len(e) for e in examples], t.seq_len, t.packing, t.seed, 0)
        per_step = t.micro_batch_size * acc.num_processes
        totals = torch.zeros(2, device=acc.device, dtype=torch.float64)
        model.eval()
        with torch.no_grad():
            for start in range(0, len(rows), per_step):
                chunk = rows[start : start + per_step]
                mine = chunk[acc.process_index * t.micro_batch_size : (acc.process_index + 1) * t.micro_batch_size]
                batch = collate(examples, mine or chunk[:1], filler=not mine, **self.layout)
                logits = model(**batch.model_inputs(acc.device), use_cache=False).logits
                totals[0] += token_loss_sum(logits, batch.labels.to(acc.device)).double()
                totals[1] += batch.label_tokens
        model.train()
        loss_sum, count = acc.reduce(totals, reduction="sum").tolist()
        return loss_sum / count

    def _end_epoch(self, model: Any, epoch: int, eval_examples: list[Example], state: ckpt.TrainingState) -> None:
        acc = self.accelerator
        state.train_loss.append(state.epoch_loss_sum / state.epoch_answer_tokens)
        state.epoch_loss_sum, state.epoch_answer_tokens = 0.0, 0
        scalars = {"epoch/train_loss": state.train_loss[-1]}
        if eval_examples:
            state.eval_loss.append(self._eval_loss(model, eval_examples))
            scalars["epoch/eval_loss"] = state.eval_loss[-1]
        if self.recipe.evaluation.pass_at_1:
            scores = self._pass_at_1(model, epoch)
            state.pass_at_1.append({"epoch": epoch + 1, **scores})
            scalars.update({f"epoch/pass@1/{k}": v for k, v in scores.items()})
        acc.log(scalars, step=state.step)
        logger.info("epoch %d: %s", epoch + 1, ", ".join(f"{k.split('/', 1)[1]} {v:.4f}" for k, v in scalars.items()))

    def _pass_at_1(self, model: Any, epoch: int) -> dict[str, float]:
        """Save this epoch's weights as an expert, score it with the evaluation harness, drop the weights."""
        from moe_coder.finetune.evaluate import pass_at_1

        acc, ev = self.accelerator, self.recipe.evaluation
        snapshot = self.output / f".epoch-{epoch + 1}"
        lora = self.recipe.lora
        unmerged = replace(self.recipe, lora=replace(lora, merge=False) if lora is not None else None)
        spec = save_weights(acc, model, self.tokenizer, unmerged, snapshot, torch.float32)
        scores: dict[str, float] = {}
        if acc.is_main_process:
            scores = pass_at_1(spec, ev.pass_at_1, ev.limit, ev.max_new_tokens,
                               self.output / "evaluation" / f"epoch-{epoch + 1}")
            shutil.rmtree(snapshot, ignore_errors=True)
        acc.wait_for_everyone()
        return scores

    def _save_checkpoint(self, state: ckpt.TrainingState) -> None:
        acc = self.accelerator
        staged = ckpt.staging_dir(self.checkpoints, state.step)
        acc.save_state(str(staged))
        acc.wait_for_everyone()
        if acc.is_main_process:
            final = ckpt.publish(self.checkpoints, state.step, state, self.recipe.training.keep_checkpoints)
            logger.info("checkpoint %s", final)
        acc.wait_for_everyone()

    def _metrics(self, state: ckpt.TrainingState, plan: Plan, stats: DataStats, n_train: int, n_eval: int,
                 started: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "steps": state.step,
            "epochs": len(state.train_loss),
            "train_loss": state.train_loss,
            "eval_loss": state.eval_loss,
            "eval_loss_initial": state.eval_loss_initial,
            "tokens_per_s": state.tokens / state.train_seconds if state.train_seconds else 0.0,
            "non_padding_fraction": state.tokens / state.positions if state.positions else 0.0,
            "train_tokens": state.tokens,
            "answer_tokens": state.answer_tokens,
            "train_time_s": round(state.train_seconds, 3),
            "wall_time_s": round(time.perf_counter() - started, 3),
            "examples": {"train": n_train, "eval": n_eval, "truncated": stats.truncated,
                         "dropped_no_answer": stats.dropped_no_answer},
            "rows_per_step": plan.rows_per_step,
            "processes": self.accelerator.num_processes,
            "packing": self.recipe.training.packing,
            "precision": self.precision,
            "attention": self.attention,
            "history": state.history,
        }
        if state.pass_at_1:
            out["pass_at_1"] = state.pass_at_1
        return out


def _versions() -> dict[str, str]:
    import accelerate
    import transformers

    import moe_coder

    return {"moe_coder": getattr(moe_coder, "__version__", "?"), "torch": torch.__version__,
            "transformers": transformers.__version__, "accelerate": accelerate.__version__}


def train_expert(recipe: Recipe, output_dir: str | os.PathLike, *, resume: bool = False, decontaminate: bool = False,
                 allow_contaminated: bool = False, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Fine-tune ``recipe``'s base into an expert in ``output_dir``.

    Args:
        recipe: a :class:`~moe_coder.finetune.recipe.Recipe` (see :func:`~moe_coder.finetune.recipe.load_recipe`).
        output_dir: receives the expert (Hugging Face files, ``expert.json``, ``training.json``,
            ``metrics.json``, the model card ``README.md``), ``checkpoints/``, TensorBoard ``logs/`` and, when it runs here,
            ``decontamination/``.
        resume: continue from the last checkpoint in ``output_dir`` (starts afresh when there is none).
        decontaminate: decontaminate the training data against ``recipe.data.benchmarks`` first.
        allow_contaminated: train on data no decontamination report vouches for.
        callbacks: called with a :class:`StepLog` after every optimizer step.
    """
    trainer = ExpertTrainer(recipe, output_dir, resume=resume, decontaminate=decontaminate,
                            allow_contaminated=allow_contaminated, callbacks=callbacks)
    return trainer.train()
