"""De-quantise a GGUF file once, then load it as plain safetensors.

transformers reads a GGUF file by de-quantising every tensor (15 s for the built-in 135M expert
on a 2-core CPU). :func:`converted_gguf` does that once per GGUF file and keeps the result, in
Hugging Face format (``config.json``, ``model.safetensors`` in float32, the tokenizer), in the
user cache directory under the file's SHA-256; later loads read the safetensors directly.

The cache directory is ``$MOE_CODER_CACHE`` when set, else ``$XDG_CACHE_HOME/moe-coder``, else
``~/.cache/moe-coder``. An entry is built in a staging folder and renamed into place, so a killed
build leaves no entry; an entry whose files no longer match its manifest (a truncated or deleted
file, unreadable JSON or safetensors header) is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from moe_coder.atomic import write_text_atomic

logger = logging.getLogger(__name__)

CACHE_ENV = "MOE_CODER_CACHE"
#: Bumped when the layout of an entry changes, so old entries are never misread.
LAYOUT = "gguf-v1"
MANIFEST = "moe_coder_cache.json"


def cache_root() -> Path:
    """The moe-coder cache directory (``$MOE_CODER_CACHE``, ``$XDG_CACHE_HOME/moe-coder`` or ``~/.cache/moe-coder``)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(os.path.expanduser(override))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(os.path.expanduser(xdg)) if xdg else Path.home() / ".cache"
    return base / "moe-coder"


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def entry_is_complete(entry: Path) -> bool:
    """Whether ``entry`` holds every file its manifest lists, at its recorded size and readable."""
    from safetensors import safe_open

    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
        for name, size in manifest["files"].items():
            path = entry / name
            if path.stat().st_size != size:
                return False
            if name.endswith(".json"):
                json.loads(path.read_text(encoding="utf-8"))
            elif name.endswith(".safetensors"):
                with safe_open(path, framework="pt") as fh:
                    fh.keys()
    except Exception:  # any unreadable piece means the entry cannot be trusted
        return False
    return True


def _build(gguf_path: Path, staging: Path, digest: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as exc:  # the GGUF reader fails in many ways (struct, KeyError, ValueError) on a bad file
        raise ValueError(f"{gguf_path}: not a readable GGUF model ({type(exc).__name__}: {exc})") from None
    model.hf_quantizer = None  # de-quantised: from here on a plain float32 model
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    files = {p.name: p.stat().st_size for p in sorted(staging.iterdir()) if p.is_file()}
    write_text_atomic(staging / MANIFEST, json.dumps(
        {"gguf_file": name, "sha256": digest, "layout": LAYOUT, "files": files}, indent=2) + "\n")


def converted_gguf(gguf_path: str | os.PathLike) -> Path:
    """The Hugging Face folder holding ``gguf_path`` de-quantised (built on first use, then reused).

    Raises ``ValueError`` naming the file when transformers cannot read it as a GGUF model.
    """
    gguf_path = Path(gguf_path)
    digest = file_sha256(gguf_path)
    root = cache_root() / LAYOUT
    entry = root / digest
    if entry_is_complete(entry):
        logger.info("GGUF %s: de-quantised weights from the cache %s", gguf_path.name, entry)
        return entry
    if entry.exists():
        logger.warning("GGUF cache entry %s is incomplete or unreadable; rebuilding it", entry)
    logger.info("GGUF %s: de-quantising into the cache %s (once per file)", gguf_path.name, entry)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{digest}."))
    try:
        _build(gguf_path, staging, digest)
        if not entry_is_complete(entry):  # else another process published it while this one built
            shutil.rmtree(entry, ignore_errors=True)
            try:
                os.replace(staging, entry)
            except OSError:  # another process published it between the rmtree and the rename
                if not entry_is_complete(entry):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return entry
