"""Grammar evidence: how well each candidate language's tree-sitter grammar parses a prompt's code.

The n-grams and the code identifier know what code *looks like*; a grammar knows what it *is*.
``// doc comments`` then ``function maxElement(l){`` shares most of its n-grams with Go's
comments and ``func`` lines, but JavaScript's grammar parses it (the unclosed brace is a
``MISSING`` node at the end, as any completion prompt has) and Go's rejects it. None of the
usual language identifiers reads a language's own grammar this way (guesslang is a neural net
over files, linguist heuristics and naive Bayes, Pygments lexer scores).

Parsing every prompt with all twelve grammars costs far more than the router's budget (error
recovery in a foreign grammar takes 1-10 ms for 40 lines), so :class:`GrammarEvidence` parses
only the ``candidates`` languages the cheap evidence ranks highest (the router passes the code
identifier's top languages), and only the first :data:`MAX_CODE_BYTES` of the code, cut at a
line end. What it parses is fixed by the prompt alone, so the features (and the route) never
depend on timing or on the rest of a batch.

Per language ``L`` the features are (zeros for a language that was not parsed):

* ``clean:L`` - the share of the code's bytes outside ``ERROR`` nodes (a ``MISSING`` node
  other than at the very end of the code counts as :data:`MISSING_BYTES` bad bytes);
* ``rejected:L`` - one minus that share;
* ``distinctive:L`` - 1 when the parse holds a node only that language's grammar produces,
  starting outside any ``ERROR`` node (:data:`DISTINCTIVE`: Go's ``:=``, C++'s ``std::`` qualified names,
  TypeScript's type annotations, Rust's macros, ...);

and two more: ``best_clean``, the largest clean share among the parsed candidates, and
``none_clean``, 1 when none of them parses at least :data:`CLEAN_ENOUGH` of the code (code in
Kotlin, Haskell or COBOL: no grammar of the twelve accepts it). The router weighs them like
its other features (:mod:`moe_coder.routing.router`).
"""
from __future__ import annotations

import importlib
import re
import threading
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from moe_coder.routing.cues import code_outside_prose

#: The tree-sitter grammar package and the function returning its language, per router label.
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "c": ("tree_sitter_c", "language"),
    "java": ("tree_sitter_java", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "php": ("tree_sitter_php", "language_php_only"),  # code without "<?php", as prompts paste it
    "csharp": ("tree_sitter_c_sharp", "language"),
    "bash": ("tree_sitter_bash", "language"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "sql": ("tree_sitter_sql", "language"),
}
GRAMMAR_LANGUAGES: tuple[str, ...] = tuple(GRAMMARS)

#: Node types only one language's grammar produces: seen outside an error, they are that
#: language's fingerprint. Each must exist in its grammar (checked when the query is built).
DISTINCTIVE: dict[str, tuple[str, ...]] = {
    "python": ("decorated_definition", "list_comprehension", "with_statement", "lambda"),
    "cpp": ("qualified_identifier", "template_declaration", "template_argument_list", "namespace_definition",
            "reference_declarator"),
    "c": ("preproc_include", "pointer_declarator"),
    "java": ("package_declaration", "marker_annotation", "generic_type", "throws"),
    "javascript": ("arrow_function", "template_string", "lexical_declaration"),
    "typescript": ("type_annotation", "interface_declaration", "type_alias_declaration", "type_arguments"),
    "php": ("variable_name", "php_tag"),
    "csharp": ("using_directive", "property_declaration", "accessor_list", "generic_name"),
    "bash": ("command_substitution", "expansion", "test_command", "heredoc_redirect"),
    "go": ("short_var_declaration", "package_clause", "func_literal", "slice_type"),
    "rust": ("macro_invocation", "let_declaration", "scoped_identifier", "reference_type", "lifetime"),
    "sql": ("select", "from", "column_definitions", "create_table"),
}
#: Bytes of a prompt's code that are parsed (the first ones, cut at a line end): about 40 lines.
MAX_CODE_BYTES = 1200
#: Bad bytes charged for each ``MISSING`` node that is not at the end of the code.
MISSING_BYTES = 16
#: Clean share a grammar must reach to count as accepting the code (``none_clean``).
CLEAN_ENOUGH = 0.9


def feature_names(languages: Sequence[str] = GRAMMAR_LANGUAGES) -> list[str]:
    """Column names of :meth:`GrammarEvidence.features`, in order."""
    return ([f"clean:{lang}" for lang in languages] + [f"rejected:{lang}" for lang in languages]
            + [f"distinctive:{lang}" for lang in languages] + ["best_clean", "none_clean"])


#: Comment node types, per grammar (those a grammar lacks are skipped when the query is built).
COMMENT_NODES = ("comment", "line_comment", "block_comment")
#: Non-blank bytes outside comments below which :func:`code_errors` gives no verdict.
MIN_CODE_BYTES = 12


_THREAD = threading.local()


def _parser(language: str) -> Any:
    """This thread's parser for ``language`` (a tree-sitter parser holds parsing state: threads
    that route at once, as a server's may, each get their own)."""
    parsers = getattr(_THREAD, "parsers", None)
    if parsers is None:
        parsers = _THREAD.parsers = {}
    if language not in parsers:
        import tree_sitter

        parsers[language] = tree_sitter.Parser(_grammar(language)[0])
    return parsers[language]


@lru_cache(maxsize=None)
def _grammar(language: str) -> tuple[Any, Any]:
    """``(language, query)`` of one grammar: the query captures errors (``@e``), missing nodes
    (``@m``), the language's distinctive nodes (``@d``) and comments (``@c``)."""
    import tree_sitter

    module_name, function = GRAMMARS[language]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"grammar evidence for {language} needs the {module_name.replace('_', '-')!r} package "
                          f"(pip install {module_name.replace('_', '-')})") from exc
    grammar = tree_sitter.Language(getattr(module, function)())
    patterns = ["(ERROR) @e", "(MISSING) @m"] + [f"({node}) @d" for node in DISTINCTIVE[language]]
    patterns += [f"({node}) @c" for node in COMMENT_NODES if grammar.id_for_node_kind(node, True)]
    return grammar, tree_sitter.Query(grammar, "\n".join(patterns))


