"""Build the router's labelled prompts: ``router_training/data/{train,validation,test}.jsonl.gz``.

Real code from Debian / npm / PyPI packages (see ``sources.py``) and real prompts from
../shared/data (GPTeacher code instructions, MBPP, HumanEval, HumanEval-X) are wrapped into
the seven tasks with the phrase banks in ``phrasing.py`` and, for fixes, refactorings and tests,
with the packages' own changelog entries (``changelogs.py``: "Simplify getpwuid call"). The split is by source: every
package (or module of a big package), every dataset, and every phrasing belongs to exactly one
of train / validation / test, so the test figure measures prompts from unseen code *and*
unseen wording. HumanEval and HumanEval-X are test-only; MBPP is train-only.

It also writes, from the training-split packages only:

* ``lexicon.tsv.gz`` (see ``moe_coder/routing/lexicon.py``): the identifiers that belong to
  one language's code;
* ``code.jsonl.gz`` (see ``moe_coder/routing/code_language.py``): windows of code with their
  language and source, which the router's code-language identifier learns from;

and adds to the training prompts copies of some that name a tool, the tool replaced by an
identifier of the lexicon (:func:`name_substitutes`) or by a package-registry name
(:func:`package_substitutes`, from ``packages.tsv.gz``).

    # needs apt-get, npm and pip with access to their registries (a few minutes, ~250 MB in --cache)
    python router_training/build_data.py --fetch --cache /tmp/router-sources
    # rebuild from an existing cache; deterministic for a given --seed
    python router_training/build_data.py --cache /tmp/router-sources --shared ../shared/data
    # only the lexicon and the code corpus
    python router_training/build_data.py --cache /tmp/router-sources --lexicon-only
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import phrasing  # noqa: E402
from moe_coder.atomic import atomic_output  # noqa: E402
from moe_coder.jsonl import iter_jsonl  # noqa: E402
from moe_coder.languages import LANGUAGES  # noqa: E402
from moe_coder.routing.lexicon import TOKEN, Lexicon, PackageNames  # noqa: E402
from errors import error_message, identifiers  # noqa: E402
import changelogs  # noqa: E402
from sources import collect, cut_snippets, fetch, other_language_name, source_files  # noqa: E402

logger = logging.getLogger("build_data")

LANGS = [language.id for language in LANGUAGES]
SPLITS = ("train", "validation", "test")
#: Code of a language outside the twelve is fenced and named as Ruby, Perl or Lua code.
_UNKNOWN_FENCE_TAGS, _UNKNOWN_EXTENSION = ["ruby", "perl", "lua", "rb"], ".rb"
FENCE_TAGS = {**{language.id: list(language.fence_tags) for language in LANGUAGES}, "unknown": _UNKNOWN_FENCE_TAGS}
EXTENSIONS = {**{language.id: "." + language.extensions[0] for language in LANGUAGES}, "unknown": _UNKNOWN_EXTENSION}
#: How often a fix, refactor or test request is a changelog entry of its split's packages, where there is one.
CHANGELOG_SHARE = 0.3
#: How often a fix request about pasted code reports the misbehaviour instead (a changelog fix entry of its
#: split's packages without its verb, ``changelogs.symptom``), where its split has such entries.
SYMPTOM_SHARE = 0.35
#: Share of each language's code snippets turned into each task (translate draws a target language).
CODE_TASKS = {"complete": 0.2, "fix": 0.17, "explain": 0.14, "test": 0.11, "refactor": 0.13, "translate": 0.17, "generate": 0.08}


def split_of(key: str, test: float = 0.2, validation: float = 0.15) -> str:
    """Deterministic split of a source or phrasing by the hash of its name (shared data keep theirs)."""
    fixed = {"gpteacher-code-train": "train", "gpteacher-code-validation": "validation", "mbpp-code": "train"}
    if key in fixed:
        return fixed[key]
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test else "validation" if h < test + validation else "train"


class Banks:
    """Phrase banks cut into per-split parts: the i-th phrasing of a bank belongs to one split."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str], list[str]] = {}

    def pick(self, bank: list[str], split: str, rng: random.Random) -> str:
        key = (id(bank), split)
        if key not in self._cache:
            parts = {s: [p for i, p in enumerate(bank) if _phrase_split(i) == s] for s in SPLITS}
            self._cache.update({(id(bank), s): parts[s] or bank for s in SPLITS})
        return rng.choice(self._cache[key])


def _phrase_split(i: int) -> str:
    return "test" if i % 6 == 5 else "validation" if i % 6 == 2 else "train"


def name_of(language: str, rng: random.Random) -> str:
    return rng.choice(phrasing.LANGUAGE_NAMES[language]) if language in phrasing.LANGUAGE_NAMES else rng.choice(phrasing.OTHER_LANGUAGES)


