"""Deterministic cues a prompt carries: fence tags, shebangs, file names, tell-tale syntax, language names.

Cues are *features* the router learns weights for, not rules: ``#include`` is strong evidence
for C or C++ but the model decides which, and a prompt that mentions Python while asking for
Go still routes to Go when the rest of it says so. :func:`extract_cues` returns the names of
the cues that fired; :data:`CUE_NAMES` is the fixed vocabulary, so a cue vector has a stable
layout across versions of a trained router.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

from moe_coder.languages import LANGUAGES, OTHER_EXTENSIONS, OTHER_FENCE_TAGS

_LANGS = tuple(language.id for language in LANGUAGES)
_OTHER = "other"

#: Fence info strings (```tag) and the language they name.
FENCE_TAGS: dict[str, str] = {
    **{tag: language.id for language in LANGUAGES for tag in language.all_fence_tags},
    **{tag: _OTHER for tag in OTHER_FENCE_TAGS},
}

#: File extensions and the language they name.
EXTENSIONS: dict[str, str] = {
    **{ext: language.id for language in LANGUAGES for ext in language.extensions},
    **{ext: _OTHER for ext in OTHER_EXTENSIONS},
}

#: A character that cannot stand next to the one-letter name "C": anything but spaces, ASCII
#: punctuation, CJK ideographs and punctuation, and full-width forms.
_NOT_BESIDE_C = r"[^\s!-/:-@\[-`{-~\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"

#: How prose names each language. Names that are not also English words match in any case
#: (``(?i:...)``: people type "django", "mariadb", "TYPESCRIPT"); "Go", "React", "Unity",
#: "Angular", "Oracle", "cargo", "shell" only as written here.
_NAMES: dict[str, str] = {
    "python": r"\b[Pp]ython\s?3?\b|\bPYTHON\b|\bpy\b|\b(?i:django|pandas|numpy|flask|pytest)\b",
    "cpp": r"[Cc]\+\+|\b(?i:cpp)\b|\bstd::|\bSTL\b|\bQt\b",
    # a lone "C" between spaces, ASCII punctuation or Chinese (not inside other scripts' letters or
    # symbols); not "Objective-C", not Perl's POD markup "C<code>", not a drive letter "C:\"
    "c": r"(?<![\w#+\u00C0-\u024F])(?<!Objective-)(?<!" + _NOT_BESIDE_C + r")C(?!" + _NOT_BESIDE_C + r")"
         r"(?![\w#+<\u00C0-\u024F])(?!\s*(?:#|\+\+|[Ss]harp))(?!:[\\/])|\bANSI C\b|\bC99\b|\bC11\b|\bgcc\b",
    "java": r"\b[Jj]ava\b(?!\s*[Ss]cript)|\bJAVA\b|\b(?i:spring boot|jvm|maven|junit)\b",
    "javascript": r"\b(?i:javascript|js|node\.?js|jquery|es6|npm)\b|\b[Nn]ode\b|\bReact\b|\bExpress\b",
    "typescript": r"\b(?i:typescript|ts|deno)\b|\bAngular\b",
    "php": r"\b[Pp][Hh][Pp]\s?\d?\b|\b(?i:laravel|wordpress|symfony)\b",
    "csharp": r"C#|\b[Cc]#|\b[Cc][Ss]harp\b|\b[Cc] [Ss]harp\b|\.NET\b|\b[Dd]otnet\b|\bASP\.NET\b|\bUnity\b|\b(?i:linq)\b",
    "bash": r"\b(?i:bash|zsh)\b|\b[Ss]hell\b|\bsh\b|\bcron\b|\bLinux command|\bterminal\b|\bawk\b|\bsed\b",
    "go": r"\b(?i:golang|goroutines?)\b|\bGo\b(?![\u00C0-\u024F])(?!\s+(?:to|back|ahead|through|over|with|on|for)\b)",
    "rust": r"\b[Rr]ust\b|\bRUST\b|\bcargo\b|\bCargo\b|\bcrate\b|\b(?i:rustc|tokio)\b",
    "sql": r"\b(?i:sql|mysql|postgre(?:sql|s)|sqlite|t-sql|mariadb|pl/?pgsql)\b|\bOracle\b",
    _OTHER: (
        r"\b(?i:ruby|perl|lua|kotlin|scala|haskell|elixir|matlab|fortran|cobol|ocaml|clojure|erlang|groovy|powershell|"
        r"visual basic|prolog|lisp|solidity|verilog|vhdl|objective-c)\b|\b(?:Swift|Dart|Julia|Zig)\b|\b[Ff]#(?!\w)"
    ),
}

#: Syntax that (almost) only one language writes.
_SYNTAX: dict[str, str] = {
    "php_open_tag": r"<\?php|\$this->|\becho\s+\$|\$_(?:GET|POST|SERVER|SESSION)\b",
    "c_include": r"^\s*#\s*include\s*[<\"]",
    "cpp_include": r"^\s*#\s*include\s*<(?:iostream|vector|string|map|memory|algorithm|unordered_map|thread|mutex)>",
    "cpp_std": (
        r"(?<!use )\bstd::(?:vector|string|cout|cin|endl|map|unordered_map|unique_ptr|shared_ptr|make_\w+|sort|move|"
        r"thread|mutex|array|optional|pair|function|size_t)\b(?!::)|\btemplate\s*<|\bcout\s*<<|\bnullptr\b|\bauto&?\s+\w+\s*=|"
        r"\busing\s+namespace\s+std\b"
    ),
    "c_stdio": r"\bprintf\s*\(|\bmalloc\s*\(|\bfree\s*\(|\bint\s+main\s*\(\s*(?:void|int argc)",
    "csharp_using": r"^\s*using\s+System(?:\.\w+)*;|\bConsole\.Write(?:Line)?\(|(?<!using )\bnamespace\s+[\w.]+\s*[{;]|\bpublic\s+(?:async\s+)?Task\b|\{\s*get;\s*(?:set;)?\s*\}",
    "java_main": r"public\s+static\s+void\s+main\s*\(\s*String|\bSystem\.out\.print|^\s*import\s+java\.|\bpackage\s+[\w.]+;|@Override\b",
    "python_def": r"^\s*def\s+\w+\s*\(.*\)\s*(?:->\s*[\w\[\], .]+)?:\s*$|^\s*(?:from\s+[\w.]+\s+)?import\s+\w+\s*$|\bself\.\w+|\belif\b|^\s*if __name__ ==",
    "python_traceback": r"Traceback \(most recent call last\)|File \".+\.py\", line \d+",
    "js_syntax": r"\bconsole\.log\(|\brequire\(['\"]|\bmodule\.exports\b|\bdocument\.|\bfunction\s*\w*\s*\([^)]*\)\s*\{|=>\s*\{|\bconst\s+\w+\s*=",
    "ts_types": r":\s*(?:string|number|boolean|any|void|unknown|never)\b(?:\[\])?|\binterface\s+\w+\s*\{|\btype\s+\w+\s*=|\bas\s+const\b|<\w+>\(|\breadonly\s|error TS\d{4}",
    "node_trace": r"at\s+\S+\s+\(.+\.(?:js|mjs|ts):\d+:\d+\)|node:internal",
    "go_syntax": r"^\s*package\s+main\b|\bfunc\s+(?:\(\w+\s+\*?\w+\)\s+)?\w+\s*\(|:=|\bfmt\.\w+\(|\bgoroutine\b|\bchan\s+\w+|\bdefer\b",
    "rust_syntax": r"\bfn\s+\w+\s*[(<]|\blet\s+mut\b|\bimpl\b.*\{|\bpub\s+(?:fn|struct|enum)\b|\w+!\(|&mut\s|\bOption<|\bResult<|::new\(\)|error\[E\d{4}\]",
    "bash_syntax": r"^#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|z)?sh\b|\bfi\s*$|\bdone\s*$|\$\{\w+[}:#%]|\bthen\s*$|\besac\b|\becho\s+\"\$|^\s*\$\s+\w+|\|\s*(?:grep|awk|sed|xargs|sort)\b",
    "shebang_python": r"^#!\s*/usr/bin/(?:env\s+)?python",
    "sql_syntax": r"\bSELECT\b[\s\S]{1,400}?\bFROM\b|\bINSERT\s+INTO\b|\bCREATE\s+(?:TABLE|INDEX|VIEW|FUNCTION|PROCEDURE)\b|\bGROUP\s+BY\b|\bLEFT\s+JOIN\b|\bWHERE\b.+=",
    "java_trace": r"Exception in thread|\tat\s+[\w.$]+\([\w]+\.java:\d+\)|\.java:\d+: error",
    "csharp_trace": r"\bSystem\.\w+Exception\b|error CS\d{4}|\.cs:line \d+|\.cs\(\d+,\d+\)",
    "gcc_error": r"\.(?:c|h):\d+:\d+: (?:error|warning)|Segmentation fault|core dumped|double free",
    "gpp_error": r"\.(?:cpp|cc|hpp):\d+:\d+: error|terminate called after|undefined reference to `\w+::",
    "php_error": r"PHP (?:Fatal|Parse|Warning)|(?:Parse|Fatal) error:.+ on line \d+|\.php:\d+|\.php on line",
    "go_error": r"goroutine \d+ \[|\.go:\d+:\d+:|panic: runtime error|declared and not used",
    "rust_error": r"error\[E\d{4}\]|panicked at|src/\w+\.rs:\d+|RUST_BACKTRACE",
    "bash_error": r"\.sh: line \d+:|command not found|unbound variable|bad substitution|unexpected token `",
    "sql_error": r"ERROR:\s+(?:syntax error at or near|column|relation|duplicate key)|ERROR \d{4} \(\w+\)|Msg \d+, Level",
}

#: For each syntax cue, strings at least one of which its pattern cannot match without: a
#: substring test is far cheaper than a regex search, so most patterns are never run on a prompt.
_SYNTAX_NEEDS: dict[str, tuple[str, ...]] = {
    "php_open_tag": ("<?php", "$this->", "echo", "$_"),
    "c_include": ("include",),
    "cpp_include": ("include",),
    "cpp_std": ("std::", "template", "cout", "nullptr", "auto", "using namespace"),
    "c_stdio": ("printf", "malloc", "free", "main"),
    "csharp_using": ("System", "Console.Write", "namespace", "Task", "get;"),
    "java_main": ("main", "System.out.print", "java.", "package", "@Override"),
    "python_def": ("def", "import", "self.", "elif", "__name__"),
    "python_traceback": ("Traceback", 'File "'),
    "js_syntax": ("console.log(", "require(", "module.exports", "document.", "function", "=>", "const"),
    "ts_types": ("string", "number", "boolean", "any", "void", "unknown", "never", "interface", "type", "const", ">(",
                 "readonly", "error TS"),
    "node_trace": ("js:", "ts:", "node:internal"),
    "go_syntax": ("package", "func", ":=", "fmt.", "goroutine", "chan", "defer"),
    "rust_syntax": ("fn", "let", "impl", "pub", "!(", "&mut", "Option<", "Result<", "::new()", "error[E"),
    "bash_syntax": ("#!", "fi", "done", "then", "esac", "echo", "$", "|"),
    "shebang_python": ("#!",),
    "sql_syntax": ("SELECT", "INSERT", "CREATE", "GROUP", "LEFT", "WHERE"),
    "java_trace": ("Exception in thread", ".java:"),
    "csharp_trace": ("Exception", "error CS", ".cs:line", ".cs("),
    "gcc_error": (".c:", ".h:", "Segmentation fault", "core dumped", "double free"),
    "gpp_error": (".cpp:", ".cc:", ".hpp:", "terminate called after", "undefined reference to"),
    "php_error": ("PHP ", "error:", ".php"),
    "go_error": ("goroutine", ".go:", "panic: runtime error", "declared and not used"),
    "rust_error": ("error[E", "panicked at", ".rs:", "RUST_BACKTRACE"),
    "bash_error": (".sh: line", "command not found", "unbound variable", "bad substitution", "unexpected token `"),
    "sql_error": ("ERROR", "Msg "),
}

#: The languages whose code each evidence cue (fence, file name, shebang, syntax) points to;
#: syntax both members of a family write (``#include``, ``const x =``) points to both.
_EVIDENCE: dict[str, frozenset[str]] = {
    **{f"fence:{lang}": frozenset({lang}) for lang in (*_LANGS, _OTHER)},
    **{f"file:{lang}": frozenset({lang}) for lang in (*_LANGS, _OTHER)},
    "shebang:bash": frozenset({"bash"}), "shebang:python": frozenset({"python"}), "shebang:other": frozenset({_OTHER}),
    **{f"syntax:{name}": frozenset(langs.split()) for name, langs in {
        "php_open_tag": "php", "c_include": "c cpp", "cpp_include": "cpp", "cpp_std": "cpp", "c_stdio": "c cpp",
        "csharp_using": "csharp", "java_main": "java", "python_def": "python", "python_traceback": "python",
        "js_syntax": "javascript typescript", "ts_types": "typescript", "node_trace": "javascript typescript",
        "go_syntax": "go", "rust_syntax": "rust", "bash_syntax": "bash", "shebang_python": "python", "sql_syntax": "sql",
        "java_trace": "java", "csharp_trace": "csharp", "gcc_error": "c cpp", "gpp_error": "cpp", "php_error": "php",
        "go_error": "go", "rust_error": "rust", "bash_error": "bash", "sql_error": "sql", "js_untyped": "javascript",
    }.items()},
}

#: Words that say what the user wants done (English, Chinese, Spanish, German, French).
_TASK_WORDS: dict[str, str] = {
    "fix": (
        r"\b(?:fix|bug|debug|error|exception|crash|broken|wrong|fails?|failing|doesn'?t work|not working|issue)\w*|修复|报错|错误|为什么.*(?:报|错|失败)|\barregl|\berror\b|\bfalla\b|\bFehler|funktioniert nicht|\bcorrig|\bplante\b|\bbug"
        # a bug told by its symptom: "it hangs", "segfaults on empty input", "leaks memory", "deadlocks"
        r"|\b(?:hangs?|hanging|freezes|freezing|segfault\w*|segmentation fault|infinite loop|off[- ]by[- ]one|deadlock\w*"
        r"|race conditions?|leak(?:s|ing|ed)?|panic(?:s|ked|king)?|unexpected\w*)\b"
        r"|崩溃|卡住|死循环|内存泄漏|\bno funciona|\bse cuelga|\bstürzt|\bhängt\b|\bne (?:marche|fonctionne) pas"
    ),
    "explain": (
        r"\b(?:explain|what does|what is|what are|what do|how does|how do [^?.\n]{1,40}? work"
        r"|walk me through|describe|meaning of|understand|output of|why (?:is|does|would)|why do (?:people|you|we) use"
        r"|eli5|under the hood|what's the (?:difference|purpose|point)|purpose of)\b"
        r"|解释|是什么|做什么|什么意思|什么是|怎么工作|如何工作|原理|有什么区别|有什么不同|含义"
        r"|\bexpl[ií]ca|\bqué hace|\bqué es|\bqué son|\bqué significa|\bpara qué sirve|\bcómo funciona"
        r"|\berklär|\bwas (?:genau )?mach|\bwas ist|\bwas sind|\bwas bedeutet|\bwofür|\bwie funktioniert"
        r"|\bexplique|\bque fait|\bque signifie|\bqu'est-ce qu|\bà quoi sert|\bcomment fonctionne"
    ),
    "test": r"\b(?:unit tests?|tests? cases?|write tests|test suite|pytest|jest|junit|gtest|xunit|nunit|phpunit|mocha|coverage|tests? for)\b|测试|\bpruebas?\b|\btests?\b|\bTestfälle|\bUnit-Tests",
    "translate": r"\b(?:translate|convert|port|rewrite|rewritten|equivalent|version of this|same (?:thing|logic) in)\b|翻译|改写成|转换成|用.{1,12}重写|\btraduc|\bpás[ae]lo|\bübersetz|\bschreib .{0,20} um\b|\btradui",
    "refactor": (
        r"\b(?:refactor|optimi[sz]e|improve|cleaner|clean (?:this|it) up|simplify|idiomatic|readab|faster|performance|efficient|restructure|duplicat)\w*"
        # how people ask for a refactor without the word: "make it more pythonic", "tidy this up", "too nested"
        r"|\b(?:pythonic|tidy|tidier|clean(?:\s+\w+){0,2}\s+up|concise|(?:too|less|overly|so) verbose|moderni[sz]e|elegant|messy|ugly"
        r"|spaghetti|maintainab\w*|best practices?|code smells?|(?:less|too|deeply) nested|repetitive)\b"
        r"|重构|优化|简洁|简化|可读|整理|\brefactoriz|\bmejorar|\bsimplific|\blimpi|\blegible|\brefaktor|\beffizient|\bvereinfach"
        r"|\blesbar|\baufräum|\baméliore|\blisible|\bnettoy"
    ),
    "complete": r"\b(?:complete|finish|continue|fill in|todo|rest of)\b|补全|写完|\bcomplet[ae]\b|\btermina\b|\bvervollständig|\bfertig\b|\bcomplète",
    "generate": r"\b(?:write|create|implement|build|make|generate|give me|how (?:do|can) i|need a|program that|function that|script that)\b|写一个|写个|实现|帮我写|\bescribe|\bcrea\b|\bnecesito|\bschreib|\berstelle|\bécris|\bcrée",
}

#: Control characters other than tab, line feed and carriage return: four in a prompt's first
#: 2,000 characters make it binary.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CODE_LINE = re.compile(r"[{};=()]\s*$|^\s{2,}\S|^\s*(?:#|//)")
_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)")
_FILE = re.compile(r"(?<![\w/])[\w./-]*?[\w-]\.([A-Za-z]{1,6})\b(?![\w(])")
_TARGET = re.compile(
    r"(?:\b(?:in|into|to|using|with|en|nach|auf|vers|a|con|mit|usando)\s+"
    r"(?:(?:an?|the|idiomatic|plain|modern|equivalent|pure|vanilla|simple|c[oó]digo|código)\s+){0,2}|用|成|改成|写成)"
    r"([A-Za-z][\w+#.]*(?:-[A-Za-z]\b)?(?:\s?\+\+|#|\s[Ss]harp\b)?)(?![\u00C0-\u024F]|:[\\/])",
    re.ASCII,
)
_POSSESSIVE = re.compile(
    r"([A-Za-z][\w+#]*)'s\b|\b(?:from|like in|coming from|instead of|not)\s+([A-Za-z][\w+#]*(?:-[A-Za-z]\b)?(?:\s[Ss]harp\b)?)(?![\u00C0-\u024F])",
    re.ASCII,
)
#: Names a word right after "in" / "into" / "en" / "用" means, in any case and with or without a
#: version ("in go", "en c sharp", "to C++17", "into php8"): the position says it names a language.
_TARGET_WORDS: dict[str, str] = {
    **{w: "python" for w in ("python", "py", "cpython", "pypy")},
    **{w: "cpp" for w in ("c++", "cpp", "cxx")},
    **{w: "c" for w in ("c", "ansi c")},
    "java": "java",
    **{w: "javascript" for w in ("javascript", "js", "node", "nodejs", "node.js", "ecmascript", "vanilla js")},
    **{w: "typescript" for w in ("typescript", "ts")},
    "php": "php",
    **{w: "csharp" for w in ("c#", "csharp", "c sharp", ".net", "dotnet")},
    **{w: "bash" for w in ("bash", "sh", "shell", "zsh", "posix sh")},
    **{w: "go" for w in ("go", "golang")},
    **{w: "rust" for w in ("rust",)},
    **{w: "sql" for w in ("sql", "mysql", "postgresql", "postgres", "sqlite", "mariadb", "t-sql", "tsql", "plpgsql")},
    **{w: _OTHER for w in (
        "ruby", "perl", "lua", "kotlin", "swift", "scala", "haskell", "elixir", "dart", "julia", "matlab", "fortran",
        "cobol", "zig", "ocaml", "clojure", "erlang", "f#", "groovy", "powershell", "objective-c", "assembly", "nim",
        "crystal", "racket", "scheme", "lisp", "prolog", "vb", "vba", "vb.net", "solidity", "r",
    )},
}

# ASCII word boundaries: a name glued to Chinese prose ("用Python写") still counts as a word; the
# one-letter and two-letter names also refuse an accented Latin letter next to them ("Cómo", "Código").
_NAME_RX = {lang: re.compile(rx, re.ASCII) for lang, rx in _NAMES.items()}
_TYPESCRIPT_EVIDENCE = frozenset({"syntax:ts_types", "fence:typescript", "file:typescript"})
#: What only TypeScript writes, more widely than the ``ts_types`` cue (which must not fire on
#: Python's or Rust's annotated parameters): read only on JavaScript-family code.
TYPESCRIPT_ONLY = re.compile(
    r"\(\s*\w+\??\s*:\s*[\w\[{(]"                          # a typed first parameter
    r"|\)\s*:\s*[\w\[{<|]+[^=;\n]*(?:=>|\{)"              # a return type
    r"|\b(?:let|const|var)\s+\w+\s*:\s*\w"                # a typed variable
    r"|\b(?:private|public|protected|readonly)\s+\w"        # member modifiers
    r"|\b(?:interface|enum|namespace)\s+\w+|\btype\s+\w+(?:<[^>]*>)?\s*="
    r"|\bimplements\s+\w|\b(?:import|export)\s+type\b|\bdeclare\s+\w|\babstract\s+class\b"
    r"|\bas\s+(?:any|unknown|const|string|number|boolean|[A-Z]\w*)\b"
    r"|\b[A-Z]\w*<[\w\[\]|, ]+>|\w+!\.|:\s*(?:string|number|boolean|any|void|unknown|never)\b"
)
_SYNTAX_RX = {name: re.compile(rx, re.M) for name, rx in _SYNTAX.items()}


def _top_level_alternatives(pattern: str) -> list[str]:
    """The branches of ``pattern``'s outermost alternation (``|`` outside groups and classes)."""
    branches, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":  # a ']' right after '[' is a member
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
        i += 1
    return branches + [pattern[start:]]


