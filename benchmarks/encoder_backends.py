"""Prompt-encoder backends: the router's traced encoder (float32, bfloat16) against ONNX Runtime
(float32, and int8 dynamic quantisation), on the same token rows, one prompt at a time.

Each backend encodes the first ``--limit`` test prompts exactly as the router prepares them
(:func:`moe_coder.routing.encoder.token_rows`: head and tail within the router's token budget,
each prompt alone, padded to its own length bucket), on one thread. Printed per backend: time per
prompt, the ratio to the traced float32 encoder measured in the same run, and the cosine of each
embedding to the traced float32 one. ``--accuracy`` also routes the whole test split with each
backend's embeddings in place of the router's own (the shipped heads, fitted on float32
embeddings, unchanged) and prints language and task accuracy and how many routes changed.

ONNX Runtime is not a dependency of moe-coder: sentence-transformers' ``backend="onnx"`` needs
``optimum-onnx``, which pins ``transformers<4.58``. This script exports the encoder with
``torch.onnx.export`` itself when ``onnxruntime`` and ``onnx`` are importable, and skips those rows
otherwise (``pip install onnxruntime onnx``).

    python benchmarks/encoder_backends.py                  # 300 prompts, two timing rounds
    python benchmarks/encoder_backends.py --accuracy       # also the test split through each backend (minutes)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moe_coder.hardware import native_bf16  # noqa: E402
from moe_coder.routing import encoder as E  # noqa: E402
from moe_coder.routing.dataset import load_labelled  # noqa: E402
from moe_coder.routing.text import split_conversation  # noqa: E402

TEST = ROOT / "router_training" / "data" / "test.jsonl.gz"
Backend = Callable[[list[tuple[np.ndarray, np.ndarray]]], np.ndarray]


def traced_backend(precision: str) -> Backend:
    import torch

    forward = E.traced_encoder(E.BUILTIN_ENCODER, precision)

    def run(rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        with torch.inference_mode():
            out = forward([torch.from_numpy(a) for a, _ in rows], [torch.from_numpy(m) for _, m in rows])
        return torch.cat(out).numpy()

    return run


def onnx_backends(folder: Path, example: tuple[np.ndarray, np.ndarray], int8: bool) -> dict[str, Backend]:
    """ONNX Runtime sessions of the float32 encoder (and its int8 dynamic quantisation), one thread each."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import onnxruntime as ort
    except ImportError as exc:
        print(f"  ONNX Runtime rows skipped: {exc.name} is not installed (pip install onnxruntime onnx)")
        return {}
    import torch

    module = E.embedding_module(E.load_encoder(E.BUILTIN_ENCODER, "float32"))
    path = folder / "encoder.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(torch.from_numpy(x) for x in example), str(path),
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {1: "tokens"}, "attention_mask": {1: "tokens"}},
                          opset_version=17, dynamo=False)
    paths = {"onnxruntime float32": path}
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        paths["onnxruntime int8"] = folder / "encoder-int8.onnx"
        quantize_dynamic(str(path), str(paths["onnxruntime int8"]), weight_type=QuantType.QInt8)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1

    def backend(model_path: Path) -> Backend:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        return lambda rows: np.concatenate(
            [session.run(None, {"input_ids": a, "attention_mask": m})[0] for a, m in rows]).astype(np.float32)

    return {name: backend(p) for name, p in paths.items()}


def numpy_rows(texts: list[str], tokenizer, max_tokens: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The router's token rows (:func:`moe_coder.routing.encoder.token_rows`) as numpy arrays."""
    return [(a.numpy(), m.numpy()) for a, m in E.token_rows(texts, tokenizer, max_tokens)]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def route_accuracy(coder, test, tokenizer, backends: dict[str, Backend]) -> None:
    """The test split routed by the built-in mixture, with each backend's embeddings in place of its encoder's."""
    router = coder.router
    shipped = [(d.language, d.task) for d in coder.route_batch(test.prompts)]

    def accuracy(routes: list[tuple[str, str]]) -> tuple[float, float]:
        return (float(np.mean([r[0] == y[0] for r, y in zip(routes, test.y)])),
                float(np.mean([r[1] == y[1] for r, y in zip(routes, test.y)])))

    print(f"\ntest split ({len(test)} prompts), shipped heads:")
    print(f"  {'router as shipped':26s} language {accuracy(shipped)[0]:.4f}  task {accuracy(shipped)[1]:.4f}")
    for name, run in backends.items():
        def embed(texts: list[str], run: Backend = run) -> np.ndarray:
            return run(numpy_rows(texts, tokenizer, router.max_tokens)) * router.embedding_weight

        router._embed = embed  # this instance only: the cascade, the heads and the cues are the shipped ones
        try:
            routes = [(d.language, d.task) for d in coder.route_batch(test.prompts)]
        finally:
            del router._embed
        language, task = accuracy(routes)
        changed = [sum(r[k] != s[k] for r, s in zip(routes, shipped)) for k in (0, 1)]
        print(f"  {name:26s} language {language:.4f}  task {task:.4f}  "
              f"(routes changed: language {changed[0]}, task {changed[1]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=300, help="test prompts timed (default 300)")
    ap.add_argument("--rounds", type=int, default=2, help="timing rounds, backends alternating (default 2)")
    ap.add_argument("--no-int8", action="store_true", help="leave out ONNX Runtime's int8 dynamic quantisation")
    ap.add_argument("--accuracy", action="store_true", help="also route the test split through each backend")
    args = ap.parse_args()

    import torch

    from moe_coder import MoECoder

    torch.set_num_threads(1)
    test = load_labelled(TEST)
    texts = [split_conversation(p)[0] for p in test.prompts[: args.limit]]
    coder = MoECoder.from_pretrained("builtin")
    tokenizer = E.load_encoder(coder.router.encoder, "float32").tokenizer
    rows = numpy_rows(texts, tokenizer, coder.router.max_tokens)
    print(f"{len(rows)} test prompts, {np.mean([m.sum() for _, m in rows]):.1f} tokens on average, one at a time, "
          f"one thread; CPU computes bfloat16 natively: {native_bf16()}")

    backends: dict[str, Backend] = {"traced float32": traced_backend("float32"), "traced bfloat16": traced_backend("bfloat16")}
    with tempfile.TemporaryDirectory() as tmp:
        backends.update(onnx_backends(Path(tmp), rows[0], int8=not args.no_int8))
        outputs = {name: run(rows) for name, run in backends.items()}  # warm-up, and the embeddings compared
        times: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(args.rounds):
            for name, run in backends.items():
                start = time.perf_counter()
                run(rows)
                times[name].append((time.perf_counter() - start) * 1000 / len(rows))
        base = min(times["traced float32"])
        reference = outputs["traced float32"]
        print(f"\n  {'backend':26s} {'ms/prompt (best)':>17s} {'speed-up vs traced f32':>23s} {'cosine min':>11s} {'median':>8s}")
        for name in backends:
            c = cosine(outputs[name], reference)
            print(f"  {name:26s} {min(times[name]):17.2f} {base / min(times[name]):23.2f} {c.min():11.5f} {np.median(c):8.5f}")
        if args.accuracy:
            route_accuracy(coder, test, tokenizer, {name: run for name, run in backends.items() if not name.startswith("traced")})


if __name__ == "__main__":
    main()
