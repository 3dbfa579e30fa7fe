"""What the labels' own definitions rule out, applied to the router's heads.

Some labels are defined by what a prompt holds (the language its code is in, whether it holds
code at all), and the heads can only learn those definitions from the request styles they are
trained on. On a style they never saw they can break them with confidence, so these rules
enforce them on the heads' probabilities: the two about the code's language inside the heads
(:class:`CodeEvidence`, applied by :class:`~moe_coder.routing.heads.HeadStack`), the others
after them (:func:`apply_label_constraints`):

* **A named language is not** ``unknown``. ``unknown`` is the label of prompts that name or show
  none of the router's languages: junk, greetings, language-free requests ("compute the median
  of a list"), and code or requests in languages outside the twelve. A prompt whose prose names
  exactly one of the twelve (one ``mention:`` cue of :mod:`moe_coder.routing.cues`, no
  ``mention:other``) and carries no code (:func:`holds_code`) has its ``unknown`` probability
  moved to the language it names. The other probabilities stay as they are: a prompt the heads
  send to another label language keeps it.
* **A language outside the twelve is** ``unknown``. By the same definition, a prompt whose prose
  names or asks for only languages outside the twelve ("Using F#, check whether two strings are
  anagrams", "Write me a Groovy class that ...", "... in R?": ``mention:other`` or ``target:other``
  and no other ``mention:`` or ``target:`` cue) and carries
  no code is ``unknown``: its language head is set to it. No expert serves the language asked for,
  so the generalist answers. Heads refitted without the prompt family that holds such requests
  sent them to Python or C at 0.2-0.5. So is a prompt that holds neither code nor a word of any
  human language (:func:`says_nothing`: random bytes or code points, punctuation, an empty text).
* **A fence tag declares its code's language.** The language of a prompt's code is the label
  (or, for a translation, the source language); a person who tags every fenced block
  ```` ```go ```` has said what that code is. When every fenced block of a text opens with a
  tag of the same label language and no code lies outside the blocks
  (:func:`declared_language`), the heads that read the code's language (the code-language part
  of the language head and the source-language head) are set to it
  (:func:`declare_language`), before the language head mixes in its translation-target part.
  The target part, weighed by ``P(translate)``, is left to the heads: "```go ...``` now in Rust"
  is still a Rust request. :class:`~moe_coder.routing.heads.HeadStack` applies it, since the
  mixture is made there.
* **Code a grammar rejects is not in that grammar's language, when a close rival's grammar
  accepts it.** When the most likely language of a prompt's code (for the heads that read it)
  has a tree-sitter grammar that finds an error in that code, and one of the next
  :data:`GRAMMAR_CANDIDATES` languages parses all of it (:func:`~moe_coder.routing.grammar.code_errors`),
  each of those candidates whose grammar finds an error has its probability multiplied by
  :data:`GRAMMAR_VETO` (:func:`reject_ungrammatical`). Lenient grammars (Bash, SQL) do not count
  as accepting, and C++ (TypeScript) counts against C (JavaScript) only with a node of its own. ``// >>> f([1, 2])`` doc lines then
  ``function f(lst){`` share their n-grams with Go's doc comments, but Go's grammar rejects the
  one line of code and JavaScript's accepts it. Code no grammar of the candidates accepts
  (pseudo-code, a fragment cut mid-token, Kotlin) is left to the heads. Applied with the fence
  rule, in :class:`~moe_coder.routing.heads.HeadStack` (it skips rows whose fences declare a
  language).
* **A prompt without code is neither a translation nor a completion.** ``translate`` means
  rewriting the code a prompt holds in another language, ``complete`` finishing the code it
  holds. When no turn of the prompt holds code (:func:`holds_code`, which errs towards code),
  their probability is spread over the other tasks in proportion to theirs. (The language
  head's mixture of its code and target heads, weighed by ``P(translate)``, is left as the
  heads made it.)
* **Untyped JavaScript stopping open is not TypeScript.** A one-turn prompt that ends open, is
  :func:`all_code` in JavaScript, declares a function with parameters at the start of a line and
  writes nothing only TypeScript writes (:func:`untyped_javascript`) has its TypeScript
  probability moved to JavaScript (:func:`javascript_not_typescript`): TypeScript's strict mode
  rejects an untyped parameter. Heads refitted without the stub family read
  ``/* Check if a string is a palindrome. */ const checkIfString = (arr) => {`` as TypeScript at
  up to 0.99.
* **Code alone that stops open is a completion.** A one-turn prompt that ends open
  (``shape:ends_open``) and is nothing but code in its most likely language (:func:`all_code`:
  the grammar parses all of it, and its words lie in comments and docstrings) asks for nothing but
  the code's end: its task is ``complete`` (:func:`complete_open_code`). Heads refitted without
  the stub family read the stubs' doc comments ("Implement a thread-safe counter.") as requests
  to write new code, at up to 0.9.

Heads refitted without the prose-request template took "Using C, list the 10 biggest files in
a directory" for ``unknown`` and "Show me how to count words. Language: a shell script" for a
translation; without prose-only prompts, "using Moq, check if a string is a palindrome" for a
completion: all at 0.5-0.95 (docs/router.md).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

import numpy as np

from moe_coder.routing.cues import _FENCED, FENCE_TAGS, _split_prose, code_outside_prose
from moe_coder.routing.grammar import GRAMMARS, code_errors, code_head, comment_and_string_spans
from moe_coder.routing.labels import LANGUAGES, UNKNOWN

#: The task of rewriting a prompt's code in another language.
TRANSLATE = "translate"
#: The tasks a prompt without code cannot ask for: both work on the code it holds.
NEED_CODE: tuple[str, ...] = (TRANSLATE, "complete")
#: Characters prose seldom has and code nearly always has. Any of them counts as code, which
#: keeps the rules away from a snippet glued into a sentence.
_CODE_CHARACTERS = re.compile(r"[{}()\[\];=<>$\\|`]")
#: Lines that open the way code does and prose does not: comment markers, SQL statements in
#: capitals, a lower-case keyword of the twelve languages, a hexadecimal number ("fi",
#: "package uuid", "SELECT name, score", "require 'json'", "0x655: 0x2000,").
_CODE_LINE = re.compile(
    r"(?m)^\s*(?:--|//|/\*|\*|#!|#\s*(?:include|define|if|endif)\b|0x[0-9a-fA-F]+"
    r"|(?:SELECT|FROM|WHERE|JOIN|ALTER|CREATE|INSERT|UPDATE|DELETE|DROP|WITH|GRANT|BEGIN)\b"
    r"|(?:fi|done|esac|then|else|elif|end|package|import|require|export|module|return|var|let|const|def|class"
    r"|func|fn|use|namespace|using|public|private|protected|static|struct|enum|impl|type|interface|template"
    r"|int|void|char|echo|local|set|from|async|await)\b)"
)


def holds_code(text: str) -> bool:
    """Whether ``text`` may hold code: a fenced block or a code-like line
    (:func:`~moe_coder.routing.cues.code_outside_prose`), any character of code, or a line that
    opens the way code does. It errs towards code: "return the largest of three numbers" counts."""
    return (bool(_CODE_CHARACTERS.search(text)) or bool(_CODE_LINE.search(text))
            or bool(code_outside_prose(text).strip()))


#: A fence line: three backticks at the start of a line, and the tag after them.
_FENCE_LINE = re.compile(r"(?m)^[ \t]*```[ \t]*([^\s`]*)")
#: The longest text :func:`declared_language` reads (as the cues do).
_DECLARED_READS = 20000


def declared_language(text: str) -> str | None:
    """The label language every fenced block of ``text`` declares, or ``None``.

    Fence lines alternate between opening and closing a block; every opening tag must name the
    same one of the twelve languages (``golang``, ``py``, ``ts`` ... as the cues read them), and
    no code may lie outside the blocks (:func:`~moe_coder.routing.cues.code_outside_prose`). An
    untagged block, a block tagged with another language, or a fragment of code in the prose
    leaves the code's language to the heads."""
    text = text[:_DECLARED_READS]
    fences = list(_FENCE_LINE.finditer(text))
    if not fences:
        return None
    languages = {FENCE_TAGS.get(m.group(1).lower()) for m in fences[::2]}
    if len(languages) != 1:
        return None
    language = languages.pop()
    if language not in LANGUAGES or language == UNKNOWN:
        return None
    # the text without its blocks (an unclosed last block runs to the end)
    outside, start = [], 0
    for k in range(0, len(fences), 2):
        outside.append(text[start:fences[k].start()])
        start = fences[k + 1].end() if k + 1 < len(fences) else len(text)
    outside.append(text[start:])
    if code_outside_prose("".join(outside)).strip():
        return None
    return language


