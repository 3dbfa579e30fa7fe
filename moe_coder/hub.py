"""Publish a mixture or a trained expert on the Hugging Face hub.

A mixture folder (``mixture.json`` plus router artifacts) or a trained expert's folder
(``expert.json``, weights, model card) is uploaded as it is with ``huggingface_hub``'s
``create_repo`` and ``upload_folder``. Before anything is sent, every weight path in the folder's
config must resolve anywhere: a hub id, ``pkg://``, or a path inside the folder. A path that only
exists on this machine would publish a mixture nobody else can load, so it is an error naming the
expert and the path.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from moe_coder.config import CONFIG_NAME, EXPERT_NAME, ExpertSpec, MixtureConfig
from moe_coder.experts.loading import PACKAGE_SCHEME
from moe_coder.jsonl import read_json

logger = logging.getLogger(__name__)

#: Training by-products of an expert folder that stay local: resumable state, logs, staging.
NOT_PUSHED = ["checkpoints/**", "logs/**", ".*", ".*/**"]


def _local_outside(value: str | None, folder: Path) -> bool:
    """Whether ``value`` (a ``model``/``adapter`` field as written) names a path outside ``folder``."""
    if not value or value.startswith(PACKAGE_SCHEME):
        return False
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        if not (folder / path).exists():
            return False  # a hub id
        path = folder / path
    return not path.resolve().is_relative_to(folder.resolve())


def publishable_experts(folder: str | os.PathLike) -> list[ExpertSpec]:
    """The experts a mixture or expert folder names, checked to load on any machine.

    Raises ``ValueError`` naming the expert and the path when weights live outside the folder.
    """
    folder = Path(folder)
    if (folder / CONFIG_NAME).is_file():
        data = read_json(folder / CONFIG_NAME, "mixture config")
        specs = MixtureConfig.from_dict(data).experts
    elif (folder / EXPERT_NAME).is_file():
        specs = [ExpertSpec.from_dict(read_json(folder / EXPERT_NAME, "expert"))]
    else:
        raise FileNotFoundError(f"{folder}: neither a mixture ({CONFIG_NAME}) nor a trained expert ({EXPERT_NAME})")
    for spec in specs:
        for name in ("model", "adapter"):
            value = getattr(spec, name)
            if _local_outside(value, folder):
                raise ValueError(
                    f"expert {spec.name!r}: {name} {value!r} is a local path outside {folder}, which the hub copy "
                    "could not load; push that expert first and name it by its hub id"
                )
    return specs


def push_folder_to_hub(folder: str | os.PathLike, repo_id: str, *, token: str | None = None,
                       private: bool | None = None, commit_message: str | None = None,
                       revision: str | None = None) -> str:
    """Upload a mixture or trained-expert folder to the hub model repo ``repo_id``; return the commit URL.

    The repo is created when missing. An expert's ``checkpoints/`` and ``logs/`` stay local.
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    specs = publishable_experts(folder)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    message = commit_message or f"Upload {'mixture' if (folder / CONFIG_NAME).is_file() else 'expert'} with moe-coder"
    logger.info("pushing %s (%d expert(s)) to %s", folder, len(specs), repo_id)
    info = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=message, revision=revision,
                             ignore_patterns=NOT_PUSHED)
    return info.commit_url