def present_code(code: str, language: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return f"```{rng.choice(FENCE_TAGS[language])}\n{code}\n```"
    if r < 0.6:
        return f"```\n{code}\n```"
    if r < 0.68:
        stem = rng.choice(["main", "utils", "app", "handler", "lib", "index", "service", "query", "script"])
        return f"{stem}{EXTENSIONS[language]}:\n{code}"
    return code


def noisy(text: str, rng: random.Random) -> str:
    """People's typing: lower case, no final punctuation, an opener."""
    if rng.random() < 0.15:
        text = text.lower()
    if rng.random() < 0.2:
        text = text.rstrip(".?!:")
    return rng.choice(phrasing.STYLE_PREFIXES) + text


def combine(request: str, code: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return f"{request}\n\n{code}"
    if r < 0.9:
        return f"{code}\n\n{request}"
    return f"{request}\n{code}"


def fill(template: str, rng: random.Random, **values: str) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


#: What people leave where the code should go, in each language's comment syntax (five each).
PLACEHOLDERS = {
    "python": ["    # TODO", "    ...", "    pass  # fill in", "    # your code here", "    raise NotImplementedError"],
    "bash": ["    # TODO", "    # your code here", "    :  # fill in", "    # ...", "    # TODO: implement"],
    "sql": ["-- TODO", "-- your query here", "-- ...", "-- fill in", "-- TODO: finish"],
    "unknown": ["    # TODO", "    -- TODO", "    // TODO", "    ...", "    # your code here"],
}
_C_STYLE = ["    // TODO", "    // TODO: implement", "    ...", "  // your code here", "    /* fill in */"]


def truncate_for_completion(code: str, language: str, rng: random.Random) -> str:
    lines = code.splitlines()
    cut = max(2, int(len(lines) * rng.uniform(0.35, 0.85)))
    head = lines[:cut]
    if rng.random() < 0.3 and head[-1].strip():
        last = head[-1]
        head[-1] = last[: max(1, int(len(last) * rng.uniform(0.3, 0.9)))]
    text = "\n".join(head)
    if rng.random() < 0.25:
        text += "\n" + rng.choice(PLACEHOLDERS.get(language, _C_STYLE))
    return text


# ---------------------------------------------------------------- real prompts from ../shared/data
_MENTION = [
    ("cpp", r"C\+\+|\bcpp\b"), ("csharp", r"C#|\bC Sharp\b|\.NET\b"), ("typescript", r"\bTypeScript\b"),
    ("javascript", r"\bJavaScript\b|\bNode\.?js\b|\bJS\b|\bjQuery\b|\bReact\b"), ("java", r"\bJava\b(?!Script)"),
    ("python", r"\bPython\b"), ("php", r"\bPHP\b"), ("bash", r"\b(?:[Ss]hell|[Bb]ash|Unix|Linux command)\b"),
    ("sql", r"\bSQL\b|\bMySQL\b|\bPostgreSQL\b|\bSQLite\b"), ("go", r"\bGo(?:lang)?\b(?! to\b)"), ("rust", r"\bRust\b"),
    ("c", r"\bC\b(?![+#])(?! Sharp)"),
]
_OTHER = r"\b(?:CSS|HTML|Ruby|Kotlin|Swift|Perl|Haskell|Scala|R|Lua|MATLAB|Dart|Elixir|Julia|Fortran|Assembly|Regex|regular expression)\b"
_TASKS = [
    ("translate", r"\b(?:translate|convert|rewrite|port)\b.{0,80}\b(?:to|into|in)\b"),
    ("test", r"\b(?:unit tests?|test cases?|write tests?)\b"),
    ("fix", r"\b(?:fix|bug|debug|correct(?:ed)? (?:the|this|version)|errors?|wrong|issue)\b"),
    ("explain", r"\b(?:explain|what (?:will|would|does|is) (?:be )?the output|what does|describe what|output of)\b"),
    ("refactor", r"\b(?:refactor|optimi[sz]e|improve|more efficient|simplify|more readable)\b"),
    ("complete", r"\b(?:complete the|fill in|finish the)\b"),
]


def mentions(text: str) -> list[tuple[int, str]]:
    found = []
    for lang, rx in _MENTION:
        for m in re.finditer(rx, text):
            found.append((m.start(), lang))
    return sorted(found)


def label_instruction(instruction: str) -> tuple[str, str, str | None] | None:
    """(language, task, source_language) read from an instruction's wording; None when unclear."""
    found = mentions(instruction)
    task = next((t for t, rx in _TASKS if re.search(rx, instruction, re.I)), "generate")
    if not found:
        return ("unknown", task, None) if re.search(_OTHER, instruction) else None
    equivalent = re.search(r"\bequivalent ([A-Za-z+#.]+) (?:code|function|version) (?:for|of) the following ([A-Za-z+#.]+)", instruction)
    if equivalent:
        task = "translate"
    if task == "translate":
        target = re.search(r"\b(?:to|into|in)\s+(?:an? )?(?:equivalent )?([A-Za-z+#.]+)", instruction.split("code", 1)[-1])
        target_word = equivalent.group(1) if equivalent else target.group(1) if target else ""
        langs = [lang for _, lang in found]
        if re.fullmatch(_OTHER, target_word):
            return "unknown", task, langs[0]
        tgt = next((lang for lang, rx in _MENTION if re.fullmatch(rx, target_word)), langs[-1])
        src = next((lang for lang in langs if lang != tgt), None)
        return (tgt, task, src) if src else (tgt, "generate", None)
    return found[0][1], task, None


def gpteacher(shared: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """Labelled instructions, and the code of their answers as ``(language, code)`` snippets."""
    rows, code = [], []
    for r in json.loads((shared / "instruct" / "gpteacher-codegen-instruct.json").read_text()):
        label = label_instruction(r["instruction"])
        if label is None:
            continue
        prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"].strip() else "")
        rows.append(_row(prompt, *label, source="gpteacher"))
        answer = re.sub(r"^```\w*\n|\n```\s*$", "", r["response"].strip())
        if label[0] != "unknown" and label[1] != "explain" and answer.count("\n") >= 2 and "```" not in answer:
            code.append((label[0], answer))
    return rows, code


def mbpp_code(shared: Path) -> list[str]:
    return [record["code"].replace("\r\n", "\n") for _, record in iter_jsonl(shared / "mbpp" / "mbpp.jsonl")]


def mbpp_descriptions(shared: Path) -> list[str]:
    out = []
    for _, record in iter_jsonl(shared / "mbpp" / "mbpp.jsonl"):
        text = record["text"].strip().rstrip(".")
        desc = re.sub(r"^(?:Write|Create) an? (?:python )?(?:function|program|method)(?: that| which| to)? ", "", text, flags=re.I)
        if desc != text and len(desc) > 10:
            out.append(desc[0].lower() + desc[1:])
    return out


def humaneval_x(shared: Path) -> dict[str, list[dict]]:
    """HumanEval-X's problems by language, Python last (the order the test split is drawn in)."""
    languages = sorted((language for language in LANGUAGES if language.humaneval_x), key=lambda language: language.id == "python")
    return {
        language.id: [record for _, record in iter_jsonl(shared / "humaneval-x" / f"humaneval_{language.humaneval_x}.jsonl.gz")]
        for language in languages
    }


def _docstring_summary(prompt: str) -> str | None:
    m = re.search(r'"""\s*(.+?)(?:\.\s|\n\s*\n|>>>|For example|Example)', prompt, flags=re.S)
    if not m:
        return None
    text = " ".join(m.group(1).split())
    return (text[0].lower() + text[1:]).rstrip(".") if 15 < len(text) < 300 else None


def _row(prompt: str, language: str, task: str, source_language: str | None = None, *, source: str) -> dict:
    row = {"prompt": prompt, "language": language, "task": task}
    if task == "translate":
        row["source_language"] = source_language or "unknown"
    row["source"] = source
    return row


#: A code name in a changelog entry: a backticked span, or a word with an underscore, a lower-to-upper
#: case change, a member access or call parentheses (``uv_exepath``, ``UdpSocket``, ``res.render()``).
_CODE_NAME = re.compile(r"`[^`]+`|\b[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)+(?:\(\))?|"
                        r"\b(?=[\w$]*(?:_|[a-z][A-Z]))[A-Za-z_$][\w$]*(?:\(\))?")


def with_own_identifiers(entry: str, code: str, rng: random.Random) -> str:
    """``entry`` with each code name replaced by one of ``code``'s identifiers, so that a bug report taken
    from another package's changelog speaks of the pasted code (and of its language), not of the package
    it came from: "`res.render` throws when ..." about PHP code names a PHP identifier."""
    names = sorted(set(identifiers(code)))
    # the code's own code names where it has them ("parse_config", "readAll"), else its longer words
    names = ([n for n in names if _CODE_NAME.fullmatch(n)] or [n for n in names if len(n) >= 4] or names)

    def own(m: re.Match) -> str:
        name = rng.choice(names)
        return f"`{name}`" if m.group(0).startswith("`") else name + ("()" if m.group(0).endswith("()") else "")

    return _CODE_NAME.sub(own, entry)


# ---------------------------------------------------------------- wrapping real code into tasks
class Builder:
    def __init__(self, seed: int, changelog: dict[str, dict[str, list[str]]] | None = None) -> None:
        self.rng = random.Random(seed)
        self.banks = Banks()
        self.rows: dict[str, list[dict]] = defaultdict(list)
        #: ``{split: {task: [request, ...]}}``: changelog entries of the packages of each split
        self.changelog = changelog or {}
        #: ``{split: [misbehaviour, ...]}``: the split's fix entries that name what goes wrong
        self.symptoms = {split: [s for s in map(changelogs.symptom, by_task.get("fix", [])) if s]
                         for split, by_task in self.changelog.items()}
        # its own stream of draws, so that every other prompt is drawn as it is without symptom reports
        self.symptom_rng = random.Random(f"{seed}-symptoms")

    def add(self, split: str, row: dict) -> None:
        self.rows[split].append(row)

    def code_task(self, split: str, source: str, language: str, code: str, task: str, descs: list[str]) -> dict:
        rng, banks = self.rng, self.banks
        lname = name_of(language, rng) if language != "unknown" else (
            other_language_name(source) or rng.choice(["Ruby", "Perl", "Lua"]))
        if task == "complete":
            partial = truncate_for_completion(code, language, rng)
            if rng.random() < 0.45:
                return _row(partial if rng.random() < 0.7 else present_code(partial, language, rng), language, task, source=source)
            request = noisy(fill(banks.pick(phrasing.CODE_REQUESTS["complete"], split, rng), rng, L=lname), rng)
            return _row(combine(request, present_code(partial, language, rng), rng), language, task, source=source)
        if task == "translate":
            target = rng.choice([lang for lang in LANGS if lang != language] + ["unknown"])
            request = fill(banks.pick(phrasing.TRANSLATE, split, rng), rng, L=name_of(target, rng), S=lname)
            return _row(combine(noisy(request, rng), present_code(code, language, rng), rng), target, task, language, source=source)
        if task == "fix" and rng.random() < 0.3:
            err = error_message(language, code, rng)
            prompt = fill(banks.pick(phrasing.FIX_PROSE, split, rng), rng, err=err, L=lname)
            return _row(prompt, language, task, source=source)
        own_words = self.changelog.get(split, {}).get(task)
        if own_words and rng.random() < CHANGELOG_SHARE:
            request = rng.choice(own_words)
        else:
            request = fill(banks.pick(phrasing.CODE_REQUESTS[task], split, rng), rng, L=lname, desc=rng.choice(descs))
        symptoms = self.symptoms.get(split) if task == "fix" else None
        if symptoms and self.symptom_rng.random() < SYMPTOM_SHARE:
            srng = self.symptom_rng
            report = with_own_identifiers(srng.choice(symptoms), code, srng)
            request = fill(banks.pick(phrasing.SYMPTOM_REPORTS, split, srng), srng, s=report)
        request = noisy(request, rng)
        body = present_code(code, language, rng)
        if task == "fix" and rng.random() < 0.75:
            body = f"{body}\n\n{error_message(language, code, rng)}"
        return _row(combine(request, body, rng), language, task, source=source)

    def prose(self, split: str, source: str, language: str, descs: list[str]) -> dict:
        """A request without code: generate mostly; also explain a concept, write tests, fix an error,
        or any of these naming only a library or tool of the language."""
        rng, banks = self.rng, self.banks
        own = phrasing.LANGUAGE_DESCRIPTIONS.get(language, [])
        desc = rng.choice(descs) if not own or rng.random() < 0.6 else banks.pick(own, split, rng)
        lname = name_of(language, rng)
        if rng.random() < 0.2:
            task = rng.choices(list(phrasing.ECOSYSTEM_PROMPTS), weights=[5, 2, 2, 1])[0]
            tool = banks.pick(phrasing.ECOSYSTEM[language], split, rng)
            prompt = fill(banks.pick(phrasing.ECOSYSTEM_PROMPTS[task], split, rng), rng, T=tool, desc=desc)
            return _row(noisy(prompt, rng), language, task, source=source)
        r = rng.random()
        if r < 0.62:
            return _row(noisy(fill(banks.pick(phrasing.GENERATE, split, rng), rng, L=lname, desc=desc), rng), language, "generate", source=source)
        if r < 0.77:
            other = rng.choice([lang for lang in LANGS if lang != language])
            t = banks.pick(phrasing.INCIDENTAL, split, rng)
            prompt = fill(t, rng, L=lname, O=phrasing.LANGUAGE_NAMES[other][0], feat=rng.choice(phrasing.FEATURES[other]), desc=desc)
            return _row(noisy(prompt, rng), language, "generate", source=source)
        if r < 0.87:
            prompt = fill(banks.pick(phrasing.EXPLAIN_CONCEPT, split, rng), rng, L=lname, feat=rng.choice(phrasing.FEATURES[language]))
            return _row(noisy(prompt, rng), language, "explain", source=source)
        if r < 0.94:
            return _row(noisy(fill(banks.pick(phrasing.TEST_PROSE, split, rng), rng, L=lname, desc=desc), rng), language, "test", source=source)
        err = error_message(language, desc, rng)
        return _row(fill(banks.pick(phrasing.FIX_PROSE, split, rng), rng, err=err, L=lname), language, "fix", source=source)

    def no_language(self, split: str, descs: list[str]) -> dict:
        rng, banks = self.rng, self.banks
        r = rng.random()
        if r < 0.55:
            task = rng.choices(list(phrasing.NO_LANGUAGE), weights=[6, 2, 1, 1, 1])[0]
            prompt = fill(banks.pick(phrasing.NO_LANGUAGE[task], split, rng), rng, desc=rng.choice(descs))
            return _row(noisy(prompt, rng), "unknown", task, source="no-language")
        other = rng.choice(phrasing.OTHER_LANGUAGES)
        prompt = fill(banks.pick(phrasing.GENERATE, split, rng), rng, L=other, desc=rng.choice(descs))
        return _row(noisy(prompt, rng), "unknown", "generate", source="other-language")


def _words(desc: str) -> list[str]:
    words = [w for w in re.findall(r"[A-Za-z]+", desc.lower()) if w not in {"a", "an", "the", "of", "to", "and", "in", "given", "that", "is"}]
    return words[:3] or ["solve"]


def stub(language: str, desc: str, rng: random.Random) -> str:
    """A function header with its description as a doc comment, left open for completion."""
    w = _words(desc)
    snake, camel, pascal = "_".join(w), w[0] + "".join(x.title() for x in w[1:]), "".join(x.title() for x in w)
    text = desc[0].upper() + desc[1:] + "."
    example = f"{snake}(3) == 6" if rng.random() < 0.4 else ""
    forms = {
        "python": [f'def {snake}(items):\n    """{text}\n    {">>> " + example if example else ""}\n    """\n',
                   f"# {text}\ndef {snake}(s: str, n: int) -> list[int]:\n"],
        "cpp": [f"/*\n{text}\n*/\n#include<vector>\n#include<string>\nusing namespace std;\nint {snake}(vector<int> v){{\n",
                f"// {text}\nstd::string {camel}(const std::string& s) {{\n"],
        "c": [f"/* {text} */\nint {snake}(const int *arr, size_t n) {{\n", f"#include <stdlib.h>\n\n/* {text} */\nchar *{snake}(const char *s)\n{{\n"],
        "java": [f"class Solution {{\n    /**\n     * {text}\n     */\n    public int {camel}(List<Integer> nums) {{\n",
                 f"import java.util.*;\n\npublic class {pascal} {{\n    // {text}\n    public static String {camel}(String s) {{\n"],
        "javascript": [f"/* {text}\n  */\nconst {camel} = (arr) => {{\n", f"// {text}\nfunction {camel}(list, n) {{\n",
                       f"/**\n * {text}\n * @param {{number[]}} nums\n */\nexport function {camel}(nums) {{\n"],
        "typescript": [f"/**\n * {text}\n */\nexport function {camel}(items: string[]): number {{\n",
                       f"// {text}\nconst {camel} = (n: number): boolean => {{\n"],
        "php": [f"<?php\n/**\n * {text}\n */\nfunction {camel}(array $items): int\n{{\n", f"<?php\n// {text}\nfunction {snake}($s) {{\n"],
        "csharp": [f"/// <summary>\n/// {text}\n/// </summary>\npublic static int {pascal}(List<int> values)\n{{\n",
                   f"public class {pascal}Service\n{{\n    // {text}\n    public bool {pascal}(string input)\n    {{\n"],
        "bash": [f"#!/bin/bash\n# {text}\n{snake}() {{\n", f"# {text}\n{snake}() {{\n    local input=\"$1\"\n"],
        "go": [f"// {text}\nfunc {pascal}(nums []int) int {{\n", f"package main\n\nimport \"strings\"\n\n// {pascal} {desc}.\nfunc {pascal}(s string) []string {{\n"],
        "rust": [f"/// {text}\nfn {snake}(v: &[i32]) -> i32 {{\n", f"/*\n {text}\n*/\nuse std::collections::HashMap;\nfn {snake}(s: &str) -> HashMap<char, usize> {{\n"],
        "sql": [f"-- {text}\nSELECT ", f"-- {text}\nCREATE OR REPLACE FUNCTION {snake}(p_id integer)\nRETURNS integer AS $$\nBEGIN\n"],
    }
    return rng.choice(forms[language])


def junk(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(["", " ", "\n\n", "\t", "?", "...", "hi", "help", "asdf", "ok thanks"])
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(20, 400))).decode("latin-1")
    if kind == 2:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(5, 200)))
    return " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet", "foo", "bar", "42", "%%", "==>"]) for _ in range(rng.randrange(3, 60)))