def declare_language(proba: np.ndarray, classes: Sequence[str], declared: Sequence[str | None]) -> np.ndarray:
    """``proba`` (rows over ``classes``, a head that reads the code's language) with each row that
    ``declared[i]`` names (:func:`declared_language`) set to certainty in that language; other rows
    unchanged. Returns a new array."""
    out = np.array(proba, dtype=np.float64, copy=True)
    index = {str(c): j for j, c in enumerate(classes)}
    for i, lang in enumerate(declared):
        j = index.get(lang) if lang is not None else None
        if j is not None:
            out[i] = 0.0
            out[i, j] = 1.0
    return out


#: How many of a row's most likely code languages the grammar rule parses (the first included).
GRAMMAR_CANDIDATES = 3
#: The factor a rejected language's probability is multiplied by (see the module docstring).
GRAMMAR_VETO = 0.05
#: A rival's smallest probability for its grammar's acceptance to count.
GRAMMAR_RIVAL_FLOOR = 0.01
#: Grammars whose acceptance says little: they take lines of words for commands and names, so
#: they parse fragments of most languages (they are still rejected like any other).
LENIENT_GRAMMARS = frozenset({"bash", "sql"})
#: ``{language: the language whose grammar nearly contains it}``: C++'s grammar parses most C,
#: TypeScript's all JavaScript. Such a rival's acceptance counts against the language only when
#: its parse holds one of its own distinctive nodes (``std::vector<long>``, a type annotation):
#: otherwise a quirk of the smaller grammar (GNU C's ``__inline``) would decide.
CONTAINED_IN = {"c": "cpp", "javascript": "typescript"}


