"""Real source files the router data is cut from: which packages, how to fetch them, how to cut them.

Every file comes from a Debian package (``apt-get download``), an npm package (``npm pack``)
or a PyPI source distribution (``pip download --no-binary``) named below. A *source* is the
unit the train / validation / test split holds out whole: a package, or a top-level module of
a big package (the Go or Java standard library, CPython's standard library).
"""
from __future__ import annotations

import logging
import random
import re
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: Debian packages (bookworm) and the code they ship.
DEBIAN = [
    "libpython3.11-stdlib", "libcurl4-doc", "libevent-dev", "libuv1-dev", "libjansson-dev", "liblua5.4-dev",
    "libsqlite3-dev", "nlohmann-json3-dev", "libspdlog-dev", "libcli11-dev", "libfmt-dev", "libgtest-dev",
    "openjdk-17-source", "node-express", "node-acorn", "node-commander", "node-semver", "node-yargs",
    "node-underscore", "node-debug", "php-symfony-console", "php-twig", "php-monolog", "php-guzzlehttp-psr7",
    "php-league-commonmark", "phpunit", "php-doctrine-dbal", "composer", "php-psr-log", "bash-completion",
    "devscripts", "dkms", "postgresql-15", "postgresql-doc-15", "mariadb-server-core", "golang-1.19-src",
    "golang-github-spf13-cobra-dev", "golang-github-sirupsen-logrus-dev", "golang-github-gorilla-mux-dev",
    "librust-regex-dev", "librust-serde-dev", "librust-anyhow-dev", "librust-rand-dev", "librust-itertools-dev",
    "librust-hashbrown-dev", "librust-memchr-dev", "librust-bytes-dev", "librust-clap-dev", "librust-log-dev",
    "librust-syn-dev", "librust-nom-dev", "librust-chrono-dev", "librust-walkdir-dev", "librust-rayon-dev",
    "librust-once-cell-dev", "librust-thiserror-dev", "librust-base64-dev", "librust-smallvec-dev", "librust-indexmap-dev",
    "librust-either-dev", "librust-bitflags-dev", "librust-num-traits-dev", "librust-textwrap-dev",
    "golang-github-pkg-errors-dev", "golang-github-stretchr-testify-dev", "golang-github-google-uuid-dev",
    "golang-github-spf13-pflag-dev", "golang-github-mattn-go-sqlite3-dev", "golang-golang-x-text-dev",
    "libreadline-dev", "libjson-c-dev", "libzstd-dev", "libbsd-dev", "libyaml-dev", "libexpat1-dev", "libpng-dev",
    "libruby3.1", "perl-modules-5.36", "lua-penlight",
]
#: npm packages that ship their TypeScript sources (or C# / C++ for edge-js).
NPM = ["rxjs@7.8.2", "zod@4.6.7", "fp-ts@2.16.11", "@tanstack/query-core@5.108.4", "immer@11.2.10",
       "mobx@7.1.3", "io-ts@2.2.22", "ts-pattern@5.9.2", "edge-js@26.1.0", "axios@1.21.1", "preact@11.2.0",
       "ramda@0.32.0", "lodash-es@4.18.1"]
#: PyPI source distributions: C# sources, and Pygments' example files (code in hundreds of languages).
PYPI = ["pythonnet==3.2.1", "clr-loader==0.3.1", "pygments==2.21.0"]

#: General-purpose languages outside the router's twelve: Pygments' example-file folder -> the language's name.
#: Their code is labelled ``unknown`` (the generalist's), one source per language, so the by-source split
#: holds whole languages out: the test split measures languages the router never saw. Shells, SQL
#: dialects, markup and the twelve's own dialects (Objective-C, CUDA, JSX, ...) are left out on purpose.
OTHER_LANGUAGES: dict[str, str] = {
    "ada": "Ada", "agda": "Agda", "apl": "APL", "applescript": "AppleScript", "boo": "Boo", "ceylon": "Ceylon",
    "chapel": "Chapel", "clojure": "Clojure", "cobol": "COBOL", "common-lisp": "Common Lisp",
    "coffee-script": "CoffeeScript", "d": "D", "dart": "Dart", "delphi": "Delphi", "dylan": "Dylan",
    "eiffel": "Eiffel", "elixir": "Elixir", "elm": "Elm", "erlang": "Erlang", "factor": "Factor", "fan": "Fantom",
    "forth": "Forth", "fortran": "Fortran", "fortranfixed": "Fortran 77", "fsharp": "F#", "gdscript": "GDScript",
    "gleam": "Gleam", "groovy": "Groovy", "haskell": "Haskell", "hx": "Haxe", "idris": "Idris", "ioke": "Ioke",
    "j": "J", "julia": "Julia", "koka": "Koka", "kotlin": "Kotlin", "lean4": "Lean", "matlab": "MATLAB",
    "modula2": "Modula-2", "mojo": "Mojo", "nemerle": "Nemerle", "newlisp": "newLISP", "nim": "Nim",
    "ocaml": "OCaml", "odin": "Odin", "pawn": "Pawn", "perl6": "Raku", "pike": "Pike", "pony": "Pony",
    "prolog": "Prolog", "purescript": "PureScript", "racket": "Racket", "reason": "Reason", "rebol": "Rebol",
    "red": "Red", "rexx": "Rexx", "scala": "Scala", "scheme": "Scheme", "smalltalk": "Smalltalk",
    "sml": "Standard ML", "snobol": "SNOBOL", "swift": "Swift", "vb.net": "VB.NET", "vbscript": "VBScript",
    "verilog": "Verilog", "vhdl": "VHDL", "x10": "X10", "xtend": "Xtend", "zig": "Zig",
}


