"""Build ``packages.tsv.gz``: library and tool names from package-registry metadata, and the language each belongs to.

A prompt often names only a library or a tool ("how do I paginate with kaminari", "my ruff
config"), and no training prompt can name them all. Debian's package index names tens of thousands
of them, and its packaging policy says which language each belongs to, for the registries it
repackages as well: ``python3-NAME`` is the PyPI project NAME, ``node-NAME`` and ``libjs-NAME`` the
npm package NAME, ``librust-NAME-dev`` the crate, ``golang-github-OWNER-NAME-dev`` the Go module,
``php-NAME`` the Packagist one, ``libNAME-java`` the Maven artifact, ``libNAME-cil`` the .NET
assembly. The rest are placed by the index's own section and description (a ``libdevel`` package
whose description says "C++ library", a command-line tool in ``utils``, a ``database`` server).

Nothing here looks at a router prompt's tool. The names are chosen by these rules alone. Names
that are ordinary English words ("crash", "express", "click") would fire on any request's prose,
so two lists drop them: the lower-case words of a dictionary (``--words``, Debian's ``wamerican``
by default; capitalised entries such as "Django" are proper names and do not count), and the words
the router's *training* prompts use in requests of three languages or more.

    apt-get install wamerican    # /usr/share/dict/words
    # Debian's index as apt keeps it (any Packages, Packages.gz/.xz/.lz4 file works)
    python router_training/packages.py --index /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_coder.routing.cues import prose_outside_code  # noqa: E402
from moe_coder.routing.lexicon import NAME, PackageNames  # noqa: E402

logger = logging.getLogger(__name__)

#: Binary package name -> (library name, language), for the naming schemes of Debian's language teams.
_SCHEMES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"python3-(?P<n>.+)"), "python"),
    (re.compile(r"node-(?P<n>.+)"), "javascript"),
    (re.compile(r"libjs-(?P<n>.+)"), "javascript"),
    (re.compile(r"php-(?P<n>.+)"), "php"),
    (re.compile(r"librust-(?P<n>[^+]+)-dev"), "rust"),
    (re.compile(r"golang-(?:github|gitlab|gopkg|golang|google|go)-(?:.+-)?(?P<n>[^-]+)-dev"), "go"),
    (re.compile(r"golang-(?P<n>[^-]+)-dev"), "go"),
    (re.compile(r"lib(?P<n>.+)-java"), "java"),
    (re.compile(r"lib(?P<n>.+)-cil(?:-dev)?"), "csharp"),
]
#: Sections whose unprefixed packages are tools of one language (``maven``, ``cargo``, ``composer``).
_SECTIONS = {
    "python": "python", "javascript": "javascript", "php": "php", "rust": "rust", "golang": "go",
    "java": "java", "cli-mono": "csharp", "database": "sql", "shells": "bash", "utils": "bash", "admin": "bash",
}
_CPP = re.compile(r"\bC\+\+")
_C = re.compile(r"\bC\b(?![+#])")
#: A trailing version ("libboost1.74-dev", "librust-nom-7-dev", "libgtk-3-dev") is not part of the name.
_VERSION = re.compile(r"(?:[-.]?\d+(?:\.\d+)*)+$")


def read_index(path: Path) -> str:
    """The text of a Debian ``Packages`` index, plain or compressed (apt's helper decompresses every format apt uses)."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
    if path.suffix in (".lz4", ".xz", ".bz2", ".zst"):
        out = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(path)], capture_output=True, check=True)
        return out.stdout.decode("utf-8", errors="replace")
    return path.read_text(encoding="utf-8", errors="replace")


def records(text: str) -> Iterator[dict[str, str]]:
    """``{"Package", "Section", "Description"}`` of each stanza (continuation lines skipped)."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key] = value.strip()
        if "Package" in fields:
            yield fields


def library_of(package: str, section: str, description: str) -> tuple[str, str] | None:
    """``(name, language)`` a binary package names, or None when the rules place it nowhere."""
    section = section.rsplit("/", 1)[-1]
    for pattern, language in _SCHEMES:
        m = pattern.fullmatch(package)
        if m:
            name = m.group("n")
            if language == "javascript" and "TypeScript" in description:
                language = "typescript"
            break
    else:
        if section == "libdevel" and package.startswith("lib") and package.endswith("-dev"):
            name = package[3:-4]
            language = "cpp" if _CPP.search(description) else "c" if _C.search(description) else ""
        elif section in _SECTIONS and not package.startswith("lib"):
            name, language = package, _SECTIONS[section]
        else:
            return None
    for suffix in ("-dev", "-doc", "-common", "-tools", "-utils", "-cli"):
        name = name.removesuffix(suffix)
    name = _VERSION.sub("", name).lower()
    if not language or len(name) < 3 or not NAME.fullmatch(name):
        return None
    return name, language


def common_words(train: Path, min_languages: int = 3) -> set[str]:
    """Lower-cased words the *training* prompts' prose uses in requests of ``min_languages`` languages or more."""
    seen: dict[str, set[str]] = defaultdict(set)
    with gzip.open(train, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if isinstance(row["prompt"], str):
                for word in set(NAME.findall(prose_outside_code(row["prompt"]).lower())):
                    seen[word].add(row["language"])
    return {w for w, langs in seen.items() if len(langs) >= min_languages}


def dictionary_words(path: Path) -> set[str]:
    """The lower-case entries of a word list, one word a line (possessives and capitalised names skipped)."""
    return {w for w in path.read_text(encoding="utf-8", errors="replace").split() if w.islower() and "'" not in w}


def package_names(stanzas: Iterable[dict[str, str]], stop: set[str], min_share: float) -> PackageNames:
    """Count each name's packages per language; keep those one language owns (``min_share``) and no common word."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in stanzas:
        found = library_of(r["Package"], r.get("Section", ""), r.get("Description", ""))
        if found:
            counts[found[0]][found[1]] += 1
    counts = {n: c for n, c in counts.items() if n not in stop}
    return PackageNames.from_counts(counts, min_share=min_share)


def main(argv: Iterable[str] | None = None) -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True, action="append",
                    help="a Debian Packages index (plain, .gz, .xz, .lz4); repeat for several")
    ap.add_argument("--train", type=Path, default=here / "data" / "train.jsonl.gz",
                    help="training prompts whose common prose words are dropped from the names")
    ap.add_argument("--words", type=Path, default=Path("/usr/share/dict/words"),
                    help="a dictionary whose lower-case words are not taken as names (apt-get install wamerican)")
    ap.add_argument("--out", type=Path, default=here / "data" / "packages.tsv.gz")
    ap.add_argument("--min-share", type=float, default=0.85, help="share of a name's packages one language must hold")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for flag, path in [*(("--index", p) for p in args.index), ("--words", args.words), ("--train", args.train)]:
        if not path.is_file():
            raise SystemExit(f"{flag} {path}: no such file")
    stanzas = [r for path in args.index for r in records(read_index(path))]
    names = package_names(stanzas, common_words(args.train) | dictionary_words(args.words), args.min_share)
    names.save(args.out)
    by_language = Counter(names.languages[int(row.argmax())] for row in names.shares)
    logger.info("%s: %d names from %d packages %s", args.out, len(names), len(stanzas), dict(sorted(by_language.items())))


if __name__ == "__main__":
    main()