def _accepts(rival: str, verdict: tuple[int, bool] | None, rejected: list[str]) -> bool:
    """Whether a rival's grammar ``verdict`` (:func:`~moe_coder.routing.grammar.code_errors`)
    counts against the ``rejected`` languages (see :func:`reject_ungrammatical`)."""
    if verdict is None or verdict[0] or rival in LENIENT_GRAMMARS:
        return False
    return verdict[1] or all(CONTAINED_IN.get(lang) != rival for lang in rejected)


def reject_ungrammatical(proba: np.ndarray, classes: Sequence[str], codes: Sequence[bytes | None],
                         candidates: int = GRAMMAR_CANDIDATES, veto: float = GRAMMAR_VETO) -> np.ndarray:
    """``proba`` (rows over ``classes``, a head that reads the code's language) with the grammar
    rule of the module docstring applied to each row whose code ``codes[i]`` is given (the head of
    the code, :func:`~moe_coder.routing.grammar.code_head`; ``None`` or empty to skip the row).
    Only rows whose most likely language has a grammar are parsed, and its rivals only when that
    grammar finds an error. Returns a new array."""
    out = np.array(proba, dtype=np.float64, copy=True)
    names = [str(c) for c in classes]
    for i, code in enumerate(codes):
        if not code:
            continue
        order = np.argsort(-out[i], kind="stable")[:candidates]
        if names[order[0]] not in GRAMMARS:
            continue
        first = code_errors(code, names[order[0]])
        if first is None or not first[0]:  # too little code, or it parses
            continue
        verdicts = {int(order[0]): first}
        for j in order[1:]:
            if names[j] in GRAMMARS and out[i, j] >= GRAMMAR_RIVAL_FLOOR:
                verdicts[int(j)] = code_errors(code, names[j])
        rejected = [j for j, v in verdicts.items() if v is not None and v[0]]
        if not any(_accepts(names[j], v, [names[k] for k in rejected]) for j, v in verdicts.items()):
            continue
        out[i, rejected] *= veto
        out[i] /= out[i].sum()
    return out