@dataclass(frozen=True)
class FileRule:
    """Files of one language inside an unpacked package.

    The source a file belongs to is the package (or ``name``) plus the first ``depth`` parts of
    its path under ``root``, a file's own name counted without its extension.
    """

    language: str
    package: str
    root: str
    pattern: str
    depth: int = 0
    exclude: str = r"(\.min\.js|\.d\.ts|/testdata/|\.map)$"


RULES: list[FileRule] = [
    FileRule("python", "libpython3.11-stdlib", "usr/lib/python3.11", r"\.py$", depth=1),
    FileRule("c", "libcurl4-doc", "usr/share/doc/libcurl4/examples", r"\.c$", depth=1),
    FileRule("c", "libevent-dev", "usr", r"\.[ch]$"),
    FileRule("c", "libuv1-dev", "usr/include", r"\.h$"),
    FileRule("c", "libjansson-dev", "usr/include", r"\.h$"),
    FileRule("c", "liblua5.4-dev", "usr/include", r"\.h$"),
    FileRule("c", "libsqlite3-dev", "usr/include", r"\.h$"),
    FileRule("c", "golang-1.19-src", "usr/share/go-1.19/src", r"\.c$", depth=1),
    FileRule("c", "golang-github-mattn-go-sqlite3-dev", "usr/share/gocode", r"/[^/]+_[^/]+\.c$"),
    *[FileRule("c", p, "usr/include", r"\.h$", depth=1)
      for p in ("libreadline-dev", "libjson-c-dev", "libzstd-dev", "libbsd-dev", "libyaml-dev", "libexpat1-dev", "libpng-dev")],
    FileRule("cpp", "nlohmann-json3-dev", "usr/share/doc/nlohmann-json3-dev/examples", r"\.cpp$", depth=1),
    FileRule("cpp", "nlohmann-json3-dev", "usr/include", r"\.hpp$", depth=3),
    FileRule("cpp", "libspdlog-dev", "usr/include/spdlog", r"\.h$", depth=1),
    FileRule("cpp", "libspdlog-dev", "usr/share/doc/libspdlog-dev", r"\.cpp$", depth=2),
    FileRule("cpp", "libcli11-dev", "usr/include", r"\.hpp$", depth=2),
    FileRule("cpp", "libfmt-dev", "usr/include", r"\.h$", depth=2),
    FileRule("cpp", "libgtest-dev", "usr/include", r"\.h$", depth=2),
    FileRule("cpp", "npm-edge-js", "package", r"\.(cpp|h)$"),
    FileRule("java", "openjdk-17-source", "src", r"\.java$", depth=3),
    FileRule("javascript", "node-express", "usr/share/nodejs", r"\.js$"),
    FileRule("javascript", "node-acorn", "usr/share/nodejs", r"\.js$", depth=1),
    FileRule("javascript", "node-commander", "usr/share/nodejs", r"\.js$"),
    FileRule("javascript", "node-semver", "usr/share/nodejs", r"\.js$"),
    FileRule("javascript", "node-yargs", "usr/share/nodejs", r"\.js$", depth=1),
    FileRule("javascript", "node-underscore", "usr/share/nodejs/underscore/modules", r"\.js$"),
    FileRule("javascript", "node-debug", "usr/share/nodejs", r"\.js$"),
    FileRule("javascript", "npm-axios", "package/lib", r"\.js$", depth=1),
    FileRule("javascript", "npm-preact", "package", r"/src/[^/]+\.js$", depth=1),
    FileRule("javascript", "npm-ramda", "package/es", r"\.js$", depth=1),
    FileRule("javascript", "npm-lodash-es", "package", r"^/[^/]+\.js$", depth=1),
    FileRule("typescript", "npm-rxjs", "package/src", r"\.ts$", depth=2),
    FileRule("typescript", "npm-zod", "package/src", r"\.ts$", depth=1),
    FileRule("typescript", "npm-fp-ts", "package/lib", r"\.d\.ts$", exclude=r"\.map$"),
    FileRule("typescript", "npm-tanstack-query-core", "package/src", r"\.ts$"),
    FileRule("typescript", "npm-immer", "package/src", r"\.ts$"),
    FileRule("typescript", "npm-mobx", "package/src", r"\.ts$", depth=1),
    FileRule("typescript", "npm-io-ts", "package/lib", r"\.d\.ts$", exclude=r"\.map$"),
    FileRule("typescript", "npm-ts-pattern", "package/dist", r"\.d\.ts$", exclude=r"\.map$"),
    FileRule("php", "php-symfony-console", "usr/share/php", r"\.php$"),
    FileRule("php", "php-twig", "usr/share/php", r"\.php$", depth=2),
    FileRule("php", "php-monolog", "usr/share/php", r"\.php$"),
    FileRule("php", "php-guzzlehttp-psr7", "usr/share/php", r"\.php$"),
    FileRule("php", "php-league-commonmark", "usr/share/php", r"\.php$", depth=3),
    FileRule("php", "phpunit", "usr/share/php", r"\.php$", depth=2),
    FileRule("php", "php-doctrine-dbal", "usr/share/php", r"\.php$", depth=3),
    FileRule("php", "composer", "usr/share/php", r"\.php$", depth=2),
    FileRule("php", "php-psr-log", "usr/share/php", r"\.php$"),
    FileRule("csharp", "pip-pythonnet", "pythonnet-3.2.1/src", r"\.cs$", depth=2),
    FileRule("csharp", "pip-clr-loader", "clr_loader-0.3.1", r"\.cs$"),
    FileRule("csharp", "npm-edge-js", "package", r"\.cs$"),
    FileRule("bash", "bash-completion", "usr/share/bash-completion/completions", r"/[^/]+$", depth=1),
    FileRule("bash", "devscripts", "usr/bin", r"/[^/.]+(\.sh)?$", depth=1),
    FileRule("bash", "dkms", "usr", r"/(dkms|[^/]+\.sh)$"),
    FileRule("bash", "golang-1.19-src", "usr/share/go-1.19/src", r"\.(bash|sh)$"),
    FileRule("sql", "postgresql-15", "usr/share/postgresql/15", r"\.sql$", depth=1),
    FileRule("sql", "mariadb-server-core", "usr/share/mysql", r"\.sql$"),
    FileRule("go", "golang-1.19-src", "usr/share/go-1.19/src", r"\.go$", depth=1),
    FileRule("go", "golang-github-spf13-cobra-dev", "usr/share/gocode", r"\.go$"),
    FileRule("go", "golang-github-sirupsen-logrus-dev", "usr/share/gocode", r"\.go$"),
    FileRule("go", "golang-github-gorilla-mux-dev", "usr/share/gocode", r"\.go$"),
    *[FileRule("go", f"golang-github-{p}-dev", "usr/share/gocode", r"\.go$")
      for p in ("pkg-errors", "stretchr-testify", "google-uuid", "spf13-pflag", "mattn-go-sqlite3")],
    FileRule("go", "golang-golang-x-text-dev", "usr/share/gocode/src/golang.org/x/text", r"\.go$", depth=1),
    *[FileRule("rust", f"librust-{c}-dev", "usr/share/cargo/registry", r"\.rs$")
      for c in ("regex", "serde", "anyhow", "rand", "itertools", "hashbrown", "memchr", "bytes", "clap", "log", "syn",
                "nom", "chrono", "walkdir", "rayon", "once-cell", "thiserror", "base64", "smallvec", "indexmap", "either",
                "bitflags", "num-traits", "textwrap")],
    FileRule("unknown", "libruby3.1", "usr/lib/ruby", r"\.rb$", depth=2),
    FileRule("unknown", "perl-modules-5.36", "usr/share/perl", r"\.pm$", depth=2),
    FileRule("unknown", "lua-penlight", "usr/share/lua", r"\.lua$"),
    FileRule("unknown", "pip-pygments", "pygments-2.21.0/tests/examplefiles",
             "^/(" + "|".join(re.escape(name) for name in OTHER_LANGUAGES) + ")/", depth=1, exclude=r"\.output$"),
]