def code_head(code: str) -> bytes:
    """The first :data:`MAX_CODE_BYTES` bytes of ``code``, cut at the last line end inside them:
    what is parsed of a prompt's code."""
    data = code.encode("utf-8", "replace")
    if len(data) <= MAX_CODE_BYTES:
        return data
    cut = data.rfind(b"\n", 0, MAX_CODE_BYTES)
    return data[: cut if cut > 0 else MAX_CODE_BYTES]


_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 11, 12, 13, 32]] = True


@lru_cache(maxsize=4096)
def _parse(data: bytes, language: str) -> tuple[float, bool]:
    """``(clean share, distinctive node seen)``: see :func:`parse_code`."""
    import tree_sitter

    size = len(data.rstrip())
    if not size:
        return 0.0, False
    parser, query = _parser(language), _grammar(language)[1]
    captures = tree_sitter.QueryCursor(query).captures(parser.parse(data).root_node)
    errors = sorted((n.start_byte, n.end_byte) for n in captures.get("e", ()))
    bad, end = 0, -1
    for start, stop in errors:
        if stop > end:
            bad += stop - max(start, end)
            end = stop
    missing = MISSING_BYTES * sum(1 for n in captures.get("m", ()) if n.start_byte < size)
    distinctive = any(not any(a <= n.start_byte < b for a, b in errors) for n in captures.get("d", ()))
    return max(0.0, 1.0 - (bad + missing) / size), distinctive


def parse_code(code: bytes | str, language: str) -> tuple[float, bool]:
    """``(clean share, distinctive node seen)`` of ``code`` under ``language``'s grammar.

    The clean share is the fraction of the code's non-blank bytes outside ``ERROR`` nodes, less
    :data:`MISSING_BYTES` per ``MISSING`` node that is not at the end (an unclosed block at the
    end is what every completion prompt has).
    """
    if language not in GRAMMARS:
        raise ValueError(f"no grammar for {language!r}; expected one of {list(GRAMMARS)}")
    data = code.encode("utf-8", "replace") if isinstance(code, str) else code
    return _parse(data, language)


_CLOSER_OF = {b"{": b"}", b"(": b")", b"[": b"]"}
#: What the bracket count skips (comments, one-line string and character literals) and, in its
#: group, the brackets it counts.
_BRACKETS = re.compile(rb"//[^\n]*|/\*.*?(?:\*/|\Z)|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'"
                       rb"|`(?:\\.|[^`\\\n])*`|([{}()\[\]])", re.S)


def _closed(data: bytes) -> bytes:
    """``data`` with the brackets it leaves open closed at the end, as a completion prompt's
    body would be; a stray closer ends the scan (the code is then left as it is). String and
    character literals on one line and ``//`` and ``/* */`` comments are skipped."""
    stack: list[bytes] = []
    for m in _BRACKETS.finditer(data):
        bracket = m.group(1)
        if bracket is None:
            continue
        if bracket in _CLOSER_OF:
            stack.append(_CLOSER_OF[bracket])
        elif not stack or stack[-1] != bracket:
            return data
        else:
            stack.pop()
    return data + b"\n" + b"".join(reversed(stack)) if stack else data


def _untagged(data: bytes, language: str) -> bytes:
    """``data`` with PHP's ``<?php`` and ``?>`` tags blanked (same length) for PHP's grammar: the
    php-only grammar rejects the tags around the PHP code prompts paste."""
    return data.replace(b"<?php", b"     ").replace(b"?>", b"  ") if language == "php" else data


