"""Fine-tuning benchmark: packed versus padded batches, and (on a GPU) throughput and MFU at scale.

CPU (default): the same instruction data (GPTeacher code instructions from ``../shared/data``,
decontaminated first) and the same tiny random Llama, trained for one epoch twice by
``train_expert`` — packed rows of ``--seq-len`` tokens, then one example per row padded to the
longest in its micro-batch, with as many examples per micro-batch as a packed row holds on
average. Reports useful (non-padding) tokens/s, the non-padding fraction, and the ratios.
Targets: >= 95% non-padding with packing, >= 1.5x useful tokens/s over padded.

    python benchmarks/finetune.py                     # 2-4 minutes on 2 cores

GPU: a 1.1B Llama shape (TinyLlama's: 22 layers, hidden 2048, GQA 32/4 heads, vocab 32000) with
random weights and synthetic packed data, trained by the trainer's own step (bf16 autocast over
float32 master weights, fused AdamW) with each attention kernel that is available. Reports
tokens/s and MFU = 6 x parameters x tokens/s / peak bf16 FLOP/s (the convention of the reference
loop: 38.4k tokens/s, 25.6% MFU on an H100). Needs no network.

    python benchmarks/finetune.py --gpu-shape 1.1b --seq-len 4096    # under 3 minutes on an H100
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GPTEACHER = REPO.parent / "shared" / "data" / "instruct" / "gpteacher-codegen-instruct.json"

SHAPES = {
    "1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, vocab_size=32000),
}
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12))


# ----------------------------------------------------------------------------------------- CPU
def _instruction_data(directory: Path, n: int, seed: int) -> Path:
    """``n`` GPTeacher records as JSONL, decontaminated against HumanEval and MBPP."""
    from moe_coder.decontamination import decontaminate

    if not GPTEACHER.is_file():
        sys.exit(f"benchmark data not found: {GPTEACHER} (the shared data folder beside the repository)")
    records = json.loads(GPTEACHER.read_text(encoding="utf-8"))
    random.Random(seed).shuffle(records)
    raw = directory / "raw.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in records[:n]), encoding="utf-8")
    decontaminate([raw], ["humaneval", "mbpp"], directory / "clean.jsonl", directory / "report.json")
    return directory / "clean.jsonl"


class _Run:
    """One way of batching (packed or padded): its model, optimizer and micro-batches, timed per step."""

    def __init__(self, name: str, spec, training, examples: list, accelerator) -> None:
        import torch
        from transformers import get_scheduler

        from moe_coder.finetune.modeling import attention_implementation, load_model
        from moe_coder.finetune.packing import collate, epoch_rows
        from moe_coder.finetune.step import batch_layout

        self.name, self.training, self.examples, self.accelerator = name, training, examples, accelerator
        self.attention = attention_implementation(training.attention, training.packing)
        torch.manual_seed(0)
        model = load_model(spec, self.attention, gradient_checkpointing=False, lora=None)
        optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate, betas=(0.9, 0.95))
        self.scheduler = get_scheduler("constant", optimizer)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        rows = epoch_rows([len(e) for e in examples], training.seq_len, training.packing, training.seed, 0)
        per_step = training.micro_batch_size * training.gradient_accumulation_steps
        self.steps = [rows[i : i + per_step] for i in range(0, len(rows), per_step)]
        self.layout = batch_layout(training, self.attention, pad_id=0)
        batches = [collate(examples, step[i : i + training.micro_batch_size], **self.layout)
                   for step in self.steps for i in range(0, len(step), training.micro_batch_size)]
        self.non_padding = sum(b.tokens for b in batches) / sum(b.positions for b in batches)
        self.per_wall_s: list[float] = []  # useful tokens per second, one entry per measured step
        self.per_cpu_s: list[float] = []

    def step(self, index: int, measure: bool) -> None:
        from moe_coder.finetune.step import train_step

        wall, cpu = time.perf_counter(), time.process_time()
        result = train_step(self.accelerator, self.model, self.optimizer, self.scheduler, self.examples,
                            self.steps[index % len(self.steps)], self.training, self.layout)
        if measure:
            self.per_wall_s.append(result.tokens / (time.perf_counter() - wall))
            self.per_cpu_s.append(result.tokens / (time.process_time() - cpu))

    def summary(self) -> dict:
        return {"attention": self.attention, "micro_batch_rows": self.training.micro_batch_size,
                "gradient_accumulation_steps": self.training.gradient_accumulation_steps,
                "non_padding_fraction": round(self.non_padding, 4),
                "useful_tokens_per_s": round(statistics.median(self.per_wall_s), 1),
                "useful_tokens_per_cpu_s": round(statistics.median(self.per_cpu_s), 1)}


def _paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over interleaved step pairs of a's throughput over b's (robust to a busy machine)."""
    return round(statistics.median(x / y for x, y in zip(a, b)), 2)


