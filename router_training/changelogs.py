"""Task phrasings people wrote themselves: changelog entries of the packages the router data is cut from.

Upstream changelogs (``changelog.gz``, ``CHANGELOG.md``, ``NEWS``, ``HISTORY``) and Debian's
``changelog.Debian.gz`` list changes in their authors' own words: "fix kFreeBSD build", "unix: simplify
getpwuid call", "Refactored the lexer into smaller functions", "Add regression tests for #123". An entry
whose leading verb names a fix, a refactoring or tests becomes, in the imperative, a request of that
task ("Fix kFreeBSD build", "Simplify getpwuid call"). Entries that add features, document or
package are left out: their task is not clear from the verb.

Each package is one source of the by-source split, so a package's entries only phrase prompts of its
own split.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

#: Leading verbs (after the imperative rewrite) and the task they name; ``make``, ``use``, ``move``,
#: ``replace`` and ``split`` name a refactoring only in the phrases of ``_REFACTOR_ONLY_WITH``.
TASK_VERBS: dict[str, tuple[str, ...]] = {
    "fix": ("fix", "correct", "resolve", "repair", "work around"),
    "refactor": ("refactor", "simplify", "clean up", "cleanup", "rewrite", "restructure", "reorganize", "reorganise",
                 "rename", "extract", "deduplicate", "modernize", "modernise", "tidy", "inline",
                 "remove unused", "remove dead", "remove redundant"),
    "test": ("add tests", "add test", "add a test", "add unit tests", "add more tests", "add regression tests",
             "add a regression test", "add missing tests", "test", "improve test coverage", "extend tests",
             "expand tests"),
}
#: Past and third-person forms, rewritten to the imperative a request uses.
_IMPERATIVE = {
    "fixed": "fix", "fixes": "fix", "fixing": "fix", "corrected": "correct", "corrects": "correct",
    "resolved": "resolve", "resolves": "resolve", "repaired": "repair", "worked around": "work around",
    "refactored": "refactor", "refactors": "refactor", "refactoring": "refactor", "simplified": "simplify",
    "simplifies": "simplify", "cleaned up": "clean up", "cleans up": "clean up", "rewrote": "rewrite",
    "rewritten": "rewrite", "restructured": "restructure", "reorganized": "reorganize", "renamed": "rename",
    "extracted": "extract", "moved": "move", "replaced": "replace", "removed": "remove", "used": "use",
    "made": "make", "split up": "split", "added": "add", "adds": "add", "tested": "test", "improved": "improve",
}
_REFACTOR_ONLY_WITH = re.compile(
    r"^(use \S.* instead of|replace \S.* with|move \S.* (in)?to|make \S.* (more )?(readable|consistent|simpler|clearer)"
    r"|split \S.* into)\b", re.I)
#: Packaging and project housekeeping: not a request anyone sends a code model.
_NOISE = re.compile(
    r"debian/|\bd/|standards-version|lintian|\bwatch file|\bFTBFS\b|\bpackag|\bsalsa\b|\bCI\b|github actions|"
    r"\bchangelog\b|\bREADME\b|\bcopyright\b|\btypo|\bspelling|\bdoc(s|umentation)?\b|\bmanpage|\bbump|\bversion\b|"
    r"upstream|maintainer|\brelease\b|\btravis\b|\bappveyor\b|\bbuild system\b|\bcmake\b|\bmeson\b|\bautotools\b",
    re.I)
#: The verbs of each task, longest first, so that "add tests" is tried before "add test".
_VERBS_LONGEST_FIRST = {task: sorted(verbs, key=len, reverse=True) for task, verbs in TASK_VERBS.items()}
_IMPERATIVE_LONGEST_FIRST = sorted(_IMPERATIVE.items(), key=lambda kv: -len(kv[0]))
_FILES = re.compile(r"^(changelog|changes|news|history)([.-].*)?$", re.I)
_BULLET = re.compile(r"^\s{0,6}(?:[-*+]|\d+\.)\s+(.*)$")


def changelog_files(package_dir: Path) -> list[Path]:
    """A package's changelog files (plain or gzipped), in a stable order."""
    return sorted(p for p in package_dir.rglob("*") if p.is_file() and _FILES.match(p.name.removesuffix(".gz")))


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return ""
    return data[:2_000_000].decode("utf-8", errors="replace")


def entries(text: str) -> list[str]:
    """The bullet entries of a changelog, each joined onto one line."""
    out: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        m = _BULLET.match(line)
        if m:
            if current:
                out.append(" ".join(current))
            current = [m.group(1).strip()]
        elif current is not None and line.strip() and line.startswith(("  ", "\t")) and not line.lstrip().startswith(("..", "```")):
            current.append(line.strip())
        else:
            if current:
                out.append(" ".join(current))
            current = None
    if current:
        out.append(" ".join(current))
    return out


def clean(entry: str) -> str:
    """Drop links, commit hashes, issue numbers, credits and a ``component:`` prefix."""
    s = re.sub(r"\[`?([0-9a-f]{7,40})`?\]\([^)]*\)", "", entry)
    s = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", s)
    s = re.sub(r"`([^`<]*) <[^>]*>`_+", r"\1", s)
    s = re.sub(r"^.*\bThanks\s+@?[\w.-]+!\s*-\s*", "", s)  # changesets: "<hash> #12 Thanks @who! - <entry>"
    s = re.sub(r"\bThanks?\b.*$", "", s, flags=re.I)
    s = re.sub(r"\((?:closes|fixes|see|thanks|by|reported|patch|pr|issue|lp)\b[^)]*\)", "", s, flags=re.I)
    s = re.sub(r"\((?:[^()]*#\d+[^()]*|[A-Z][\w.'-]+(?: [A-Z][\w.'()-]+)*)\)\s*\.?$", "", s)
    s = re.sub(r"(?:closes|fixes):?\s*#\d+(?:,\s*#\d+)*", "", s, flags=re.I)
    s = re.sub(r"\s*[#!]\d+\b", "", s)
    s = re.sub(r"^(?:[\w./+-]+(?:,\s*[\w./+-]+)*):\s+", "", s)
    s = re.sub(r"^[-–:\s]+", "", s)
    s = re.sub(r"\s*\\(?=\s|$)", " ", s)
    s = re.sub(r"\s*\((?:@?[a-z][\w.-]*|\s*)\)", "", s)
    s = re.sub(r"\s+", " ", s).strip(" .;,:(")
    return s


