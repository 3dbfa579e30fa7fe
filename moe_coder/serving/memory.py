"""Keeping the server's resident memory at what it uses (glibc's ``mallopt`` and ``malloc_trim``).

A batch allocates and frees its activations and KV cache in whichever worker thread ran it, and
glibc keeps freed memory in that thread's arena for reuse instead of returning it. Under load the
server's resident memory then climbs, and stays up, though nothing is in use: in one 60 s soak of
64 clients a ``malloc_trim(0)`` gave back 50 to 120 MB of a 600 MB process while Python's own
heap stayed flat. Trimming after generation, at most once per ``interval_s``, keeps the resident
size at what is used, for a few milliseconds a second.

Trimming returns only whole free pages, though. What stays is fragmentation: glibc raises its
mmap threshold each time a large block is freed (up to 32 MiB), so tensors soon come from the
heap arenas, and blocks of ever-changing sizes freed in other threads leave holes that the next
batch's blocks do not fit. In that soak malloc's in-use bytes stayed flat (about 200 MB) while its
free-but-held bytes went from 108 to 172 MB. :func:`fix_mmap_threshold` pins the threshold, so
every block of 256 KiB or more (activations, KV cache) is its own mapping, returned when freed:
free-but-held then stayed at 18 to 27 MB and RSS flat.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from typing import Callable

logger = logging.getLogger(__name__)

#: Seconds between two trims at the most.
TRIM_INTERVAL_S = 1.0
#: Blocks at least this large are mapped on their own and unmapped when freed.
MMAP_THRESHOLD_BYTES = 256 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def _libc_function(name: str) -> Callable[..., int] | None:
    """A glibc function, or None where the C library has none (musl, macOS, Windows)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c")), name)
    except (OSError, AttributeError, TypeError):
        return None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin glibc's mmap threshold for this whole process (see the module's docstring); False without glibc.

    ``MALLOC_MMAP_THRESHOLD_`` in the environment, when set, wins: the operator chose.
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))


def _malloc_trim() -> Callable[[int], int] | None:
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` when asked, at most once per ``interval_s``; a no-op without glibc.

    Call it from a worker thread after generating, never from the event loop: one trim takes
    up to tens of milliseconds on a busy CPU.
    """

    def __init__(self, interval_s: float = TRIM_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.trims = 0
        self._trim = _malloc_trim()
        self._last = float("-inf")
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether this process's C library can trim (glibc)."""
        return self._trim is not None

    def __call__(self) -> bool:
        """Trim unless one ran less than ``interval_s`` ago (or one is running); True when it trimmed."""
        if self._trim is None:
            return False
        now = time.monotonic()
        if now - self._last < self.interval_s or not self._lock.acquire(blocking=False):
            return False
        try:
            self._trim(0)
            self._last = time.monotonic()
            self.trims += 1
            return True
        finally:
            self._lock.release()
