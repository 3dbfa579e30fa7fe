"""Hashed character n-grams, computed with numpy: the same matrix as scikit-learn's
``HashingVectorizer(analyzer="char", lowercase=False, alternate_sign=False, norm=None)``, bit for bit.

scikit-learn builds every n-gram of every text as a Python string and hashes the strings one by
one; for the 2-4-grams of a few thousand characters of each prompt that was a third of the
router's time per prompt. :class:`CharNgramHasher` hashes them as whole arrays: the UTF-8 bytes
of a batch's texts laid end to end, each n-gram's MurmurHash3 (x86, 32 bits, seed 0, the hash
scikit-learn uses) computed for every position at once (an n-gram of n ASCII characters is the
n bytes at its position; one with multi-byte characters is hashed over its own span of bytes),
and the positions whose n-gram would cross from one text into the next dropped. The columns and
counts of every row are exactly scikit-learn's, so a router fitted with either reads the other's
features. ``tests/test_router_hashing.py`` checks the equality on every prompt of the test split.

:func:`tfidf_transform` is a fitted ``TfidfTransformer``'s ``transform`` without scikit-learn's
input validation, which cost more than the arithmetic for one prompt: the same operations in
the same order, so the same bits.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import normalize
from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)
#: scikit-learn's character analyzer folds runs of white space into one space first.
_WHITE_SPACES = re.compile(r"\s\s+")


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _mix_key(k: np.ndarray) -> np.ndarray:
    k = k * _C1
    return _rotl(k, 15) * _C2


def _mix_block(h: np.ndarray, k: np.ndarray) -> np.ndarray:
    """One whole 4-byte block ``k`` mixed into the running hash ``h``."""
    return _rotl(h ^ _mix_key(k), 13) * np.uint32(5) + np.uint32(0xE6546B64)


def _finish(h: np.ndarray, length: int | np.ndarray) -> np.ndarray:
    """The key length (one for all, or one per hash) mixed in, then MurmurHash3's final avalanche."""
    h = h ^ np.asarray(length).astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def murmurhash3_ascii(data: np.ndarray, n: int) -> np.ndarray:
    """MurmurHash3_x86_32 (seed 0) of every ``n``-byte window of ``data`` (uint8, ``n`` in 1..4),
    as signed 32-bit integers: ``len(data) - n + 1`` of them."""
    if not 1 <= n <= 4:
        raise ValueError(f"n must be 1 to 4 bytes, found {n}")
    count = len(data) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int32)
    key = np.zeros(count, dtype=np.uint32)
    for j in range(n):  # little-endian bytes of each window
        key |= data[j : j + count].astype(np.uint32) << np.uint32(8 * j)
    with np.errstate(over="ignore"):
        if n == 4:  # one whole block, no tail
            h = _mix_block(np.zeros(count, dtype=np.uint32), key)
        else:  # no block, a tail of n bytes
            h = _mix_key(key)
        return _finish(h, n).view(np.int32)