def imperative(text: str) -> str:
    lower = text.lower()
    for past, present in _IMPERATIVE_LONGEST_FIRST:
        if lower.startswith(past + " "):
            return present.capitalize() + text[len(past):]
    return text[:1].upper() + text[1:]


def task_of(request: str) -> str | None:
    """The task a request's leading verb names, or None when it names none clearly."""
    lower = request.lower()
    if lower.startswith(("make ", "use ", "move ", "replace ", "split ")):
        return "refactor" if _REFACTOR_ONLY_WITH.match(request) else None
    for task in ("test", "fix", "refactor"):
        for verb in _VERBS_LONGEST_FIRST[task]:
            if lower.startswith(verb + " ") or lower == verb:
                if task == "test" and verb == "test" and not re.match(r"test (that|the|for|whether|if)\b", lower):
                    return None
                return task
    return None


def requests(package_dir: Path) -> dict[str, list[str]]:
    """``{task: [request, ...]}`` from one unpacked package's changelogs, deduplicated, in file order."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for path in changelog_files(package_dir):
        for entry in entries(_read(path)):
            request = imperative(clean(entry))
            if not 12 <= len(request) <= 160 or _NOISE.search(request) or request.lower() in seen:
                continue
            if "http" in request or request.count("`") % 2 or re.search(r"[<>{}]|::\s*$", request):
                continue
            task = task_of(request)
            if task:
                seen.add(request.lower())
                out.setdefault(task, []).append(request)
    return out


def collect(cache: Path) -> dict[str, dict[str, list[str]]]:
    """``{package: {task: [request, ...]}}`` for every unpacked package in ``cache``."""
    out = {}
    for package_dir in sorted(p for p in cache.iterdir() if p.is_dir() and p.name != "downloads"):
        found = requests(package_dir)
        if found:
            out[package_dir.name] = found
    return out


#: A fix entry's leading verb and what follows it when it names the bug outright: "Fix a bug where",
#: "Fix an issue that", "Fix the problem with".
_FIX_LEAD = re.compile(
    r"^(?:" + "|".join(map(re.escape, TASK_VERBS["fix"])) + r")\s+(?:(?:an?|the|some|possible|potential|rare|occasional)\s+)?"
    r"(?:(?:bugs?|issues?|problems?)\s+(?:where|that|which|in which|when|causing|with)\s+)?", re.I)
#: Words that describe what a user sees go wrong: what makes a fix entry's object a bug report.
_SYMPTOM_WORDS = re.compile(
    r"\b(?:crash\w*|segfault\w*|segmentation fault|hangs?|hanging|hung|deadlock\w*|race\w*|leak\w*|loops?|"
    r"overflow\w*|overread\w*|underflow\w*|off-by-one|null|nil|panic\w*|exceptions?|errors?|warnings?|wrong\w*|"
    r"incorrect\w*|broken|corrupt\w*|spurious\w*|unexpected\w*|invalid|fail\w*|regressions?|use-after-free|"
    r"double free|out of bounds|out-of-bounds|timeouts?|slow\w*|duplicate\w*|infinite|stuck|freez\w*|never|"
    r"not (?:being|working|allowing|returning|respecting|handling|found|set|closed|called|updated|shown)|"
    r"(?:does|do|did|is|was|were|can|could)(?:n't| not)|instead of|mismatch\w*|misbehav\w*|ignored|lost|losing)\b", re.I)
#: Objects that name a platform, a build or a test run, not a misbehaviour a user would report.
_NOT_A_SYMPTOM = re.compile(r"^(?:the\s+)?(?:build|compil\w*|tests?|test suite|ftbfs|cross|support|compat\w*|"
                            r"typos?|docs?|documentation|lint\w*|warnings? (?:with|on|from|in) (?:gcc|clang|msvc))\b", re.I)


def symptom(request: str) -> str | None:
    """The misbehaviour a fix request names, in its reporter's words, or None when it names none.

    "Fix a crash when the list is empty" becomes "crash when the list is empty", "Fix bug where
    `DocParser` checked the wrong method" becomes "`DocParser` checked the wrong method"; "Fix mingw
    build" and "Fix handling of records" name no misbehaviour a user sees and give None. People report
    a bug by what goes wrong, rarely with the word "fix": these are fix requests without the verb.
    """
    m = _FIX_LEAD.match(request)
    if not m or task_of(request) != "fix":
        return None
    rest = re.sub(r"^(?:caused|causes|causing|that caused)\s+", "", request[m.end():].strip(" .:;,"))
    named_bug = bool(re.search(r"(?:bugs?|issues?|problems?)\s+\S+\s*$", m.group(0), re.I))
    if len(rest) < 8 or _NOT_A_SYMPTOM.match(rest) or re.match(r"\S+ to \w", rest) or not (named_bug or _SYMPTOM_WORDS.search(rest)):
        return None
    first, _, tail = rest.partition(" ")
    if first[1:].islower() or (len(first) == 1 and first != "I"):
        rest = first.lower() + (" " + tail if tail else "")
    return rest