def cpu_benchmark(args: argparse.Namespace) -> dict:
    """Packed and padded steps of the trainer, interleaved so that a busy machine slows both alike."""
    import torch
    from accelerate import Accelerator

    from moe_coder.config import ExpertSpec
    from moe_coder.finetune.data import encode_conversations, read_conversations
    from moe_coder.finetune.modeling import load_tokenizer
    from moe_coder.finetune.packing import pack_rows
    from moe_coder.finetune.recipe import TrainingConfig
    from moe_coder.testing import build_tiny_llama

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = _instruction_data(tmp, args.examples, args.seed)
        spec = ExpertSpec(name="bench", model=str(build_tiny_llama(tmp / "tiny", hidden_size=args.hidden, layers=args.layers,
                                                                     max_positions=args.seq_len)),
                          prompt_format="phind")
        examples = encode_conversations(read_conversations([data]), spec, load_tokenizer(spec), args.seq_len)
        per_row = len(examples) / len(pack_rows([len(e) for e in examples], args.seq_len))
        accelerator = Accelerator(cpu=True)
        common = dict(seq_len=args.seq_len, learning_rate=1e-3, precision="fp32", seed=args.seed,
                      gradient_accumulation_steps=args.accumulation)
        runs = [
            _Run("packed", spec, TrainingConfig(packing=True, micro_batch_size=1, **common), examples, accelerator),
            _Run("padded", spec, TrainingConfig(packing=False, micro_batch_size=max(1, round(per_row)), **common),
                 examples, accelerator),
        ]
    for index in range(args.warmup + args.steps):
        for run in runs:
            run.step(index, measure=index >= args.warmup)
    packed, padded = (run.summary() for run in runs)
    wall_ratio = _paired_ratio(runs[0].per_wall_s, runs[1].per_wall_s)
    cpu_ratio = _paired_ratio(runs[0].per_cpu_s, runs[1].per_cpu_s)
    return {
        "device": "cpu",
        "model": f"tiny random Llama, hidden {args.hidden}, {args.layers} layers (moe_coder.testing.build_tiny_llama)",
        "examples": len(examples),
        "seq_len": args.seq_len,
        "examples_per_packed_row": round(per_row, 2),
        "threads": args.threads,
        "measured_steps_each": args.steps,
        "statistic": "median over interleaved steps (packed, padded, packed, ...)",
        "packed": packed,
        "padded": padded,
        "useful_tokens_per_s_ratio": wall_ratio,
        "useful_tokens_per_cpu_s_ratio": cpu_ratio,
        "targets": {"packed_non_padding_fraction": 0.95, "useful_tokens_per_s_ratio": 1.5},
    }


# ----------------------------------------------------------------------------------------- GPU
def _synthetic_examples(n: int, seq_len: int, vocab: int, seed: int) -> list:
    """Instruction-like examples: lengths log-normal around 550 tokens, the first 30% of each a prompt."""
    import numpy as np

    from moe_coder.finetune.data import Example

    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(math.log(550), 0.7, size=n), 32, seq_len).astype(int)
    return [Example(rng.integers(3, vocab, size=length, dtype=np.int32), max(1, int(0.3 * length)))
            for length in lengths]


def _peak_flops(device_name: str, override: float | None) -> float:
    if override:
        return override * 1e12
    for marker, flops in PEAK_BF16:
        if marker in device_name:
            return flops
    sys.exit(f"unknown peak bf16 FLOP/s for {device_name!r}; pass --peak-tflops")