#: Lines where a snippet may start: a definition or a statement people paste from.
_STARTS = {
    "python": r"^\s*(def |class |async def |@|for |with |if __name__)",
    "c": r"^(static |int |void |char |struct |typedef |#define |const |unsigned |size_t |bool )",
    "cpp": r"^\s*(template|class |struct |namespace |inline |auto |void |int |std::|static |TEST|const |bool )",
    "java": r"^\s*(public |private |protected |static |final |@Override|class |interface )",
    "javascript": r"^\s*(function |const |let |var |module\.exports|exports\.|class |async function |[a-zA-Z_.]+\s*=\s*function)",
    "typescript": r"^\s*(export |function |const |class |interface |type |let |async )",
    "php": r"^\s*(public |private |protected |function |class |final |abstract |\$|interface |namespace )",
    "csharp": r"^\s*(public |private |internal |protected |static |class |namespace |using |\[)",
    "bash": r"^\s*(_?[a-z_][a-z0-9_]*\s*\(\)|function |if |for |while |case |local |[A-Za-z_]+=)",
    "sql": r"^\s*(SELECT|CREATE|INSERT|UPDATE|DELETE|WITH|ALTER|DROP|select|create|insert|update|with)\b",
    "go": r"^(func |type |var |const |\tfor |\tif )",
    "rust": r"^\s*(pub |fn |impl |struct |enum |trait |mod |#\[|let |match )",
    "unknown": r"^\s*(def |class |sub |function |local |module |my |package )",
}


