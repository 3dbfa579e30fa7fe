"""The twelve programming languages moe-coder routes, evaluates and trains for: their one home.

Each :class:`Language` carries what every step needs to know about it: the label the router
predicts (``id``), how people name it (``name``), the code-fence tags and file extensions that
mark its code, its HumanEval-X file code, and the tools that run its code. The router's cues,
its training-data builder, the benchmarks, the code extractor and the executors read them here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """One programming language.

    ``fence_tags`` are the tags its code is usually fenced with (```` ```py ````), most common
    first; ``more_fence_tags`` rarer spellings that also name it. ``extensions`` are file
    extensions without the dot, the usual one first. ``humaneval_x`` is its HumanEval-X file
    code (``humaneval_<code>.jsonl.gz``; ``None`` when HumanEval-X has none). ``toolchain``
    names the commands that run its code for execution-based evaluation (empty: no executor).
    """

    id: str
    name: str
    fence_tags: tuple[str, ...]
    extensions: tuple[str, ...]
    more_fence_tags: tuple[str, ...] = ()
    humaneval_x: str | None = None
    toolchain: tuple[str, ...] = ()

    @property
    def all_fence_tags(self) -> tuple[str, ...]:
        """Every fence tag that names this language."""
        return self.fence_tags + self.more_fence_tags


#: The twelve languages, in the router's label order.
LANGUAGES: tuple[Language, ...] = (
    Language("python", "Python", ("python", "py", "python3"), ("py", "pyi", "ipynb"),
             more_fence_tags=("ipython", "pycon"), humaneval_x="python", toolchain=("python",)),
    Language("cpp", "C++", ("cpp", "c++"), ("cpp", "cc", "cxx", "hpp", "hh"),
             more_fence_tags=("cxx", "hpp", "cc"), humaneval_x="cpp", toolchain=("g++",)),
    Language("c", "C", ("c",), ("c", "h"), more_fence_tags=("h",)),
    Language("java", "Java", ("java",), ("java",), humaneval_x="java", toolchain=("java",)),
    Language("javascript", "JavaScript", ("js", "javascript", "jsx"), ("js", "mjs", "cjs", "jsx"),
             more_fence_tags=("node", "mjs"), humaneval_x="js", toolchain=("node",)),
    Language("typescript", "TypeScript", ("ts", "typescript", "tsx"), ("ts", "tsx")),
    Language("php", "PHP", ("php",), ("php",)),
    Language("csharp", "C#", ("csharp", "cs", "c#"), ("cs", "csproj")),
    Language("bash", "Bash", ("bash", "sh", "shell", "console"), ("sh", "bash"),
             more_fence_tags=("zsh", "shell-session")),
    Language("go", "Go", ("go", "golang"), ("go",), humaneval_x="go", toolchain=("go",)),
    Language("rust", "Rust", ("rust", "rs"), ("rs",), humaneval_x="rust", toolchain=("rustc",)),
    Language("sql", "SQL", ("sql", "postgresql", "mysql"), ("sql",),
             more_fence_tags=("postgres", "plsql", "tsql", "sqlite")),
)

#: Every language by its id.
BY_ID: dict[str, Language] = {language.id: language for language in LANGUAGES}

#: Fence tags and file extensions of languages outside the twelve (code the router must not
#: take for one of them).
OTHER_FENCE_TAGS: tuple[str, ...] = (
    "ruby", "rb", "perl", "lua", "kotlin", "swift", "scala", "haskell", "r", "dart", "elixir",
    "html", "css", "yaml", "json", "xml",
)
OTHER_EXTENSIONS: tuple[str, ...] = ("rb", "pl", "pm", "lua", "kt", "swift", "scala", "hs", "dart", "ex")


def get_language(language_id: str) -> Language:
    """The :class:`Language` with this id; an unknown id is an error naming the twelve."""
    try:
        return BY_ID[language_id]
    except KeyError:
        raise ValueError(f"unknown language {language_id!r}; expected one of {', '.join(BY_ID)}") from None


def display_name(language_id: str) -> str:
    """How people write the language's name (``"C++"``); an id outside the twelve as it is."""
    return BY_ID[language_id].name if language_id in BY_ID else language_id