#: Unfenced lines the grammar rule reads as code although a run of three words in them makes the
#: cues take them for prose: C-family comment lines, declarations ("public int solve(List<Integer>
#: nums) {", "public class CheckIfStringService") and lines that end inside a statement.
_GRAMMAR_LINE = re.compile(
    r"^\s*(?://|/\*|\*/)|[{;(]\s*$"
    r"|^\s*(?:(?:public|private|protected|internal|static|final|abstract|sealed|export|async|pub)\s+)*"
    r"(?:class|interface|struct|enum|function|def|fn|func|namespace|template|typedef|const|let|var|void|int|bool"
    r"|string|long|double|float|char|auto)\s+[\w$<>\[\],:*& ]+(?:[({=]|$)"
)


def grammar_code(text: str) -> str:
    """The code of ``text`` that the grammar rule parses: :func:`~moe_coder.routing.cues.code_outside_prose`,
    with the unfenced lines that are code although they read like words put back in their places
    (:data:`_GRAMMAR_LINE`, and the lines inside a ``/* ... */`` comment).

    The cues leave a line out of the code when it holds a run of three words, so that a language
    named in a sentence counts as prose; for a grammar that turns a declaration such as ``public
    class CheckIfStringService`` into a missing line, and ``/* Check if a string is a palindrome.``
    into a stray ``*/``, and the code left over parses in the wrong grammars."""
    outside, words = _split_prose(text)  # as code_outside_prose reads them (cached)
    prose = set(words.splitlines())
    loose, in_comment = [], False
    for line in outside[:20000].splitlines():
        opens = "/*" in line and "*/" not in line.split("/*", 1)[1]
        if in_comment or not line.strip() or line not in prose or _GRAMMAR_LINE.search(line) or opens:
            loose.append(line)
        if opens:
            in_comment = True
        elif in_comment and "*/" in line:
            in_comment = False
    return "\n".join(_FENCED.findall(text) + loose).strip("\n")