def _run_gpu(attention: str, args: argparse.Namespace, examples: list, micro_batch: int) -> dict:
    import torch
    from accelerate import Accelerator
    from transformers import LlamaConfig, LlamaForCausalLM, get_scheduler

    from moe_coder.finetune.attention import register
    from moe_coder.finetune.packing import epoch_rows
    from moe_coder.finetune.recipe import TrainingConfig
    from moe_coder.finetune.step import batch_layout, train_step

    register()
    accelerator = Accelerator(mixed_precision="bf16")
    config = LlamaConfig(**SHAPES[args.gpu_shape], max_position_embeddings=args.seq_len, tie_word_embeddings=False,
                         attn_implementation=attention, use_cache=False)
    torch.manual_seed(args.seed)
    with torch.device(accelerator.device):
        model = LlamaForCausalLM(config)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    parameters = sum(p.numel() for p in model.parameters())
    training = TrainingConfig(seq_len=args.seq_len, micro_batch_size=micro_batch, learning_rate=1e-5,
                              precision="bf16", attention=attention)
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate, betas=(0.9, 0.95), fused=True)
    scheduler = get_scheduler("constant", optimizer)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    rows = epoch_rows([len(e) for e in examples], args.seq_len, True, args.seed, 0)
    layout = batch_layout(training, attention, pad_id=0)
    tokens = positions = 0
    seconds = 0.0
    for step in range(args.warmup + args.steps):
        step_rows = rows[step * micro_batch : (step + 1) * micro_batch]
        result = train_step(accelerator, model, optimizer, scheduler, examples, step_rows, training, layout)
        if step >= args.warmup:
            tokens, positions, seconds = tokens + result.tokens, positions + result.positions, seconds + result.seconds
    tokens_per_s = tokens / seconds
    peak = _peak_flops(torch.cuda.get_device_name(), args.peak_tflops)
    out = {
        "attention": attention,
        "micro_batch_rows": micro_batch,
        "parameters": parameters,
        "tokens_per_s": round(tokens_per_s),
        "mfu": round(6 * parameters * tokens_per_s / peak, 4),
        "non_padding_fraction": round(tokens / positions, 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
        "last_loss": round(result.loss_sum / result.answer_tokens, 4),
    }
    del model, optimizer, scheduler, accelerator
    return out


def gpu_benchmark(args: argparse.Namespace) -> dict:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        sys.exit("--gpu-shape needs a CUDA GPU")
    attentions = args.attention or ((["flash_attention_2"] if importlib.util.find_spec("flash_attn") else [])
                                    + ["packed_sdpa", "flex_attention", "sdpa"])
    examples = _synthetic_examples(
        (args.warmup + args.steps) * args.micro_batch * args.seq_len // 400, args.seq_len,
        SHAPES[args.gpu_shape]["vocab_size"], args.seed)
    runs = []
    for attention in attentions:
        micro = args.micro_batch
        while True:
            began = time.perf_counter()
            try:
                run = _run_gpu(attention, args, examples, micro)
                run["wall_s"] = round(time.perf_counter() - began, 1)
                runs.append(run)
                break
            except torch.cuda.OutOfMemoryError:
                runs.append({"attention": attention, "micro_batch_rows": micro, "error": "out of memory"})
                micro //= 2
            except Exception as exc:  # report and go on with the next kernel: one broken kernel must not hide the others
                runs.append({"attention": attention, "micro_batch_rows": micro, "error": f"{type(exc).__name__}: {exc}"[:300]})
                micro = 0
            finally:
                gc.collect()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            if micro < 1:
                break
        print(json.dumps(runs[-1]), flush=True)
    return {"device": torch.cuda.get_device_name(), "shape": args.gpu_shape, "seq_len": args.seq_len,
            "gradient_checkpointing": args.gradient_checkpointing, "torch": torch.__version__,
            "reference": {"tokens_per_s": 38400, "mfu": 0.256, "what": "plain bf16 + SDPA loop, same shape, H100"},
            "target_mfu": 0.35, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq-len", type=int, default=None, help="row length (default 2048 on CPU, 4096 on GPU)")
    parser.add_argument("--examples", type=int, default=400, help="CPU: instruction records to train on")
    parser.add_argument("--hidden", type=int, default=256, help="CPU: the tiny Llama's hidden size")
    parser.add_argument("--layers", type=int, default=4, help="CPU: the tiny Llama's layers")
    parser.add_argument("--accumulation", type=int, default=4, help="CPU: micro-batches per optimizer step")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU: torch threads (default 1: on a busy machine threads that wait for each other "
                             "make timings erratic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu-shape", choices=sorted(SHAPES), help="run the GPU benchmark with this model shape")
    parser.add_argument("--attention", action="append",
                        choices=["flash_attention_2", "packed_sdpa", "flex_attention", "sdpa", "eager"],
                        help="GPU: attention kernel to measure (repeatable; default: every available one)")
    parser.add_argument("--micro-batch", type=int, default=4, help="GPU: rows per step (halved on out-of-memory)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps (default: 12 of each on CPU, 10 on GPU)")
    parser.add_argument("--warmup", type=int, default=3, help="steps before measuring (kernel compilation)")
    parser.add_argument("--gradient-checkpointing", action="store_true", help="GPU: recompute activations")
    parser.add_argument("--peak-tflops", type=float, help="GPU: peak dense bf16 TFLOP/s (default: known by name)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.gpu_shape:
        args.seq_len, args.steps = args.seq_len or 4096, args.steps or 10
        result = gpu_benchmark(args)
    else:
        args.seq_len, args.steps = args.seq_len or 2048, args.steps or 12
        result = cpu_benchmark(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