#: Escapes that stand for one literal character; the other letter escapes are classes or assertions.
_LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


def _class_end(pattern: str, i: int) -> int:
    """The index just past the character class that opens at ``pattern[i]`` (``[``); a ``]`` right
    after ``[`` or ``[^`` is a member."""
    i += 1
    if pattern[i:i + 1] == "^":
        i += 1
    if pattern[i:i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _required_literal(branch: str) -> str:
    """The longest run of literal characters every match of ``branch`` (a regular expression without
    a top-level ``|``, compiled without ``re.I``) contains: text without it cannot match. Runs are
    read outside groups and classes; a character under a quantifier that allows zero ends its run
    without it. ``""`` when there is none."""
    best, run, i = "", [], 0

    def end_run() -> None:
        nonlocal best, run
        if len(run) > len(best):
            best = "".join(run)
        run = []

    while i < len(branch):
        ch = branch[i]
        if ch == "\\":
            nxt = branch[i + 1:i + 2]
            if nxt.isalnum() and nxt not in _LITERAL_ESCAPES:
                end_run()  # \b, \w, \s, \d, \u... (read as not literal)
                i += 2
                continue
            run.append(_LITERAL_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == "[":
            end_run()
            i = _class_end(branch, i)
        elif ch == "(":
            end_run()
            depth = 0
            while i < len(branch):
                if branch[i] == "\\":
                    i += 2
                    continue
                if branch[i] == "[":
                    i = _class_end(branch, i)
                    continue
                if branch[i] == "(":
                    depth += 1
                elif branch[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
        elif ch in "*?{":
            if ch == "{" and not re.match(r"\{\d*,?\d*\}", branch[i:]):
                run.append(ch)  # a literal brace
                i += 1
                continue
            zero = ch != "{" or re.match(r"\{0?,|\{0\}", branch[i:]) is not None
            if run and zero:
                run.pop()
            end_run()
            i = branch.index("}", i) + 1 if ch == "{" else i + 1
        elif ch == "+":
            end_run()
            i += 1
        elif ch in ".^$|)":
            end_run()
            i += 1
        else:
            run.append(ch)
            i += 1
    end_run()
    return best


def _gated(pattern: str, flags: int) -> list[tuple[str, re.Pattern]]:
    """``pattern``'s top-level branches, each compiled with the literal it requires
    (:func:`_required_literal`): a text matches ``pattern`` exactly when, for some branch, the
    literal is in the text and the branch matches. Checking the literal first skips most searches."""
    caseless = bool(flags & re.I) or "(?i)" in pattern
    return [("" if caseless else _required_literal(b), re.compile(b, flags)) for b in _top_level_alternatives(pattern)]


def _gated_search(parts: list[tuple[str, re.Pattern]], text: str) -> bool:
    """Whether ``text`` matches the pattern :func:`_gated` split into ``parts``."""
    return any(needle in text and rx.search(text) is not None for needle, rx in parts)


#: Each syntax cue's pattern split into branches gated by their literals (:func:`_gated`).
_SYNTAX_PARTS = {name: _gated(rx, re.M) for name, rx in _SYNTAX.items()}


def _scan_friendly(pattern: str) -> str:
    """The same language as ``pattern``, arranged so that a search tries few branches per position:
    the branches that start at a word boundary share one ``\\b``, and those that start with a
    Chinese character share one look-ahead. Whether a text matches does not depend on the order of
    an alternation's branches, so the cues are unchanged (``tests/test_routing_cues.py``)."""
    at_word, chinese, other = [], [], []
    for branch in _top_level_alternatives(pattern):
        if branch.startswith("\\b"):
            at_word.append(branch[2:])
        elif branch and "\u4e00" <= branch[0] <= "\u9fff":
            chinese.append(branch)
        else:
            other.append(branch)
    parts = ([r"\b(?:" + "|".join(at_word) + ")"] if at_word else []) + (
        [r"(?=[\u4e00-\u9fff])(?:" + "|".join(chinese) + ")"] if chinese else []) + other
    return "|".join(parts)


def _lower_case(pattern: str) -> str:
    """``pattern`` with its literal letters lower-cased (an escape such as ``\\S`` or ``\\b`` is left
    as it is): searched in lower-cased text, it finds what ``pattern`` with ``re.I`` finds in the
    text, and Python's ``re`` scans it two to three times faster."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i:i + 2])
            i += 2
        else:
            out.append(pattern[i].lower())
            i += 1
    return "".join(out)


#: The task words, arranged for scanning (:func:`_scan_friendly`) and lower-cased
#: (:func:`_lower_case`): search them in lower-cased prose.
_TASK_RX = {task: re.compile(_lower_case(_scan_friendly(rx))) for task, rx in _TASK_WORDS.items()}
#: What ends a text that stops open (``shape:ends_open``), once trailing whitespace is stripped.
_OPEN_END = re.compile(r"(?:[{(\[,=:]|=>|->|\bthen|\bdo|\\)\Z")
_INDENTED = re.compile(r"[ \t]+\S")


def _ends_open(text: str) -> bool:
    r"""Whether the last 400 characters of ``text`` stop open: on an opening bracket, ``,``, ``=``,
    ``:``, ``=>``, ``->``, ``then``, ``do`` or a line continuation, or on an indented line after a
    line break (as ``(?:[{(\[,=:]|=>|->|\bthen|\bdo|\\)\s*$|\n[ \t]+\S[^\n]*\s*$`` searches it,
    without trying every position)."""
    tail = text[-400:].rstrip()
    # six characters: "then" and the one before it, for the word boundary
    if _OPEN_END.search(tail[-6:]):
        return True
    line = tail.rfind("\n")
    return line >= 0 and _INDENTED.match(tail, line + 1) is not None

#: Every cue name, in the fixed order a cue vector uses.
CUE_NAMES: tuple[str, ...] = tuple(
    [f"fence:{lang}" for lang in (*_LANGS, _OTHER)] + ["fence:untagged"]
    + [f"shebang:{x}" for x in ("bash", "python", "other")]
    + [f"file:{lang}" for lang in (*_LANGS, _OTHER)]
    + [f"mention:{lang}" for lang in (*_LANGS, _OTHER)]
    + [f"target:{lang}" for lang in (*_LANGS, _OTHER)]
    + [f"aside:{lang}" for lang in (*_LANGS, _OTHER)]
    + [f"last_mention:{lang}" for lang in (*_LANGS, _OTHER)]
    + [f"syntax:{name}" for name in _SYNTAX] + ["syntax:js_untyped"]
    + [f"ask:{task}" for task in _TASK_WORDS]
    + ["target:matches_code", "target:differs_from_code"]
    + ["shape:mostly_code", "shape:no_prose", "shape:empty", "shape:binary", "shape:non_ascii_prose", "shape:long",
       "shape:ends_open"]
)
CUE_INDEX: dict[str, int] = {name: i for i, name in enumerate(CUE_NAMES)}


def _name_lang(word: str, preposition: str = "") -> str | None:
    """The language a word in target position names: a known name, in any case, with an optional version.

    Lower-case "go" after "to" is the English verb, not the language.
    """
    word = word.strip().rstrip(".,:;!?")
    lang = next((lang for lang, rx in _NAME_RX.items() if rx.fullmatch(word)), None)
    if lang:
        return lang
    low = word.lower()
    if re.fullmatch(r"es(?:\d|20\d\d)", low):
        return "javascript"
    if word == "go" and preposition.lower() == "to":
        return None
    return _TARGET_WORDS.get(low) or _TARGET_WORDS.get(re.sub(r"(?<=[a-z+#])\s?v?\d+(?:\.\d+)*$", "", low))


def _prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"```.*?(?:```|\Z)", " ", text, flags=re.S)


_SENTENCE = re.compile(r"[A-Za-z\u00C0-\u024F']{2,}[,.]?\s+[A-Za-z\u00C0-\u024F']{2,}[,.]?\s+[A-Za-z\u00C0-\u024F']{2,}|[\u4e00-\u9fff]{2,}")


def _words_outside_code(prose: str) -> str:
    """The lines of ``prose`` that are not unfenced code: a line that looks like code (ends in
    ``;`` / ``{`` / ``)``, is indented, is a comment) and has no run of three words is left out,
    so an identifier ``ts``, ``js`` or ``sh`` in pasted code is not read as a language's name."""
    return "\n".join(line for line in prose.splitlines() if not _CODE_LINE.search(line) or _SENTENCE.search(line))


@lru_cache(maxsize=256)
def _split_prose(text: str) -> tuple[str, str]:
    """``(text outside fenced blocks, its lines that are not unfenced code)``; cached, since the
    cues and the router's lexicon both read them."""
    prose = _prose(text)
    return prose, _words_outside_code(prose[:20000])


def prose_outside_code(text: str) -> str:
    """The prose lines of ``text``: outside fenced blocks, and not lines of unfenced code."""
    return _split_prose(text)[1]


_FENCED = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)


def code_outside_prose(text: str) -> str:
    """The code of ``text``, what :func:`prose_outside_code` leaves out: the contents of its fenced
    blocks, then its unfenced lines that look like code (blank lines kept)."""
    outside, words = _split_prose(text)
    prose_lines = set(words.splitlines())
    loose = [line for line in outside[:20000].splitlines() if not line.strip() or line not in prose_lines]
    return "\n".join(_FENCED.findall(text) + loose).strip("\n")


def extract_cues(text: str) -> list[str]:
    """Names of the cues that fire on ``text``, in :data:`CUE_NAMES` order."""
    return list(_cues(text))


@lru_cache(maxsize=256)
def _cues(text: str) -> tuple[str, ...]:
    """Cached: a prompt routed again (or explained with ``PromptRouter.cues``) is not scanned again."""
    found: set[str] = set()
    stripped = text.strip()
    if not stripped:
        return ("shape:empty",)
    if len(_CONTROL.findall(text, 0, 2000)) > 3:
        found.add("shape:binary")
    # everything below reads at most 20,000 characters: the head and the tail of a longer prompt
    sample = text if len(text) <= 20000 else text[:15000] + "\n" + text[-5000:]
    if len(text) > 20000:
        found.add("shape:long")
    for tag in _FENCE.findall(sample):
        tag = tag.lower()
        found.add(f"fence:{FENCE_TAGS[tag]}" if tag in FENCE_TAGS else "fence:untagged")
    first = stripped[:2000].splitlines()[0]
    if first.startswith("#!"):
        kind = "bash" if re.search(r"\b(?:ba|z)?sh\b", first) else "python" if "python" in first else "other"
        found.add(f"shebang:{kind}")
    for ext in _FILE.findall(sample):
        lang = EXTENSIONS.get(ext.lower())
        if lang:
            found.add(f"file:{lang}")
    prose, words = _split_prose(text)
    prose = prose[:20000]
    all_lines = sample.splitlines()
    code_lines = [l for l in all_lines if _CODE_LINE.search(l)]
    lines = [l for l in all_lines if l.strip()]
    if lines and len(code_lines) / len(lines) > 0.6:
        found.add("shape:mostly_code")
    if not re.search(r"[A-Za-z\u00C0-\u024F]{3,}\s+[A-Za-z\u00C0-\u024F]{2,}\s+[A-Za-z\u00C0-\u024F]{2,}|[\u4e00-\u9fff]{4,}", prose):
        found.add("shape:no_prose")
    if re.search(r"[\u00C0-\u024F\u4e00-\u9fff]", prose):
        found.add("shape:non_ascii_prose")
    if _ends_open(text):
        found.add("shape:ends_open")
    last_pos, last_lang = -1, None
    # bytes that are not text name no language, whatever letters they happen to hold
    for lang, rx in () if "shape:binary" in found else _NAME_RX.items():
        for m in rx.finditer(words):
            found.add(f"mention:{lang}")
            if m.start() > last_pos:
                last_pos, last_lang = m.start(), lang
    if last_lang:
        found.add(f"last_mention:{last_lang}")
    for m in _TARGET.finditer(words):
        lang = _name_lang(m.group(1), m.group(0).split(None, 1)[0] if m.group(0)[0].isalpha() else "")
        if lang:
            found.add(f"target:{lang}")
    for m in _POSSESSIVE.finditer(words):
        lang = _name_lang(m.group(1) or m.group(2))
        if lang:
            found.add(f"aside:{lang}")
    for name, parts in _SYNTAX_PARTS.items():
        if any(needle in sample for needle in _SYNTAX_NEEDS[name]) and _gated_search(parts, sample):
            found.add(f"syntax:{name}")
    if "syntax:js_syntax" in found and not found & _TYPESCRIPT_EVIDENCE and not TYPESCRIPT_ONLY.search(sample):
        # JavaScript-family code with nothing only TypeScript writes is JavaScript as it stands
        found.add("syntax:js_untyped")
    targets = {name[7:] for name in found if name.startswith("target:")}
    evidence = frozenset().union(*(_EVIDENCE[name] for name in found if name in _EVIDENCE))
    if targets and evidence:
        # a named language the code is not written in is asked for by a translation, whatever its phrasing
        found.add("target:matches_code" if targets & evidence else "target:differs_from_code")
    asked = prose[:5000].lower()
    for task, rx in _TASK_RX.items():
        if rx.search(asked):
            found.add(f"ask:{task}")
    return tuple(name for name in CUE_NAMES if name in found)


def cue_matrix(cue_lists: Iterable[list[str]], names: Sequence[str] = CUE_NAMES):
    """A sparse 0/1 matrix, one row per prompt, one column per entry of ``names``.

    A trained router passes the cue names it was trained with, so cues added to this module
    later are ignored by it rather than shifting its columns.
    """
    import numpy as np
    from scipy import sparse

    index = CUE_INDEX if names is CUE_NAMES else {name: i for i, name in enumerate(names)}
    rows, cols = [], []
    n = 0
    for i, cues in enumerate(cue_lists):
        n = i + 1
        for c in cues:
            if c in index:
                rows.append(i)
                cols.append(index[c])
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n, len(names)))
