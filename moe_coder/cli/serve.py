"""``moe-coder serve``: an OpenAI-compatible HTTP server in front of a mixture."""
from __future__ import annotations

import argparse
import os

from moe_coder.cli._common import add_mixture_argument, load_mixture

API_KEY_ENV = "MOE_CODER_API_KEY"


def register(subparsers: argparse._SubParsersAction) -> None:
    from moe_coder.serving.defaults import DEFAULT_BATCH_WINDOW_MS, DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES

    p = subparsers.add_parser("serve", help="serve the mixture over the OpenAI HTTP API (/v1/chat/completions, ...)")
    add_mixture_argument(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' on /v1/* (default: ${API_KEY_ENV}, else none)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help=f"most requests generated as one batch (default: {DEFAULT_MAX_BATCH})")
    p.add_argument(
        "--batch-window-ms", type=float, default=DEFAULT_BATCH_WINDOW_MS,
        help=f"how long a request waits for others to batch with (default: {DEFAULT_BATCH_WINDOW_MS:g})",
    )
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger request bodies get a 413 (default: 1 MiB)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moe_coder.serving.app import serve

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, found {args.port}")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be >= 1, found {args.max_batch}")
    if args.batch_window_ms < 0:
        raise ValueError(f"--batch-window-ms must be >= 0, found {args.batch_window_ms:g}")
    serve(
        load_mixture(args), args.host, args.port, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        max_batch=args.max_batch, batch_window_ms=args.batch_window_ms, max_body_bytes=args.max_body_bytes,
    )
    return 0