def balanced(items: list[tuple[str, str]], budget: int, rng: random.Random) -> list[tuple[str, str]]:
    """Up to ``budget`` items taken round-robin across sources, so no single package dominates."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, code in items:
        by_source[source].append(code)
    queues = [(s, rng.sample(v, len(v))) for s, v in sorted(by_source.items())]
    rng.shuffle(queues)
    out: list[tuple[str, str]] = []
    while len(out) < budget and any(q for _, q in queues):
        for source, q in queues:
            if q and len(out) < budget:
                out.append((source, q.pop()))
    return out


def changelog_requests(cache: Path) -> dict[str, dict[str, list[str]]]:
    """``{split: {task: [request, ...]}}``: each package's changelog entries go to the package's split."""
    out: dict[str, dict[str, list[str]]] = {}
    for package, by_task in changelogs.collect(cache).items():
        for task, requests in by_task.items():
            out.setdefault(split_of(package), {}).setdefault(task, []).extend(requests)
    for split, by_task in sorted(out.items()):
        logger.info("changelog requests, %s: %s", split, {t: len(r) for t, r in sorted(by_task.items())})
    return out


def build(cache: Path, shared: Path, seed: int, per_language: int, per_source: int = 60) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    b = Builder(seed, changelog_requests(cache))
    snippets = collect(cache, per_source=per_source, seed=seed)
    mbpp = mbpp_descriptions(shared)
    own = phrasing.DESCRIPTIONS
    descs = {
        "train": mbpp + [d for i, d in enumerate(own) if _phrase_split(i) == "train"],
        "validation": [d for i, d in enumerate(own) if _phrase_split(i) == "validation"],
        "test": [d for i, d in enumerate(own) if _phrase_split(i) == "test"],
    }
    teacher, teacher_code = gpteacher(shared)
    for language, code in teacher_code:
        split = "validation" if split_of(code, 0.0, 0.15) == "validation" else "train"
        snippets.setdefault(language, []).append((f"gpteacher-code-{split}", code))
    for code in mbpp_code(shared):
        snippets["python"].append(("mbpp-code", code))
    for row in teacher:
        b.add("validation" if split_of(row["prompt"], 0.0, 0.15) == "validation" else "train", row)
        if row["language"] != "unknown" and split_of(row["prompt"], 0.0, 0.15) != "validation":
            m = re.match(r"(?:Write|Create|Implement|Design|Develop) an? .{0,40}?(?:function|program|script|method|class)(?: that| which| to)? (.+?)[.?]?$", row["prompt"].split("\n")[0])
            if m and len(m.group(1)) > 15:
                descs["train"].append(m.group(1))
    he = humaneval_x(shared)
    verbs = ("return", "check", "find", "count", "write", "implement", "compute", "calculate", "create", "sort", "filter", "concatenate", "insert")
    he_descs = [d for d in (_docstring_summary(p["prompt"]) for p in he["python"]) if d and d.startswith(verbs)]
    descs["test"] += he_descs
    tasks, weights = list(CODE_TASKS), list(CODE_TASKS.values())
    for language in [*LANGS, "unknown"]:
        items = balanced(snippets.get(language, []), per_language, rng)
        for source, code in items:
            split = split_of(source)
            task = rng.choices(tasks, weights=weights)[0]
            b.add(split, b.code_task(split, source, language, code, task, descs[split]))
        if language == "unknown":
            continue
        for _ in range(per_language // 4):
            split = rng.choices(SPLITS, weights=[0.7, 0.12, 0.18])[0]
            b.add(split, _row(stub(language, rng.choice(descs[split]), rng), language, "complete", source=f"stubs-{split}"))
        for _ in range(per_language // 3):
            split = rng.choices(SPLITS, weights=[0.7, 0.12, 0.18])[0]
            b.add(split, b.prose(split, f"prose-{split}", language, descs[split]))
    for _ in range(per_language):
        split = rng.choices(SPLITS, weights=[0.7, 0.12, 0.18])[0]
        b.add(split, b.no_language(split, descs[split]))
    for i in range(per_language // 4):
        split = SPLITS[i % 3]
        b.add(split, _row(junk(rng), "unknown", "generate", source="junk"))
    for language, problems in he.items():
        for p in problems:
            header = p["prompt"] if p["declaration"].strip() in p["prompt"] else p["prompt"] + p["declaration"]
            code = header + p["canonical_solution"]
            if rng.random() < 0.4:
                b.add("test", _row(header, language, "complete", source=f"humaneval-x-{language}"))
            else:
                task = rng.choices(tasks[1:], weights=weights[1:])[0]
                b.add("test", b.code_task("test", f"humaneval-x-{language}", language, code, task, descs["test"]))
    for split in SPLITS:
        rng.shuffle(b.rows[split])
    return b.rows


def name_substitutes(rows: list[dict], lexicon: Lexicon, seed: int, fraction: float = 0.3,
                     min_share: float = 0.95) -> list[dict]:
    """Copies of about ``fraction`` of the training prompts that name a tool of their language
    ("con Django", "my Jest mocks"), the tool replaced by an identifier the lexicon gives to that
    language alone (a share of at least ``min_share``).

    The training tools' own n-grams settle their prompts, so without these copies the heads give
    the lexicon's columns little weight, and a prompt naming a library no training prompt names
    ("Was macht vitest genau?") is routed as if it named none. The identifiers come from the
    training-split packages' lexicon, so nothing of the validation or test tools is used."""
    names = {
        lang: sorted(t for t, shares in zip(lexicon.tokens, lexicon.shares) if shares[i] >= min_share and len(t) >= 3)
        for i, lang in enumerate(lexicon.languages)
    }
    return _swap_tools(rows, names, random.Random(seed + 1), fraction)


