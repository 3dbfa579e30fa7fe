"""Which evaluation items a training text is contaminated with.

Two methods:

- ``openai50`` (GPT-4 technical report, appendix C): keep only letters and digits; from each
  evaluation item take three random 50-character substrings (the whole normalised item if it is
  shorter); a training text is contaminated with the item if any of them occurs in it.
- ``ngram13`` (GPT-3 style): lower-cased words; contaminated if the training text shares any
  13-word sequence with the item (an item of fewer than 13 words must occur whole).

Two engines give the same answers: ``automaton`` and ``naive``. ``automaton`` normalises a whole
chunk of training texts at once, lets an exact block filter (:class:`_AnchorFilter`) pick the
few texts that can contain a pattern, and runs Aho-Corasick over all patterns on just those.
``naive`` checks ``pattern in text`` for every pattern and every text: the reference the fast
path is tested and benchmarked against.
"""
from __future__ import annotations

import logging
import random
import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Sequence

import ahocorasick

from moe_coder.decontamination.evalsets import EvalItem, EvalSet
from moe_coder.decontamination.text import SEPARATOR, alnum_chunk, alnum_reference, words_chunk, words_reference

logger = logging.getLogger(__name__)

METHODS = ("openai50", "ngram13")
ENGINES = ("automaton", "naive")
SUBSTRING_LENGTH = 50
SUBSTRINGS_PER_ITEM = 3
NGRAM = 13

_SEPARATOR_RE = re.compile(re.escape(SEPARATOR))

#: For each text index with a match: evaluation item index -> the patterns found.
TextMatches = dict[int, dict[int, set[str]]]


@dataclass(frozen=True)
class ItemMatch:
    """A training text matched ``item`` through ``patterns`` (normalised substrings or n-grams)."""

    item: EvalItem
    patterns: tuple[str, ...]


def _sample_substrings(normalised: str, rng: random.Random) -> list[str]:
    if len(normalised) <= SUBSTRING_LENGTH:
        return [normalised] if normalised else []
    starts = range(len(normalised) - SUBSTRING_LENGTH + 1)
    picked = rng.sample(starts, min(SUBSTRINGS_PER_ITEM, len(starts)))
    return list(dict.fromkeys(normalised[s : s + SUBSTRING_LENGTH] for s in picked))


def _ngrams(spaced_words: str) -> list[str]:
    words = spaced_words.split()
    if len(words) <= NGRAM:
        return [spaced_words] if words else []
    grams = (" " + " ".join(words[i : i + NGRAM]) + " " for i in range(len(words) - NGRAM + 1))
    return list(dict.fromkeys(grams))


class _Spans:
    """Where each text of a normalised chunk starts and ends (found on first use: matches are rare)."""

    def __init__(self, normalised: str) -> None:
        self._normalised = normalised
        self._separators: list[int] | None = None

    @property
    def separators(self) -> list[int]:
        if self._separators is None:
            self._separators = [m.start() for m in _SEPARATOR_RE.finditer(self._normalised)]
        return self._separators

    def text_at(self, position: int) -> int:
        """Index of the text holding ``position`` (which must not be a separator)."""
        return bisect_left(self.separators, position)

    def span(self, t: int) -> tuple[int, int]:
        separators = self.separators
        start = separators[t - 1] + 1 if t else 0
        return start, separators[t] if t < len(separators) else len(self._normalised)