@lru_cache(maxsize=4096)
def _code_errors(data: bytes, language: str) -> tuple[int, bool] | None:
    parser, query = _parser(language), _grammar(language)[1]
    data = _closed(_untagged(data, language))
    import tree_sitter

    captures = tree_sitter.QueryCursor(query).captures(parser.parse(data).root_node)
    raw = np.frombuffer(data, dtype=np.uint8)
    code = ~_BLANK[raw]
    for node in captures.get("c", ()):
        code[node.start_byte:node.end_byte] = False
    if int(code.sum()) < MIN_CODE_BYTES:
        return None
    errors = captures.get("e", ())
    distinctive = any(not any(e.start_byte <= n.start_byte < e.end_byte for e in errors) for n in captures.get("d", ()))
    return len(errors) + len(captures.get("m", ())), distinctive


def comment_and_string_spans(code: bytes, language: str) -> list[tuple[int, int]] | None:
    """The byte spans of the comments and string literals ``language``'s grammar finds in
    ``code`` once the brackets it leaves open are closed (as :func:`code_errors` closes them), or
    ``None`` when the parse holds an ``ERROR`` or ``MISSING`` node. PHP's tags are blanked first."""
    if language not in GRAMMARS:
        raise ValueError(f"no grammar for {language!r}; expected one of {list(GRAMMARS)}")
    root = _parser(language).parse(_closed(_untagged(code, language))).root_node
    if root.has_error:
        return None
    spans, stack = [], [root]
    while stack:
        node = stack.pop()
        if "comment" in node.type or "string" in node.type:
            spans.append((node.start_byte, node.end_byte))
        else:
            stack.extend(node.children)
    return spans


def code_errors(code: bytes | str, language: str) -> tuple[int, bool] | None:
    """``(errors, distinctive)``: how many ``ERROR`` and ``MISSING`` nodes ``language``'s grammar
    finds in ``code``, once the brackets ``code`` leaves open are closed at its end (a completion
    prompt stops inside a body), and whether the parse holds one of the language's
    :data:`DISTINCTIVE` nodes outside an error; ``None`` when fewer than :data:`MIN_CODE_BYTES`
    non-blank bytes lie outside comments (doc comments parse in most grammars and tell them apart
    from nothing).

    ``// >>> f([1])`` lines then ``function f(l){`` has no error for JavaScript and one for Go;
    the router's grammar constraint (:mod:`moe_coder.routing.constraints`) reads it."""
    if language not in GRAMMARS:
        raise ValueError(f"no grammar for {language!r}; expected one of {list(GRAMMARS)}")
    data = code.encode("utf-8", "replace") if isinstance(code, str) else code
    return _code_errors(data, language) if data.strip() else None


class GrammarEvidence:
    """Grammar features of prompts' code for their candidate languages (see the module docstring).

    ``languages`` are the label languages the columns are laid out over (those without a
    grammar get no column); ``candidates`` is how many of each prompt's most likely languages
    are parsed.
    """

    def __init__(self, languages: Sequence[str] = GRAMMAR_LANGUAGES, candidates: int = 3) -> None:
        unknown = sorted(set(languages) - set(GRAMMARS))
        if unknown:
            raise ValueError(f"no grammar for {unknown}; expected some of {list(GRAMMARS)}")
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, found {candidates}")
        self.languages = list(languages)
        self.candidates = candidates

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return feature_names(self.languages)

    def features(self, texts: Sequence[str], scores: np.ndarray, score_languages: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(names))`` grammar features of each text's code.

        ``scores[i, j]`` ranks how likely ``score_languages[j]`` is for text ``i`` (the code
        identifier's probabilities); the text's top :attr:`candidates` languages that have a
        grammar are parsed. A text without code, or with all-zero scores, gets zeros.
        """
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != (len(texts), len(score_languages)):
            raise ValueError(f"scores must have shape ({len(texts)}, {len(score_languages)}), found {scores.shape}")
        column = {lang: j for j, lang in enumerate(self.languages)}
        usable = np.array([lang in column for lang in score_languages])
        k = len(self.languages)
        out = np.zeros((len(texts), 3 * k + 2), dtype=np.float32)
        for i, text in enumerate(texts):
            row = np.where(usable, scores[i], -np.inf)
            if not np.isfinite(row).any() or row.max() <= 0:
                continue
            code = code_head(code_outside_prose(text))
            if not code.strip():
                continue
            order = [j for j in np.argsort(-row, kind="stable")[: self.candidates] if np.isfinite(row[j])]
            best = 0.0
            for j in order:
                lang = score_languages[j]
                clean, distinctive = parse_code(code, lang)
                c = column[lang]
                out[i, c], out[i, k + c], out[i, 2 * k + c] = clean, 1.0 - clean, float(distinctive)
                best = max(best, clean)
            out[i, 3 * k], out[i, 3 * k + 1] = best, float(best < CLEAN_ENOUGH)
        return out