def package_substitutes(rows: list[dict], packages: PackageNames, seed: int, fraction: float = 0.3,
                        min_share: float = 0.95) -> list[dict]:
    """Copies of about ``fraction`` of the training prompts that name a tool of their language, the
    tool replaced by a package-registry name one language holds (``packages.tsv.gz``: "parse
    arguments with picocli"), as :func:`name_substitutes` does with the lexicon's identifiers.

    A prompt that names nothing but a package is routed by the package table's columns; without
    copies like these the heads learn those columns from code identifiers only, and a short
    prompt naming only a package goes to ``unknown``. No tool of any split's phrase bank is used,
    nor a name that contains one ("jest-cli"), so the validation and test tools stay unseen. The
    copies draw from their own random stream: every other prompt is unchanged."""
    bank_tools = [t.lower() for bank in phrasing.ECOSYSTEM.values() for t in bank]
    names = {
        lang: sorted(t for t, shares in zip(packages.tokens, packages.shares)
                     if shares[i] >= min_share and len(t) >= 3 and not any(b in t for b in bank_tools))
        for i, lang in enumerate(packages.languages)
    }
    return _swap_tools(rows, names, random.Random(seed + 2), fraction)


def _swap_tools(rows: list[dict], names: dict[str, list[str]], rng: random.Random, fraction: float) -> list[dict]:
    """Copies of about ``fraction`` of the prose prompts that name a training tool of their
    language, the tool (the longest one named) replaced by one of ``names[language]``."""
    tools = {t: lang for lang, bank in phrasing.ECOSYSTEM.items() for i, t in enumerate(bank) if _phrase_split(i) == "train"}
    out = []
    for row in rows:
        prompt, language = row["prompt"], row["language"]
        if not row["source"].startswith("prose-") or not isinstance(prompt, str) or not names.get(language):
            continue
        found = [t for t, lang in tools.items() if lang == language and t in prompt]
        if found and rng.random() < fraction:
            out.append({**row, "prompt": prompt.replace(max(found, key=len), rng.choice(names[language]))})
    return out