def fetch(cache: Path) -> None:
    """Download and unpack every package into ``cache/<package>`` (needs apt, npm and pip)."""
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for pkg in DEBIAN:
        target = cache / pkg
        if target.is_dir():
            continue
        subprocess.run(["apt-get", "download", "-q", pkg], cwd=downloads, check=True)
        deb = sorted(downloads.glob(f"{pkg}_*.deb"))[-1]
        target.mkdir()
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    for spec in NPM:
        name = "npm-" + spec.rsplit("@", 1)[0].lstrip("@").replace("/", "-")
        target = cache / name
        if target.is_dir():
            continue
        out = subprocess.run(["npm", "pack", "-q", spec], cwd=downloads, check=True, capture_output=True, text=True)
        target.mkdir()
        with tarfile.open(downloads / out.stdout.strip().splitlines()[-1]) as tar:
            tar.extractall(target, filter="data")
    for spec in PYPI:
        name = "pip-" + spec.split("==")[0]
        target = cache / name
        if target.is_dir():
            continue
        subprocess.run(["pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(downloads), spec], check=True)
        sdist = sorted(downloads.glob(spec.split("==")[0].replace("-", "_") + "-*.tar.gz"))[-1]
        target.mkdir()
        with tarfile.open(sdist) as tar:
            tar.extractall(target, filter="data")


def _unpack_jdk(cache: Path) -> None:
    """The JDK sources ship as one zip: unpack the java.base, java.sql and java.net.http modules once."""
    src = cache / "openjdk-17-source" / "src"
    archive = next((cache / "openjdk-17-source").rglob("src.zip"), None) if not src.is_dir() else None
    if archive is not None:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if m.startswith(("java.base/java/", "java.sql/", "java.net.http/")) and m.endswith(".java")]
            zf.extractall(src, members)


def _sql_from_docs(cache: Path) -> list[tuple[str, str]]:
    """SQL examples from the PostgreSQL manual's program listings, one source per manual chapter."""
    import html

    root = cache / "postgresql-doc-15" / "usr/share/doc/postgresql-doc-15/html"
    out = []
    for page in sorted(root.glob("*.html")):
        text = page.read_text(errors="replace")
        for block in re.findall(r'<pre class="programlisting">(.*?)</pre>', text, flags=re.S):
            code = html.unescape(re.sub(r"<[^>]+>", "", block)).strip()
            if re.match(r"(SELECT|CREATE|INSERT|UPDATE|DELETE|WITH|ALTER)\b", code) and 40 <= len(code) <= 1500:
                out.append((f"postgresql-doc-15/{page.stem.split('-')[0]}", code))
    return out


def _strip_header(text: str) -> list[str]:
    """Drop a leading licence comment block: people rarely paste it."""
    lines = text.splitlines()
    i = 0
    in_block = False
    while i < len(lines) and i < 80:
        s = lines[i].strip()
        if in_block:
            if "*/" in s:
                in_block = False
            i += 1
            continue
        if s.startswith("/*"):
            in_block = "*/" not in s
            i += 1
        elif s == "" or s.startswith(("//", "# ", "#-", "--", "* ", "=begin", "<?php")) or s == "#":
            i += 1
        else:
            break
    keep_php = text.lstrip().startswith("<?php")
    body = lines[i:]
    return (["<?php", ""] + body) if keep_php else body


#: ``{source: language name}`` for the Pygments rule's sources (named as :func:`source_files` names them).
_OTHER_LANGUAGE_OF_SOURCE = {f"pip-pygments/{folder.split('.')[0]}": name for folder, name in OTHER_LANGUAGES.items()}


def other_language_name(source: str) -> str | None:
    """The name of the language outside the twelve a source's code is in (``pip-pygments/cobol``: COBOL)."""
    return _OTHER_LANGUAGE_OF_SOURCE.get(source)


def cut_snippets(language: str, text: str, rng: random.Random, count: int) -> list[str]:
    """Up to ``count`` windows of code: mostly 4-40 lines from a definition-like line, some 2-8
    line fragments from anywhere (what people paste when one statement misbehaves)."""
    lines = _strip_header(text)
    starts = [i for i, line in enumerate(lines) if re.match(_STARTS[language], line)]
    if not starts and language == "unknown":
        # a language none of the patterns knows (COBOL, Haskell, Forth, ...): start at unindented lines
        starts = [i for i, line in enumerate(lines) if line.strip() and not line[0].isspace()]
    rng.shuffle(starts)
    anywhere = [i for i, line in enumerate(lines) if line.strip()]
    out = []
    for start in starts[: count * 3]:
        size = rng.choice([4, 6, 8, 10, 12, 15, 20, 25, 30, 40])
        if anywhere and rng.random() < 0.3:
            start, size = rng.choice(anywhere), rng.choice([2, 3, 4, 5, 6, 8])
            lines_left = lines[start : start + size]
            indent = min((len(x) - len(x.lstrip()) for x in lines_left if x.strip()), default=0)
            lines_left = [x[indent:] for x in lines_left]
            snippet = "\n".join(lines_left).strip("\n")
            if len(snippet) >= 25 and re.search(r"[;{}()=:$]", snippet):
                out.append(snippet)
            if len(out) >= count:
                break
            continue
        window = lines[start : start + size]
        while window and not window[-1].strip():
            window.pop()
        snippet = "\n".join(window)
        if len([w for w in window if w.strip()]) < 3 or len(snippet) < 60:
            continue
        snippet = snippet[:2000]
        if language == "php" and "<?php" not in snippet and rng.random() < 0.35:
            snippet = "<?php\n" + snippet
        out.append(snippet)
        if len(out) >= count:
            break
    return out


def source_files(cache: Path) -> dict[tuple[str, str], list[Path]]:
    """``{(language, source): [file, ...]}``: every file each rule selects, by the source it belongs to."""
    _unpack_jdk(cache)
    files: dict[tuple[str, str], list[Path]] = {}
    for rule in RULES:
        base = cache / rule.package / rule.root
        if not base.is_dir():
            logger.warning("missing %s (run with --fetch)", base)
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if not path.is_file() or not re.search(rule.pattern, "/" + rel) or re.search(rule.exclude, rel):
                continue
            if rule.language == "bash" and rule.package == "devscripts":
                head = path.read_bytes()[:40]
                if not re.match(rb"#!\s*/bin/(ba)?sh", head):
                    continue
            parts = rel.split("/")[: rule.depth]
            if parts:
                parts[-1] = parts[-1].split(".")[0]
            source = "/".join([rule.package, *parts])
            files.setdefault((rule.language, source), []).append(path)
    return files


def collect(cache: Path, per_source: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """``{language: [(source, snippet), ...]}`` from every rule; at most ``per_source`` snippets a source
    (four times as many for C#, whose real sources are few)."""
    rng = random.Random(seed)
    out: dict[str, list[tuple[str, str]]] = {}
    for (language, source), paths in sorted(source_files(cache).items()):
        rng.shuffle(paths)
        cap = per_source * (4 if language == "csharp" else 1)
        got: list[str] = []
        for path in paths:
            text = path.read_text(errors="replace")
            got += cut_snippets(language, text, rng, max(1, min(3 if cap == per_source else 8, cap - len(got))))
            if len(got) >= cap:
                break
        out.setdefault(language, []).extend((source, s) for s in got)
    out.setdefault("sql", []).extend(_sql_from_docs(cache))
    return out
