"""A library lexicon: which language's code an identifier in prose belongs to.

People name libraries, functions and types without naming the language: "how do I bind
params with PDO", "my vitest mocks leak", "fighting the borrow checker". A word like ``PDO``
or ``vitest`` is no English word and appears in one language's code almost only, so the
router learns what it says from a lexicon counted over real source files:

* :meth:`Lexicon.from_counts` keeps an identifier that occurs in at least ``min_files`` files
  and whose per-language share (its file count over the language's file count, normalised
  over languages) reaches ``min_share`` for one language. Words every language's comments
  use ("value", "the", "find") are spread out and dropped.
* :meth:`Lexicon.lookup` reads only the prose of a prompt (outside fenced and unfenced code,
  as :func:`moe_coder.routing.cues.prose_outside_code` does) and gives, per language, the
  largest share among the identifiers it names: a few dense columns the router weighs like
  any other feature. Code is left to the n-grams; the lexicon is for names in sentences.

A second table, :class:`PackageNames`, holds library and tool names from package-registry
metadata (``router_training/packages.py`` reads Debian's index, whose naming policy places the
PyPI, npm, crates, Go, Packagist, Maven and .NET libraries it repackages): names are matched
case-insensitively and may hold ``-`` and ``.`` ("scikit-image", "socket.io"). A lexicon carries
it in :attr:`Lexicon.packages`, and its hits fill the same columns as the identifiers', so a
name no training prompt uses counts like an identifier of the code the heads were trained with.

``router_training/build_data.py`` counts the lexicon over the *training-split* packages only
and writes it next to the data (``lexicon.tsv.gz``, and ``packages.tsv.gz`` beside it);
``moe-coder train-router`` reads them from there and stores them in the router's artifacts, so
a saved router carries the lexicon it was trained with.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from moe_coder.atomic import atomic_output
from moe_coder.routing.cues import prose_outside_code

#: Identifiers the lexicon counts and looks up: three characters at least. Two-character ones
#: ("u8", "dw", "Li") name no library, and any run of random bytes spells a few of them.
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,40}")
#: A package or tool name in prose: letters and digits, joined by ``-``, ``_`` or ``.``.
NAME = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")


class Lexicon:
    """Identifiers and, for each, its share of occurrences per language (rows sum to 1), plus
    optionally the :class:`PackageNames` looked up alongside them (:attr:`packages`)."""

    _HEADER = "token"
    _LABEL = "library"

    def __init__(
        self, languages: Sequence[str], tokens: Sequence[str], shares: np.ndarray, packages: "PackageNames | None" = None,
    ) -> None:
        shares = np.asarray(shares, dtype=np.float32).reshape(len(tokens), len(languages))
        self.languages = [str(lang) for lang in languages]
        self.tokens = [str(t) for t in tokens]
        self.shares = shares
        self._index = {t: i for i, t in enumerate(self.tokens)}
        self.packages = packages.aligned(self.languages) if packages is not None else None

    def _words(self, prose: str) -> list[str]:
        """The words of ``prose`` this table's entries are compared with."""
        return TOKEN.findall(prose)

    def _hits(self, prose: str) -> list[int]:
        """Rows of the entries ``prose`` names, in order of first appearance."""
        return list(dict.fromkeys(self._index[w] for w in self._words(prose) if w in self._index))

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def share(self, token: str) -> dict[str, float]:
        """``{language: share}`` of one identifier (empty when it is not in the lexicon)."""
        i = self._index.get(token)
        return {} if i is None else {lang: float(s) for lang, s in zip(self.languages, self.shares[i]) if s > 0}

    @classmethod
    def from_counts(
        cls, counts: Mapping[str, Mapping[str, int]], files: Mapping[str, int], min_files: int = 5, min_share: float = 0.85,
    ) -> "Lexicon":
        """From ``{token: {language: files containing it}}`` and ``{language: files counted}``."""
        languages = sorted(lang for lang, n in files.items() if n > 0)
        totals = np.array([files[lang] for lang in languages], dtype=np.float64)
        tokens, rows = [], []
        for token in sorted(counts):
            c = np.array([counts[token].get(lang, 0) for lang in languages], dtype=np.float64)
            if c.sum() < min_files:
                continue
            rate = c / totals
            share = rate / rate.sum()
            if share.max() >= min_share:
                tokens.append(token)
                rows.append(share)
        shares = np.array(rows, dtype=np.float32).reshape(len(rows), len(languages))
        return cls(languages, tokens, shares)

    # ------------------------------------------------------------------ features
    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
        """``(features, names)``. ``features`` is ``(len(texts), len(languages))``: per language, the
        largest share among the lexicon's identifiers that a text's prose names (zeros when it
        names none). ``names`` lists those identifiers for each text, in order of appearance, as
        ``"library:NAME>LANGUAGE"`` with the language each mostly belongs to (for explanations)."""
        out = np.zeros((len(texts), len(self.languages)), dtype=np.float32)
        names: list[list[str]] = []
        tables = [t for t in (self, self.packages) if t is not None and len(t)]
        for i, text in enumerate(texts):
            prose = prose_outside_code(text)
            found: list[str] = []
            for table in tables:
                hits = table._hits(prose)
                if hits:
                    np.maximum(out[i], table.shares[hits].max(axis=0), out=out[i])
                found += [f"{table._LABEL}:{table.tokens[j]}>{table.languages[int(table.shares[j].argmax())]}" for j in hits]
            names.append(found)
        return out, names

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """A gzipped TSV: a header of languages, then one identifier and its shares a line."""
        with atomic_output(Path(path), compress=True) as fh:
            fh.write(("\t".join([self._HEADER, *self.languages]) + "\n").encode())
            for token, row in zip(self.tokens, self.shares):
                fh.write(("\t".join([token, *(f"{s:.3g}" for s in row)]) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> "Lexicon":
        """Read :meth:`save`'s file; a malformed line is a ``ValueError`` naming file and line."""
        path = Path(path)
        try:
            return cls._read(path)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: unreadable lexicon ({exc})") from exc

    @classmethod
    def _read(cls, path: Path) -> "Lexicon":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            header = fh.readline().rstrip("\n").split("\t")
            if header[0] != cls._HEADER or len(header) < 2:
                raise ValueError(f"{path}:1: expected a header '{cls._HEADER}<TAB>language...', found {header[:3]!r}")
            languages = header[1:]
            tokens, rows = [], []
            for n, line in enumerate(fh, start=2):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != len(header) or not cls._valid(parts[0]):
                    raise ValueError(f"{path}:{n}: expected {cls._ENTRY} and {len(languages)} shares")
                try:
                    rows.append([float(x) for x in parts[1:]])
                except ValueError:
                    raise ValueError(f"{path}:{n}: shares must be numbers") from None
                tokens.append(parts[0])
        return cls(languages, tokens, np.array(rows, dtype=np.float32).reshape(len(rows), len(languages)))

    _ENTRY = "an identifier"

    @staticmethod
    def _valid(entry: str) -> bool:
        return TOKEN.fullmatch(entry) is not None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for a router's ``.npz`` (no pickle needed to read them back); the identifiers
        only: a router keeps its :attr:`packages` in a file of their own (see :meth:`PackageNames.save`)."""
        return {"lexicon.tokens": np.array(self.tokens, dtype=str), "lexicon.shares": self.shares.astype(np.float16)}

    @classmethod
    def from_arrays(
        cls, languages: Sequence[str], arrays: Mapping[str, np.ndarray], packages: "PackageNames | None" = None,
    ) -> "Lexicon":
        return cls(languages, [str(t) for t in arrays["lexicon.tokens"]], arrays["lexicon.shares"].astype(np.float32), packages)

    def with_packages(self, packages: "PackageNames | None") -> "Lexicon":
        """This lexicon's identifiers with ``packages`` looked up beside them (None: without any)."""
        return Lexicon(self.languages, self.tokens, self.shares, packages)


class PackageNames(Lexicon):
    """Library and tool names from package registries and their share per language, matched in
    prose case-insensitively, with ``-``, ``_`` and ``.`` inside a name (``scikit-image``)."""

    _HEADER = "package"
    _LABEL = "package"
    _ENTRY = "a package name"

    def __init__(self, languages: Sequence[str], tokens: Sequence[str], shares: np.ndarray) -> None:
        super().__init__(languages, [str(t).lower() for t in tokens], shares)

    @staticmethod
    def _valid(entry: str) -> bool:
        return NAME.fullmatch(entry) is not None

    def _words(self, prose: str) -> list[str]:
        return NAME.findall(prose.lower())

    @classmethod
    def from_counts(  # type: ignore[override]
        cls, counts: Mapping[str, Mapping[str, int]], min_share: float = 0.85,
    ) -> "PackageNames":
        """From ``{name: {language: packages naming it}}``: names whose packages one language holds
        at least ``min_share`` of."""
        languages = sorted({lang for c in counts.values() for lang in c})
        tokens, rows = [], []
        for name in sorted(counts):
            c = np.array([counts[name].get(lang, 0) for lang in languages], dtype=np.float64)
            share = c / c.sum()
            if share.max() >= min_share:
                tokens.append(name)
                rows.append(share)
        return cls(languages, tokens, np.array(rows, dtype=np.float32).reshape(len(rows), len(languages)))

    def aligned(self, languages: Sequence[str]) -> "PackageNames":
        """The same names with their shares in ``languages``' columns (a language this table lacks gets zeros;
        a name whose languages are all outside ``languages`` is dropped)."""
        if list(languages) == self.languages:
            return self
        shares = np.zeros((len(self.tokens), len(languages)), dtype=np.float32)
        for j, lang in enumerate(languages):
            if lang in self.languages:
                shares[:, j] = self.shares[:, self.languages.index(lang)]
        keep = shares.sum(axis=1) > 0
        return PackageNames(languages, [t for t, k in zip(self.tokens, keep) if k], shares[keep])
