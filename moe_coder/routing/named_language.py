"""A prompt that names one label language and shows no code is not about an unknown language.

``unknown`` is the label of prompts that name or show none of the router's languages: junk,
greetings, language-free requests ("compute the median of a list"), and code or requests in
languages outside the twelve. So a prompt whose prose names exactly one of the twelve (the
``mention:`` cues of :mod:`moe_coder.routing.cues`, with no ``mention:other``) and carries no
code cannot be ``unknown`` by that definition, whatever the heads learned. The heads learn it
from the styles they are trained on; on a style they never saw (a request template of its own,
say) they can take "prose without code" for ``unknown`` and miss the language the prompt names.

:func:`exclude_unknown` applies the definition after the heads: on such prompts the language
head's ``unknown`` probability moves to the named language. The heads' other probabilities are
left as they are, so a prompt whose heads prefer another label language keeps it (the prompt
may name one language and ask for another: "in Python I'd use a dict; what is the Go way?"
names both and is left alone anyway).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from moe_coder.routing.cues import code_outside_prose

#: The label of prompts in no label language.
UNKNOWN = "unknown"


def named_language(text: str, cues: Sequence[str]) -> str | None:
    """The one label language ``text`` names, when it names exactly one (and no language outside
    the twelve) and holds no code; otherwise ``None``. ``cues`` are the text's cues
    (:func:`~moe_coder.routing.cues.extract_cues`)."""
    named = {cue.split(":", 1)[1] for cue in cues if cue.startswith("mention:")}
    if len(named) != 1 or "other" in named:
        return None
    if code_outside_prose(text).strip():
        return None
    return named.pop()


def exclude_unknown(language_p: np.ndarray, classes: Sequence[str], named: Sequence[str | None]) -> np.ndarray:
    """``language_p`` (rows over ``classes``) with each row's ``unknown`` probability moved to the
    language ``named[i]`` names (:func:`named_language`); rows without one are unchanged. Returns a
    new array."""
    out = np.array(language_p, dtype=np.float64, copy=True)
    index = {str(c): j for j, c in enumerate(classes)}
    if UNKNOWN not in index:
        return out
    u = index[UNKNOWN]
    for i, lang in enumerate(named):
        j = index.get(lang) if lang is not None else None
        if j is None or j == u:
            continue
        out[i, j] += out[i, u]
        out[i, u] = 0.0
    return out
