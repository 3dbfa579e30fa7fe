"""The evalplus check of a candidate: appended to plus_helpers.py and the candidate, never imported."""


def _moe_close(out, exp, atol):
    """Equality, with floats compared to a relative 1e-7 plus the task's absolute tolerance."""
    if out == exp:
        return True
    if isinstance(exp, float) or isinstance(out, float):
        if isinstance(out, bool) or isinstance(exp, bool) or not isinstance(out, (int, float)) \
                or not isinstance(exp, (int, float)):
            return out == exp
        if _moe_math.isnan(exp):
            return _moe_math.isnan(out)
        return out == exp or abs(out - exp) <= atol + 1e-7 * abs(exp)
    if isinstance(exp, (list, tuple)) and type(out) is type(exp):
        return len(out) == len(exp) and all(_moe_close(o, e, atol) for o, e in zip(out, exp))
    if isinstance(exp, dict) and isinstance(out, dict):
        return out.keys() == exp.keys() and all(_moe_close(out[k], exp[k], atol) for k in exp)
    return False


def _moe_poly(xs, x):
    return sum(c * x ** i for i, c in enumerate(xs))


def _moe_plus_check(candidate):
    with open("plus_case.pkl", "rb") as fh:
        case = _moe_pickle.load(fh)
    atol = case["atol"] or 0.0
    for i, (args, expected) in enumerate(zip(case["inputs"], case["expected"])):
        out = _moe_normalise(candidate(*_moe_copy.deepcopy(args)), case["compare"])
        if case["compare"] == "root":
            ok = isinstance(out, (int, float)) and abs(_moe_poly(args[0], out)) <= max(atol, 1e-6)
        elif isinstance(expected, tuple) and expected[:1] == (_MOE_DIGEST,):
            ok = _moe_digest(out)[0] == expected
        else:
            ok = _moe_close(out, expected, atol if atol else (1e-6 if _moe_has_float(expected) else 0.0))
        assert ok, f"input #{i}: expected {_moe_show(expected)}, got {_moe_show(out)}"