@dataclass(frozen=True)
class CodeEvidence:
    """What each text says about its code's language, for the heads that read it: the language
    its fence tags declare (:func:`declared_language`) and the head of its code for the grammar
    rule (``b""`` for a declared row, or one without code)."""

    declared: list[str | None]
    code: list[bytes]

    @classmethod
    def of(cls, texts: Sequence[str]) -> "CodeEvidence":
        """The evidence of each text."""
        declared = [declared_language(t) for t in texts]
        code = [b"" if d is not None else code_head(grammar_code(t)) for t, d in zip(texts, declared)]
        return cls(declared, code)

    def __len__(self) -> int:
        return len(self.declared)

    def take(self, rows: Sequence[int] | range) -> "CodeEvidence":
        """The evidence of the given rows, in that order."""
        return CodeEvidence([self.declared[i] for i in rows], [self.code[i] for i in rows])

    def apply(self, proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
        """Both rules on a head that reads the code's language: the declared rows set, then the
        grammar rule on the others."""
        if len(self) != proba.shape[0]:
            raise ValueError(f"code evidence has {len(self)} rows for {proba.shape[0]}")
        return reject_ungrammatical(declare_language(proba, classes, self.declared), classes, self.code)


def named_language(text: str, cues: Sequence[str]) -> str | None:
    """The one label language ``text`` names, when it names exactly one (and no language outside
    the twelve) and holds no code line; ``"unknown"`` when the only languages it names or asks for
    (``mention:`` and ``target:`` cues) are outside the twelve and it holds no code line; otherwise
    ``None``. ``cues`` are the text's cues
    (:func:`~moe_coder.routing.cues.extract_cues`)."""
    named = {cue.split(":", 1)[1] for cue in cues if cue.startswith("mention:")}
    asked = named | {cue.split(":", 1)[1] for cue in cues if cue.startswith("target:")}
    if not asked or code_outside_prose(text).strip():
        return None
    if asked == {"other"}:  # "Using F#, ...", "... in R?", "in swift?"
        return UNKNOWN
    return named.pop() if len(named) == 1 and "other" not in named else None


def exclude_unknown(language_p: np.ndarray, classes: Sequence[str], named: Sequence[str | None]) -> np.ndarray:
    """``language_p`` (rows over ``classes``) with each row's ``unknown`` probability moved to the
    label language ``named[i]`` names (:func:`named_language`), and each row whose ``named[i]`` is
    ``"unknown"`` (only languages outside the twelve) set to certainty in ``unknown``; other rows
    are unchanged. Returns a new array."""
    out = np.array(language_p, dtype=np.float64, copy=True)
    index = {str(c): j for j, c in enumerate(classes)}
    if UNKNOWN not in index:
        return out
    u = index[UNKNOWN]
    for i, lang in enumerate(named):
        j = index.get(lang) if lang is not None else None
        if j is None:
            continue
        if j == u:
            out[i] = 0.0
            out[i, u] = 1.0
            continue
        out[i, j] += out[i, u]
        out[i, u] = 0.0
    return out


def exclude_code_tasks(task_p: np.ndarray, classes: Sequence[str], no_code: Sequence[bool],
                       tasks: Sequence[str] = NEED_CODE) -> np.ndarray:
    """``task_p`` (rows over ``classes``) with ``tasks`` (:data:`NEED_CODE`) ruled out on the rows
    ``no_code`` marks: their probability is spread over the other tasks in proportion to theirs
    (a row that gave every other task zero is left as it is). Returns a new array."""
    out = np.array(task_p, dtype=np.float64, copy=True)
    names = [str(c) for c in classes]
    cols = [names.index(t) for t in tasks if t in names]
    if not cols:
        return out
    rows = np.flatnonzero(np.asarray(no_code, dtype=bool))
    rest = 1.0 - out[np.ix_(rows, cols)].sum(axis=1)
    rows, rest = rows[rest > 1e-12], rest[rest > 1e-12]
    out[rows] /= rest[:, None]
    out[np.ix_(rows, cols)] = 0.0
    return out


def apply_label_constraints(
    probas: list[np.ndarray], heads: Sequence[str], classes: Sequence[Sequence[str]],
    named: Sequence[str | None], no_code: Sequence[bool], open_code: Sequence[str | None] | None = None,
    untyped_js: Sequence[bool] | None = None,
) -> list[np.ndarray]:
    """The router's probabilities (one array per head, in ``heads`` order) with the rules of this
    module that apply after the heads (:class:`ConstraintInputs` describes the inputs): the
    language head's, then the task head's, the all-code rule reading the language the language
    head now prefers."""
    out = list(probas)
    heads = list(heads)
    if "language" in heads:
        j = heads.index("language")
        out[j] = exclude_unknown(out[j], [str(c) for c in classes[j]], named)
        if untyped_js is not None:
            out[j] = javascript_not_typescript(out[j], classes[j], untyped_js)
    if "task" in heads:
        j = heads.index("task")
        out[j] = exclude_code_tasks(out[j], [str(c) for c in classes[j]], no_code)
        if open_code is not None and "language" in heads:
            k = heads.index("language")
            out[j] = complete_open_code(out[j], classes[j], out[k], classes[k], open_code)
    return out


#: Scripts whose every letter can be a word (ideographs, syllables).
_WORD_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL"})
#: How much of a text :func:`holds_words` reads.
_WORDS_READ = 2000


def holds_words(text: str) -> bool:
    """Whether ``text`` holds a word of some human language: two letters in a row of one script
    (``unicodedata`` names the script), or one Chinese, Japanese or Korean character. Bytes decoded
    as Latin-1 and random code points rarely put two letters of one script side by side; "hi",
    "напиши" and "كيف" are words."""
    previous = None
    for ch in text[:_WORDS_READ]:
        if not ch.isalpha():
            previous = None
            continue
        script = unicodedata.name(ch, "").split(" ", 1)[0]
        if script in _WORD_SCRIPTS or (script and script == previous):
            return True
        previous = script
    return False


def says_nothing(text: str) -> bool:
    """Whether ``text`` holds neither code (:func:`holds_code`) nor a word (:func:`holds_words`):
    it can name or show no language, so its label is ``unknown``."""
    return not holds_code(text) and not holds_words(text)


#: A line that opens with a word and then a space, a stop or its end: no comment or string
#: literal of the twelve grammars opens so (a string's prefix, ``f"`` or ``u8R"``, meets its quote).
_PROSE_OPENING = re.compile(r"\s*[^\W\d_]+(?:[\s,.:;!?，。：；！？]|$)")
#: The longest prompt :func:`all_code` parses whole.
ALL_CODE_BYTES = 4000
#: The task of finishing the code a prompt holds.
COMPLETE = "complete"


@lru_cache(maxsize=1024)
def all_code(text: str, language: str) -> bool:
    """Whether ``text`` is nothing but code in ``language``: its grammar parses the whole text
    without an error (once the brackets left open are closed), and every line that is not code
    (:func:`grammar_code`) lies inside one of the parse's comments or string literals (a doc
    comment, a docstring). A request in words ("finish this:", "给这段代码写单元测试") is neither,
    even where a grammar reads it as an identifier. Lenient grammars (Bash, SQL), fenced prompts
    and texts over :data:`ALL_CODE_BYTES` bytes are never all code. Cached: the TypeScript rule and
    the completion rule may both ask of one prompt in JavaScript."""
    if language not in GRAMMARS or language in LENIENT_GRAMMARS or "```" in text:
        return False
    data = text.encode("utf-8", "replace")
    if len(data) > ALL_CODE_BYTES:
        return False
    code = set(grammar_code(text).splitlines())
    lines = text.split("\n")
    opening = next((line for line in lines if line.strip()), "")
    if opening not in code and _PROSE_OPENING.match(opening):
        # nothing comes before it, and a word followed by a space or a stop opens no comment or
        # string literal in any of the grammars: no need to parse
        return False
    spans = comment_and_string_spans(data, language)
    if spans is None:
        return False
    start = 0
    for line in lines:
        size = len(line.encode("utf-8", "replace"))
        if line.strip() and line not in code:
            begin = start + len(line[: len(line) - len(line.lstrip())].encode("utf-8", "replace"))
            end = start + size - len(line[len(line.rstrip()):].encode("utf-8", "replace"))
            if not any(a <= begin and end <= b for a, b in spans):
                return False
        start += size + 1
    return True


def complete_open_code(task_p: np.ndarray, task_classes: Sequence[str], language_p: np.ndarray,
                       language_classes: Sequence[str], open_code: Sequence[str | None]) -> np.ndarray:
    """``task_p`` with each row whose ``open_code[i]`` (the text of a one-turn prompt that ends
    open) is :func:`all_code` in the row's most likely language set to certainty in ``complete``:
    code alone that stops open asks for nothing but its end. Returns a new array."""
    out = np.array(task_p, dtype=np.float64, copy=True)
    names = [str(c) for c in task_classes]
    if COMPLETE not in names:
        return out
    j = names.index(COMPLETE)
    languages = [str(c) for c in language_classes]
    for i, text in enumerate(open_code):
        if text is not None and all_code(text, languages[int(np.argmax(language_p[i]))]):
            out[i] = 0.0
            out[i, j] = 1.0
    return out


#: A JavaScript-family function declared at the start of a line with at least one parameter:
#: ``function f(x``, ``export async function f(x``, ``const f = (x``, ``let f = function (x``.
_PARAMETERS_DECLARED = re.compile(
    r"(?m)^(?:export\s+(?:default\s+)?)?(?:async\s+)?(?:function\s*\*?\s*[\w$]*\s*\(\s*[\w$]"
    r"|(?:const|let|var)\s+[\w$]+\s*=\s*(?:async\s+)?(?:function\s*\*?\s*[\w$]*\s*)?\(\s*[\w$])"
)
JAVASCRIPT, TYPESCRIPT = "javascript", "typescript"


def untyped_javascript(text: str, cues: Sequence[str]) -> bool:
    """Whether ``text`` is JavaScript code alone whose functions' parameters are untyped: it is
    :func:`all_code` in JavaScript, declares a function with parameters at the start of a line,
    and writes nothing only TypeScript writes (the ``syntax:js_untyped`` cue: no annotation,
    interface, generic, ``as`` or ``private``). TypeScript's strict mode, the default ``tsc --init``
    writes, rejects such a parameter (TS7006: it implicitly has an ``any`` type)."""
    return ("syntax:js_untyped" in cues and _PARAMETERS_DECLARED.search(text) is not None
            and all_code(text, JAVASCRIPT))


def javascript_not_typescript(language_p: np.ndarray, classes: Sequence[str], untyped: Sequence[bool]) -> np.ndarray:
    """``language_p`` with the TypeScript probability of each row ``untyped`` marks
    (:func:`untyped_javascript`) moved to JavaScript. Returns a new array."""
    out = np.array(language_p, dtype=np.float64, copy=True)
    names = [str(c) for c in classes]
    if JAVASCRIPT not in names or TYPESCRIPT not in names:
        return out
    js, ts = names.index(JAVASCRIPT), names.index(TYPESCRIPT)
    rows = np.flatnonzero(np.asarray(untyped, dtype=bool))
    out[rows, js] += out[rows, ts]
    out[rows, ts] = 0.0
    return out


class ConstraintInputs(NamedTuple):
    """What :func:`apply_label_constraints` reads of each prompt (:func:`constraint_inputs`)."""

    #: :func:`named_language` of the last turn, or ``"unknown"`` for a prompt that :func:`says_nothing`
    named: list[str | None]
    #: whether none of the prompt's turns :func:`holds_code`
    no_code: list[bool]
    #: the prompt's text when it is one turn whose end is open (``shape:ends_open``), else ``None``
    open_code: list[str | None]
    #: whether the prompt is one open turn of :func:`untyped_javascript`
    untyped_js: list[bool]


def constraint_inputs(last_turns: Sequence[str], contexts: Sequence[str],
                      cue_lists: Sequence[Sequence[str]]) -> ConstraintInputs:
    """The inputs of :func:`apply_label_constraints`, from each prompt's last turn, its earlier
    turns (``""`` for a plain prompt) and the last turn's cues. A prompt that names no language
    and none of whose turns holds code or a word (:func:`says_nothing`) is given ``"unknown"`` as
    its named language ("C#" alone names one)."""
    named = [named_language(t, cues) or (UNKNOWN if says_nothing(t) and says_nothing(c) else None)
             for t, c, cues in zip(last_turns, contexts, cue_lists)]
    no_code = [not holds_code(t) and not holds_code(c) for t, c in zip(last_turns, contexts)]
    open_code = [t if not c and "shape:ends_open" in cues else None
                 for t, c, cues in zip(last_turns, contexts, cue_lists)]
    untyped_js = [t is not None and untyped_javascript(t, cues) for t, cues in zip(open_code, cue_lists)]
    return ConstraintInputs(named, no_code, open_code, untyped_js)