def write(rows: dict[str, list[dict]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        with atomic_output(out / f"{split}.jsonl.gz", compress=True) as fh:
            for row in items:
                fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
        langs = Counter(r["language"] for r in items)
        tasks = Counter(r["task"] for r in items)
        logger.info("%s: %d prompts; languages %s; tasks %s", split, len(items), dict(langs), dict(tasks))


def lexicon_counts(cache: Path) -> tuple[dict[str, Counter], Counter]:
    """``({identifier: {language: files}}, {language: files})`` over the *training-split* sources
    only, so that the lexicon knows nothing the validation and test prompts are cut from."""
    counts: dict[str, Counter] = defaultdict(Counter)
    files: Counter = Counter()
    for (language, source), paths in sorted(source_files(cache).items()):
        if language == "unknown" or split_of(source) != "train":
            continue
        for path in paths:
            files[language] += 1
            for token in set(TOKEN.findall(path.read_text(errors="replace")[:200_000])):
                counts[token][language] += 1
    return counts, files


def write_lexicon(cache: Path, out: Path, min_files: int, min_share: float) -> Lexicon:
    counts, files = lexicon_counts(cache)
    lexicon = Lexicon.from_counts(counts, files, min_files=min_files, min_share=min_share)
    out.mkdir(parents=True, exist_ok=True)
    lexicon.save(out / "lexicon.tsv.gz")
    logger.info("lexicon: %d identifiers from %d training-split files %s", len(lexicon), sum(files.values()), dict(files))
    return lexicon


def _shuffled_and_capped(by_language: dict[str, list[dict]], per_language: int, rng: random.Random) -> list[dict]:
    """Each language's rows shuffled and cut to ``per_language``, languages in name order."""
    rows = []
    for language in sorted(by_language):
        items = by_language[language]
        rng.shuffle(items)
        rows += items[:per_language]
    return rows


def code_corpus(cache: Path, per_language: int, seed: int, files_per_source: int = 400, per_file: int = 12) -> list[dict]:
    """``[{"code", "language", "source"}]``: up to ``per_language`` windows of code a language (``unknown``:
    Ruby, Perl, Lua), cut like the prompts' snippets from the *training-split* packages only."""
    rng = random.Random(seed)
    by_language: dict[str, list[dict]] = defaultdict(list)
    for (language, source), paths in sorted(source_files(cache).items()):
        if split_of(source) != "train":
            continue
        paths = list(paths)
        rng.shuffle(paths)
        for path in paths[:files_per_source]:
            for code in cut_snippets(language, path.read_text(errors="replace"), rng, per_file):
                by_language[language].append({"code": code, "language": language, "source": source})
    return _shuffled_and_capped(by_language, per_language, rng)


def _shared_code_files(shared: Path) -> list[Path]:
    """The instruction-to-code files of ``shared/code`` (one a collection and language)."""
    folder = shared / "code"
    files = sorted(folder.glob("*/*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no instruction-to-code files in {folder} (expected {folder}/*/*.jsonl)")
    return files


def _shared_code_pairs(path: Path, field: str) -> Iterable[tuple[str, dict]]:
    """``(language, row)`` of each pair in ``path`` that has ``field``; a language outside the
    twelve is an error naming the file and line."""
    for where, row in iter_jsonl(path, required=("language", field), what="code pair"):
        language = row["language"]
        if language not in LANGS:
            raise ValueError(f"{where}: unknown language {language!r}; expected one of {LANGS}")
        yield language, row


def shared_code_windows(shared: Path, per_language: int, seed: int, languages: Iterable[str] | None = None) -> list[dict]:
    """``[{"code", "language", "source"}]``: up to ``per_language`` windows a language of the answers in
    ``shared/code/*/*.jsonl`` (instruction-to-code pairs from exercise, algorithm and snippet
    collections; their licences are in that folder's SOURCES.md). Package windows are the insides of
    libraries; these are the self-contained functions and programs people paste and ask for. An
    answer of more than 12 lines gives two windows cut like the prompts' snippets, a shorter one
    itself. No prompt of any split is cut from these collections, so the by-source splits are
    unchanged; a window's source is its repository and top folder (the identifier's folds).
    ``languages``, when given, keeps the windows of those languages only.

    Off by default (``--shared-code-per-language 0``): the router trained with them was better on
    held-out prompt families and worse on the test split's HumanEval-X prompts (docs/router.md,
    "Snippet collections in the code corpus")."""
    rng = random.Random(seed)
    by_language: dict[str, list[dict]] = defaultdict(list)
    for path in _shared_code_files(shared):
        for language, row in _shared_code_pairs(path, "response"):
            if languages is not None and language not in languages:
                continue
            code = str(row["response"]).replace("\r\n", "\n")
            windows = cut_snippets(language, code, rng, 2) if code.count("\n") > 12 else [code.strip()[:2000]]
            source = "/".join([str(row.get("source", path.parent.name)), str(row.get("path", "")).split("/")[0]]).rstrip("/")
            by_language[language] += [{"code": w, "language": language, "source": source} for w in windows if len(w) >= 25]
    return _shuffled_and_capped(by_language, per_language, rng)


def shared_instructions(shared: Path, per_language: int, seed: int) -> list[dict]:
    """Training prompts: the instructions of ``shared/code/*/*.jsonl`` (exercise, algorithm, snippet
    and text-to-SQL collections, written for each item by that dataset's builder: "Using Go,
    implement ...", "Task (Java): ...") that name their own language, labelled with it and with
    the task their wording asks for (:func:`label_instruction`; ``generate`` when none).

    Each file (a collection and a language) belongs to one split, by the hash of its name, like
    the packages; only the training split's files give prompts, and only to the training split, so
    the validation and test prompts (and the held-out families scored on them) stay those of a
    build without these. Instructions that do not name their language are left out: by the
    router's labels a prompt that names no language and holds no code is ``unknown``. Up to
    ``per_language`` instructions a language, the first 1,500 characters of each (text-to-SQL
    instructions carry whole schemas). Off by default (``--shared-instructions-per-language 0``)."""
    rng = random.Random(seed)
    by_language: dict[str, list[dict]] = defaultdict(list)
    for path in _shared_code_files(shared):
        source = f"code-instruction:{path.parent.name}/{path.stem}"
        if split_of(source) != "train":
            continue
        for language, row in _shared_code_pairs(path, "instruction"):
            prompt = str(row["instruction"]).replace("\r\n", "\n").strip()[:1500]
            label = label_instruction(prompt)
            if label is None or label[0] != language:
                continue
            by_language[language].append(_row(prompt, language, label[1], label[2], source=source))
    return _shuffled_and_capped(by_language, per_language, rng)


def write_code_corpus(cache: Path, out: Path, per_language: int, seed: int, shared: Path | None = None,
                      shared_per_language: int = 0, shared_languages: Iterable[str] | None = None) -> None:
    """Write ``out/code.jsonl.gz``: :func:`code_corpus`, then, with ``shared`` and a positive
    ``shared_per_language``, :func:`shared_code_windows`."""
    rows = code_corpus(cache, per_language, seed)
    if shared is not None and shared_per_language > 0:
        extra = shared_code_windows(shared, shared_per_language, seed, shared_languages)
        logger.info("code corpus: %d windows of ../shared/data/code answers %s", len(extra),
                    dict(Counter(r["language"] for r in extra)))
        rows += extra
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "code.jsonl.gz", compress=True) as fh:
        for row in rows:
            fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
    logger.info("code corpus: %d windows %s", len(rows), dict(Counter(r["language"] for r in rows)))


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/router-sources"), help="where packages are unpacked")
    ap.add_argument("--fetch", action="store_true", help="download the packages first (apt-get, npm, pip)")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    ap.add_argument("--per-language", type=int, default=1500, help="code snippets per language")
    ap.add_argument("--per-source", type=int, default=60, help="code snippets cut from one source at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lexicon-min-files", type=int, default=5, help="files an identifier must occur in")
    ap.add_argument("--lexicon-min-share", type=float, default=0.85, help="share one language must hold")
    ap.add_argument("--code-per-language", type=int, default=8000, help="windows of code a language in code.jsonl.gz")
    ap.add_argument("--shared-code-per-language", type=int, default=0,
                    help="windows a language of the answers in --shared's code/ folder added to code.jsonl.gz "
                         "(0, the default: none; see shared_code_windows)")
    ap.add_argument("--shared-code-languages", nargs="+", choices=LANGS, default=None, metavar="LANGUAGE",
                    help="with --shared-code-per-language: only these languages' answers (default: all)")
    ap.add_argument("--shared-instructions-per-language", type=int, default=0,
                    help="instructions a language of --shared's code/ folder added as prompts, each file in one "
                         "split (0, the default: none; see shared_instructions)")
    ap.add_argument("--packages", type=Path, default=Path(__file__).resolve().parent / "data" / "packages.tsv.gz",
                    help="package-registry names (router_training/packages.py) whose names replace tools in copies "
                         "of training prompts (package_substitutes); 'none' for no copies")
    ap.add_argument("--lexicon-only", action="store_true",
                    help="write lexicon.tsv.gz and code.jsonl.gz only, not the prompts")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.fetch:
        fetch(args.cache)
    lexicon = write_lexicon(args.cache, args.out, args.lexicon_min_files, args.lexicon_min_share)
    if not args.lexicon_only:
        rows = build(args.cache, args.shared, args.seed, args.per_language, args.per_source)
        extra = name_substitutes(rows["train"], lexicon, args.seed)
        logger.info("train: %d more prompts naming a lexicon identifier in place of a tool", len(extra))
        rows["train"] += extra
        if str(args.packages) != "none":
            extra = package_substitutes(rows["train"], PackageNames.load(args.packages), args.seed)
            logger.info("train: %d more prompts naming a package in place of a tool", len(extra))
            rows["train"] += extra
        if args.shared_instructions_per_language > 0:
            # last, so that every other prompt and copy is the one a build without them has
            extra = shared_instructions(args.shared, args.shared_instructions_per_language, args.seed)
            logger.info("train: %d instructions of ../shared/data/code %s", len(extra), dict(Counter(r["language"] for r in extra)))
            rows["train"] += extra
        write(rows, args.out)
    write_code_corpus(args.cache, args.out, args.code_per_language, args.seed, args.shared, args.shared_code_per_language,
                      args.shared_code_languages)


if __name__ == "__main__":
    main()