def _automaton(index: dict[str, tuple[int, ...]]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for pattern, items in index.items():
        automaton.add_word(pattern, (pattern, items))
    automaton.make_automaton()
    return automaton


def _scan(
    automaton: ahocorasick.Automaton, normalised: str, start: int, end: int, spans: _Spans, found: TextMatches
) -> None:
    # Slicing first: ``iter(text, start, end)`` converts all of ``text``, which is a whole chunk.
    for last, (pattern, items) in automaton.iter(normalised[start:end]):
        per_item = found.setdefault(spans.text_at(start + last), {})
        for i in items:
            per_item.setdefault(i, set()).add(pattern)


#: Block lengths the anchor filter may use; shorter blocks would let too many texts through.
ANCHOR_BLOCK_MAX, ANCHOR_BLOCK_MIN = 24, 8
#: Above this many pattern q-grams the filter's set would cost more memory than it saves time.
ANCHOR_MAX_GRAMS = 2_000_000


def _anchor_plan(patterns: list[str]) -> tuple[set[str], int | None]:
    """Which patterns the anchor filter covers and its block length (None: no filter)."""
    lengths = sorted(len(p) for p in patterns)
    q = max(ANCHOR_BLOCK_MIN, min(ANCHOR_BLOCK_MAX, (lengths[0] + 1) // 2))
    covered = {p for p in patterns if len(p) >= 2 * q - 1}
    if not covered or sum(len(p) - q + 1 for p in covered) > ANCHOR_MAX_GRAMS:
        return set(), None
    return covered, q


class _AnchorFilter:
    """An exact prefilter: which texts of a normalised chunk can contain a pattern.

    The chunk is cut into consecutive blocks of ``q`` characters. An occurrence of a pattern of
    length >= 2q - 1 wholly contains at least one block, and that block is one of the pattern's
    q-grams. So a text none of whose blocks is a pattern q-gram contains none of the patterns,
    and only the few texts that have one need the automaton. Cutting and set lookups run in C,
    several times faster than walking the automaton over every character.
    """

    def __init__(self, patterns: set[str], q: int) -> None:
        self.q = q
        self._grams = {p[o : o + q] for p in patterns for o in range(len(p) - q + 1)}
        self._blocks = re.compile(f"(?s).{{{q}}}")

    def candidates(self, normalised: str, spans: _Spans) -> list[int]:
        """Indices of the texts that hold a block found among the pattern q-grams, ascending."""
        blocks = self._blocks.findall(normalised)
        hits = self._grams.intersection(blocks)
        if not hits:
            return []
        q = self.q
        return sorted({spans.text_at(k * q) for k, block in enumerate(blocks) if block in hits})


class Decontaminator:
    """Matches training texts against evaluation sets.

    Args:
        eval_sets: the evaluation sets (see :func:`~moe_coder.decontamination.load_eval_sets`).
        method: ``"openai50"`` or ``"ngram13"``.
        seed: seeds the substring sampling of ``openai50``. Each item draws from its own
            generator, seeded with (seed, set name, task id), so its substrings do not depend on
            which other sets are loaded.
        lowercase: lower-case before normalising (``openai50``; ``ngram13`` always does).
        engine: ``"automaton"`` (fast) or ``"naive"`` (reference).
    """

    def __init__(
        self,
        eval_sets: Sequence[EvalSet],
        method: str = "openai50",
        seed: int = 0,
        lowercase: bool = False,
        engine: str = "automaton",
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
        self.method = method
        self.seed = seed
        self.lowercase = lowercase or method == "ngram13"
        self.engine = engine
        self.items: list[EvalItem] = [item for s in eval_sets for item in s.items]
        self.patterns: list[list[str]] = [self._patterns(item) for item in self.items]
        index: dict[str, list[int]] = {}
        for i, patterns in enumerate(self.patterns):
            for pattern in patterns:
                index.setdefault(pattern, []).append(i)
        if not index:
            raise ValueError("no evaluation item has any letters or digits to match")
        self._index = {pattern: tuple(items) for pattern, items in index.items()}
        self._automaton: ahocorasick.Automaton | None = None
        self._anchors: _AnchorFilter | None = None
        self._short_automaton: ahocorasick.Automaton | None = None
        if engine == "automaton":
            self._build_fast_path()
        logger.info("%s: %d patterns from %d evaluation items", method, len(self._index), len(self.items))

    @property
    def reference_normalize(self) -> Callable[[str], str]:
        """The one-text normaliser of this method (what patterns and training text are compared in)."""
        if self.method == "ngram13":
            return words_reference
        return lambda text: alnum_reference(text, self.lowercase)

    def _normalize_chunk(self, texts: list[str]) -> str:
        if self.method == "ngram13":
            return words_chunk(texts)
        return alnum_chunk(texts, self.lowercase)

    def _patterns(self, item: EvalItem) -> list[str]:
        normalised = self.reference_normalize(item.text)
        if self.method == "ngram13":
            return _ngrams(normalised)
        return _sample_substrings(normalised, random.Random(f"{self.seed}/{item.benchmark}/{item.task_id}"))

    def _build_fast_path(self) -> None:
        self._automaton = _automaton(self._index)
        long_patterns, q = _anchor_plan(list(self._index))
        if q is None:
            return
        self._anchors = _AnchorFilter(long_patterns, q)
        short = {p: items for p, items in self._index.items() if p not in long_patterns}
        self._short_automaton = _automaton(short) if short else None

    def match_texts(self, texts: list[str]) -> TextMatches:
        """Match many training texts at once; only texts with a match appear in the result."""
        if not texts:
            return {}
        if self.engine == "naive":
            return self._match_naive(texts)
        normalised = self._normalize_chunk(texts)
        spans = _Spans(normalised)
        found: TextMatches = {}
        if self._anchors is None:
            _scan(self._automaton, normalised, 0, len(normalised), spans, found)
            return found
        for t in self._anchors.candidates(normalised, spans):
            _scan(self._automaton, normalised, *spans.span(t), spans, found)
        if self._short_automaton is not None:
            _scan(self._short_automaton, normalised, 0, len(normalised), spans, found)
        return found

    def _match_naive(self, texts: list[str]) -> TextMatches:
        normalize = self.reference_normalize
        found: TextMatches = {}
        for t, text in enumerate(texts):
            normalised = normalize(text)
            for pattern, items in self._index.items():
                if pattern in normalised:
                    per_item = found.setdefault(t, {})
                    for i in items:
                        per_item.setdefault(i, set()).add(pattern)
        return found

    def find(self, text: str) -> list[ItemMatch]:
        """The evaluation items ``text`` is contaminated with, in evaluation-set order."""
        per_item = self.match_texts([text]).get(0, {})
        return [ItemMatch(self.items[i], tuple(sorted(per_item[i]))) for i in sorted(per_item)]