def murmurhash3_spans(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """MurmurHash3_x86_32 (seed 0) of the byte spans ``data[start : start + length]`` (each at
    most 16 bytes), as signed 32-bit integers."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int32)
    if lengths.max() > 16:
        raise ValueError("spans of at most 16 bytes")
    width = int(lengths.max())
    index = starts[:, None] + np.arange(width)[None, :]
    inside = np.arange(width)[None, :] < lengths[:, None]
    padded = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
    G = np.where(inside, padded[index], 0).astype(np.uint32)
    h = np.zeros(len(starts), dtype=np.uint32)
    blocks = lengths // 4
    with np.errstate(over="ignore"):
        for b in range(width // 4):
            active = blocks > b
            if not active.any():
                break
            k = G[:, 4 * b] | (G[:, 4 * b + 1] << np.uint32(8)) | (G[:, 4 * b + 2] << np.uint32(16)) | (G[:, 4 * b + 3] << np.uint32(24))
            h = np.where(active, _mix_block(h, k), h)
        tail = lengths & 3
        base = (blocks * 4)[:, None]
        G = np.concatenate([G, np.zeros((len(G), 3), dtype=np.uint32)], axis=1)
        t0, t1, t2 = (np.take_along_axis(G, base + j, axis=1)[:, 0] for j in range(3))
        k = np.where(tail >= 3, t2 << np.uint32(16), 0).astype(np.uint32)
        k ^= np.where(tail >= 2, t1 << np.uint32(8), 0).astype(np.uint32)
        k ^= np.where(tail >= 1, t0, 0).astype(np.uint32)
        h = np.where(tail > 0, h ^ _mix_key(k), h)
        return _finish(h, lengths).view(np.int32)


class CharNgramHasher:
    """``transform(texts)`` gives the sparse counts of each text's character n-grams (``ngram_range``
    inclusive, case kept) hashed into ``n_features`` columns: exactly what scikit-learn's
    ``HashingVectorizer`` with ``analyzer="char"``, ``lowercase=False``, ``alternate_sign=False``
    and ``norm=None`` gives, computed with numpy."""

    def __init__(self, n_features: int = 2**20, ngram_range: tuple[int, int] = (2, 4), dtype: type = np.float32) -> None:
        low, high = ngram_range
        if not 1 <= low <= high <= 4:
            raise ValueError(f"ngram_range must lie within (1, 4), found {ngram_range}")
        self.n_features = n_features
        self.ngram_range = ngram_range
        self.dtype = dtype

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        texts = [_WHITE_SPACES.sub(" ", t) for t in texts]
        if not texts:
            return sparse.csr_matrix((0, self.n_features), dtype=self.dtype)
        if all(t.isascii() for t in texts):  # one byte a character
            return self._counts(texts, None)
        # per character, the length of its UTF-8 encoding: what each n-gram is hashed over (a lone
        # surrogate raises UnicodeEncodeError here, as it does in scikit-learn)
        points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        widths = 1 + (points >= 0x80).astype(np.int64) + (points >= 0x800) + (points >= 0x10000)
        return self._counts(texts, widths)

    def _counts(self, texts: list[str], widths: np.ndarray | None) -> sparse.csr_matrix:
        """The counts of ``texts`` laid end to end; ``widths`` gives each character's UTF-8 bytes
        (``None``: all ASCII, one byte each)."""
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        ends = np.cumsum(lengths)
        data = np.frombuffer("".join(texts).encode("utf-8"), dtype=np.uint8)
        row_of = np.repeat(np.arange(len(texts)), lengths)
        if widths is not None:
            offsets = np.concatenate([[0], np.cumsum(widths)])  # byte offset of each character
        rows, cols = [], []
        low, high = self.ngram_range
        for n in range(low, high + 1):
            count = len(row_of) - n + 1
            if count <= 0:
                continue
            position = np.arange(count)
            keep = position + n <= ends[row_of[:count]]  # the window stays inside its own text
            if widths is None:
                h = murmurhash3_ascii(data, n)[keep]
            else:
                start = offsets[position[keep]]
                span = offsets[position[keep] + n] - start
                h = murmurhash3_ascii(data, n)[np.minimum(start, len(data) - n)]  # right where the window is n bytes
                wide = span > n  # a window with a multi-byte character
                h[wide] = murmurhash3_spans(data, start[wide], span[wide])
            h = h.astype(np.int64)
            rows.append(row_of[:count][keep])
            # scikit-learn's column: abs(h) mod n_features (with its special case for -2**31)
            col = np.abs(h) % self.n_features
            col[h == -(2**31)] = (2**31 - 1 - (self.n_features - 1)) % self.n_features
            cols.append(col)
        if not rows:
            return sparse.csr_matrix((len(texts), self.n_features), dtype=self.dtype)
        r, c = np.concatenate(rows), np.concatenate(cols)
        X = sparse.csr_matrix((np.ones(len(r), dtype=self.dtype), (r, c)), shape=(len(texts), self.n_features))
        X.sum_duplicates()
        return X


def tfidf_transform(tfidf: TfidfTransformer, counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """``tfidf.transform(counts)`` for a fitted transformer and a float CSR matrix of counts: a copy
    with sub-linear term frequencies (if set), scaled by the fitted IDF weights, rows normalised."""
    X = sparse.csr_matrix(counts, copy=True)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if tfidf.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    if getattr(tfidf, "idf_", None) is not None and tfidf.use_idf:
        X.data *= tfidf.idf_[X.indices]
    if tfidf.norm == "l2":
        inplace_csr_row_normalize_l2(X)
    elif tfidf.norm is not None:
        X = normalize(X, norm=tfidf.norm, copy=False)
    return X
