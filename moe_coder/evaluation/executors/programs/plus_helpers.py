"""Helpers shared by the evalplus candidate check (plus_check.py) and the ground-truth program
(groundtruth.py); prepended to both programs, never imported."""

import copy as _moe_copy
import hashlib as _moe_hashlib
import math as _moe_math
import pickle as _moe_pickle
import re as _moe_re


def _moe_has_float(value):
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return any(_moe_has_float(v) for v in value)
    return False


def _moe_normalise(value, compare):
    """Outputs compared the way evalplus compares them for a few tasks (match objects, sets)."""
    if compare == "not_none":
        return value if isinstance(value, bool) else value is not None
    if isinstance(value, _moe_re.Match):
        return "<re.Match>"
    if compare == "set":
        try:
            return sorted(set(value), key=repr)
        except TypeError:
            return value
    return value


_MOE_DIGEST = "__moe_coder_digest__"


def _moe_digest(value):
    """A type-exact digest of ``repr(value)``, computed piece by piece (outputs can be huge)."""
    digest = _moe_hashlib.sha256(type(value).__name__.encode())
    size = 0
    for part in value if isinstance(value, (list, tuple)) else (value,):
        text = _moe_bytes(part)
        size += len(text)
        digest.update(text + b"|")
    return (_MOE_DIGEST, digest.hexdigest()), size


def _moe_bytes(part):
    if type(part) is int:  # hex: linear time, and no limit on the number of digits
        return b"i" + hex(part).encode()
    try:
        return repr(part).encode()
    except ValueError:  # an int beyond the decimal conversion limit, inside a container
        return _moe_pickle.dumps(part)


def _moe_show(value):
    try:
        return repr(value)[:200]
    except ValueError:
        return f"<{type(value).__name__} too large to print>"


def _moe_compact(value):
    """Expected outputs over a megabyte (without floats, which need a tolerance) become a digest."""
    if _moe_has_float(value):
        return value
    digest, size = _moe_digest(value)
    return digest if size > 1 << 20 else value
