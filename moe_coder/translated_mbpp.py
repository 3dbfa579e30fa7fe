"""MBPP's tasks in other languages: the description, a signature to complete, and the tests translated.

MBPP's tests are Python ``assert`` statements. Most of them compare one call with literal arguments
to a literal (``assert remove_Occ("hello","l") == "heo"``), and such a test means the same in any
language whose literals can spell those values, which is how MultiPL-E carries MBPP and HumanEval to
other languages. :func:`javascript_task` does this for JavaScript:

* every test must be ``assert NAME(ARGS) == EXPECTED`` with literal arguments and a literal expected
  value (numbers, strings, booleans, ``None``, lists, tuples, dicts with string or integer keys); a
  task with any other test (``math.isclose``, ``set(...)``, ``not f(...)``, keyword arguments, sets,
  integers beyond 2**53, which JavaScript's numbers cannot hold exactly) is left out whole;
* tuples become arrays and ``None`` becomes ``null``; the test compares with Node's
  ``assert.deepEqual`` (loose, as Python's ``==`` is loose: ``True == 1``, ``3.0 == 3``);
* the prompt is laid out as HumanEval-X's JavaScript prompts are: a block comment with the
  description and the first test as a ``>>>`` example, then ``const NAME = (PARAMS) => {``, with the
  parameter names of the reference solution, the names in JavaScript's camel case as HumanEval-X
  spells them (``first_repeated_char`` -> ``firstRepeatedChar``; asked for the Python name, a model
  writing JavaScript renames it). "python" in a description reads "JavaScript".

The tasks keep MBPP's numbers (``mbpp_js/602``), so MBPP's splits hold for them: the test split
(11-510) is a benchmark, and the other tasks are training tasks whose tests can verify sampled
answers (``experts/verified_answers.py``). There is no reference solution in JavaScript:
``canonical_solution`` is empty.
"""
from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

#: Integers JavaScript's numbers hold exactly.
_SAFE_INTEGER = 2**53 - 1


class Untranslatable(ValueError):
    """A test or value that has no faithful JavaScript counterpart."""


def javascript_literal(node: ast.expr) -> str:
    """The JavaScript literal for a Python literal expression *node* (see the module docstring)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            if abs(value) > _SAFE_INTEGER:
                raise Untranslatable(f"integer {value} is beyond JavaScript's exact range")
            return str(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise Untranslatable(f"float {value}")
            return repr(value)
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        raise Untranslatable(f"a {type(value).__name__} literal")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return "-" + javascript_literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple)):
        return "[" + ", ".join(javascript_literal(e) for e in node.elts) + "]"
    if isinstance(node, ast.Dict):
        items = []
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, (str, int)) and not isinstance(key.value, bool)):
                raise Untranslatable("a dict key that is not a string or an integer")
            items.append(f"{json.dumps(str(key.value), ensure_ascii=False)}: {javascript_literal(value)}")
        return "{" + ", ".join(items) + "}"
    raise Untranslatable(f"{type(node).__name__} is not a literal")


def javascript_call_test(test: str) -> tuple[str, str, str]:
    """``(function, call, expected)`` in JavaScript for one ``assert NAME(ARGS) == EXPECTED`` (the
    function's name in :func:`camel_case`)."""
    try:
        tree = ast.parse(test.strip())
    except SyntaxError as exc:
        raise Untranslatable(f"not Python: {exc.msg}") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        raise Untranslatable("not one assert statement")
    compare = tree.body[0].test
    if not (isinstance(compare, ast.Compare) and len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq)):
        raise Untranslatable("not an equality")
    call, expected = compare.left, compare.comparators[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)) or call.keywords:
        raise Untranslatable("the left side is not a call of a function by name with positional arguments")
    if any(isinstance(a, ast.Starred) for a in call.args):
        raise Untranslatable("a starred argument")
    args = ", ".join(javascript_literal(a) for a in call.args)
    name = camel_case(call.func.id)
    return name, f"{name}({args})", javascript_literal(expected)


def _parameters(code: str, name: str) -> list[str]:
    """The parameter names of the reference solution's function *name*."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise Untranslatable(f"the reference solution does not parse: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and camel_case(node.name) == name:
            a = node.args
            if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
                raise Untranslatable("the function takes *args, **kwargs or keyword-only arguments")
            return [camel_case(p.arg) for p in a.args]
    raise Untranslatable(f"the reference solution defines no function {name}")


def camel_case(name: str) -> str:
    """JavaScript's spelling of a Python name: ``first_repeated_char`` -> ``firstRepeatedChar``,
    ``remove_Occ`` -> ``removeOcc`` (leading underscores and names without one stay)."""
    stripped = name.lstrip("_")
    head, *rest = stripped.split("_")
    if not rest or not head:
        return name
    return name[: len(name) - len(stripped)] + head + "".join(w[:1].upper() + w[1:] for w in rest if w)


def _described(text: str) -> str:
    return re.sub(r"\b[Pp]ython\b", "JavaScript", text.strip())


def javascript_task(task: dict[str, Any]) -> dict[str, Any]:
    """One MBPP task (a record of ``mbpp.jsonl``) in JavaScript: ``task_id``, ``prompt``,
    ``question``, ``test``, ``entry_point``. Raises :class:`Untranslatable` for a task whose tests or
    values do not carry over (see the module docstring)."""
    if task.get("test_setup_code"):
        raise Untranslatable("the tests need setup code")
    calls = [javascript_call_test(t) for t in task["test_list"]]
    names = {name for name, _, _ in calls}
    if len(names) != 1:
        raise Untranslatable("the tests call more than one function")
    name = names.pop()
    params = _parameters(task["code"], name)
    text = _described(task["text"])
    _, first_call, first_expected = calls[0]
    lines = [*text.splitlines(), f">>> {first_call}", first_expected]
    # "*/" in a description or an example ("**//Google") would close the comment: written "*\/"
    doc = "\n".join(f"  {line}" if i else line for i, line in enumerate(lines)).replace("*/", "*\\/")
    prompt = f"/* {doc}\n  */\nconst {name} = ({', '.join(params)}) => {{\n"
    # no binding of its own: an answer may declare ``assert`` itself
    tests = "\n".join(f"require('node:assert').deepEqual({call}, {expected});" for _, call, expected in calls)
    return {
        "task_id": f"mbpp_js/{task['task_id']}",
        "prompt": prompt,
        "question": text + "\n" + "\n".join(f"{call} == {expected}" for _, call, expected in calls),
        "test": tests + "\n",
        "entry_point": name,
    }
