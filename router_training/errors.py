"""Error messages and stack traces as each toolchain prints them, filled with names from real code.

The formats follow what the compilers and runtimes print (CPython tracebacks, javac, gcc/g++,
Node, tsc, PHP, .NET, bash, Go, rustc, PostgreSQL/MySQL); identifiers and file names come
from the snippet the message is attached to, so the router cannot learn fixed strings.
"""
from __future__ import annotations

import random
import re

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{2,24}\b")
_KEYWORDS = {
    "def", "return", "class", "function", "public", "private", "static", "void", "const", "let", "var", "import",
    "from", "include", "struct", "impl", "for", "while", "else", "elif", "then", "select", "SELECT", "FROM", "where",
    "WHERE", "true", "false", "null", "None", "True", "False", "self", "this", "new", "package", "func", "echo", "int",
}


def identifiers(code: str) -> list[str]:
    names = [n for n in _IDENT.findall(code) if n not in _KEYWORDS]
    return names or ["value", "items", "result", "config"]


def _pick(rng: random.Random, names: list[str]) -> str:
    return rng.choice(names)


def _line(rng: random.Random) -> int:
    return rng.randint(3, 240)


FILE_STEMS = ["main", "app", "utils", "server", "index", "handler", "service", "models", "helpers", "core", "api", "db", "worker", "test_main"]


def error_message(language: str, code: str, rng: random.Random) -> str:
    """One realistic error for ``language``; an unknown language gets a generic runtime error."""
    names = identifiers(code)
    a, b = _pick(rng, names), _pick(rng, names)
    stem = rng.choice(FILE_STEMS)
    n = _line(rng)
    builders = _ERRORS.get(language, _ERRORS["unknown"])
    return rng.choice(builders)(a, b, stem, n, rng)


def _py(a, b, stem, n, rng):
    tail = rng.choice([
        f"KeyError: '{b}'", "TypeError: unsupported operand type(s) for +: 'int' and 'str'",
        f"AttributeError: 'NoneType' object has no attribute '{b}'", "IndexError: list index out of range",
        f"NameError: name '{b}' is not defined", "ZeroDivisionError: division by zero",
        f"ValueError: invalid literal for int() with base 10: '{b}'", f"ModuleNotFoundError: No module named '{b.lower()}'",
        f"TypeError: {a}() missing 1 required positional argument: '{b}'", "RecursionError: maximum recursion depth exceeded",
    ])
    return (
        "Traceback (most recent call last):\n"
        f'  File "/home/dev/project/{stem}.py", line {n}, in <module>\n    {a}({b})\n'
        f'  File "/home/dev/project/{rng.choice(FILE_STEMS)}.py", line {n + 7}, in {a}\n    return {b}[0]\n{tail}'
    )


def _py_syntax(a, b, stem, n, rng):
    return rng.choice([
        f'  File "{stem}.py", line {n}\n    def {a}({b})\n               ^\nSyntaxError: expected \':\'',
        f'  File "{stem}.py", line {n}\n    {b} = 1\nIndentationError: unexpected indent',
    ])


def _java(a, b, stem, n, rng):
    cls = a[:1].upper() + a[1:]
    return rng.choice([
        f'Exception in thread "main" java.lang.NullPointerException: Cannot invoke "String.length()" because "{b}" is null\n'
        f"\tat com.example.{cls}.{b}({cls}.java:{n})\n\tat com.example.{cls}.main({cls}.java:{n + 12})",
        f'Exception in thread "main" java.lang.ArrayIndexOutOfBoundsException: Index 5 out of bounds for length 5\n'
        f"\tat {cls}.{b}({cls}.java:{n})",
        f"{cls}.java:{n}: error: cannot find symbol\n        {b}.add(x);\n        ^\n  symbol:   variable {b}\n  location: class {cls}",
        f"{cls}.java:{n}: error: incompatible types: String cannot be converted to int",
        f"java.util.ConcurrentModificationException\n\tat java.base/java.util.ArrayList$Itr.checkForComodification(ArrayList.java:1013)\n\tat {cls}.{b}({cls}.java:{n})",
    ])


def _cpp(a, b, stem, n, rng):
    return rng.choice([
        f"{stem}.cpp:{n}:5: error: '{b}' was not declared in this scope",
        f"{stem}.cpp:{n}:12: error: no matching function for call to '{a}(std::vector<int>&)'",
        f"/usr/bin/ld: /tmp/cc{b[:4]}.o: in function `main':\n{stem}.cpp:(.text+0x2a): undefined reference to `{a}::{b}()'\ncollect2: error: ld returned 1 exit status",
        "terminate called after throwing an instance of 'std::out_of_range'\n  what():  vector::_M_range_check: __n (which is 3) >= this->size() (which is 3)\nAborted (core dumped)",
        f"{stem}.cpp:{n}:20: error: passing 'const {a}' as 'this' argument discards qualifiers [-fpermissive]",
        f"{stem}.hpp:{n}:1: error: expected ';' after class definition",
    ])


def _c(a, b, stem, n, rng):
    return rng.choice([
        f"{stem}.c:{n}:5: warning: implicit declaration of function '{a}' [-Wimplicit-function-declaration]",
        f"{stem}.c:{n}:14: error: '{b}' undeclared (first use in this function)",
        "Segmentation fault (core dumped)",
        "free(): double free detected in tcache 2\nAborted (core dumped)",
        f"==1234== Invalid read of size 4\n==1234==    at 0x1091A9: {a} ({stem}.c:{n})\n==1234==    by 0x109214: main ({stem}.c:{n + 20})",
        f"{stem}.c:{n}:9: error: incompatible types when assigning to type 'struct {b}' from type 'int'",
    ])


def _js(a, b, stem, n, rng):
    return rng.choice([
        f"TypeError: Cannot read properties of undefined (reading '{b}')\n    at {a} (/app/src/{stem}.js:{n}:21)\n    at processTicksAndRejections (node:internal/process/task_queues:95:5)",
        f"ReferenceError: {b} is not defined\n    at Object.<anonymous> (/home/u/{stem}.js:{n}:3)",
        f"Uncaught TypeError: {a}.{b} is not a function\n    at HTMLButtonElement.<anonymous> ({stem}.js:{n})",
        f"SyntaxError: Unexpected token '}}'\n    at {stem}.js:{n}",
        "UnhandledPromiseRejectionWarning: Error: connect ECONNREFUSED 127.0.0.1:5432",
    ])


def _ts(a, b, stem, n, rng):
    return rng.choice([
        f"src/{stem}.ts({n},7): error TS2322: Type 'string' is not assignable to type 'number'.",
        f"src/{stem}.ts:{n}:15 - error TS2339: Property '{b}' does not exist on type '{a[:1].upper() + a[1:]}'.",
        f"{stem}.ts:{n}:20 - error TS7006: Parameter '{b}' implicitly has an 'any' type.",
        f"error TS2345: Argument of type 'string | undefined' is not assignable to parameter of type 'string'.\n  src/{stem}.ts:{n}",
        f"src/{stem}.tsx:{n}:3 - error TS2532: Object is possibly 'undefined'.",
    ])


def _php(a, b, stem, n, rng):
    return rng.choice([
        f"PHP Fatal error:  Uncaught Error: Call to undefined function {a}() in /var/www/html/{stem}.php:{n}\nStack trace:\n#0 {{main}}\n  thrown in /var/www/html/{stem}.php on line {n}",
        f"Parse error: syntax error, unexpected token \"}}\" in /var/www/{stem}.php on line {n}",
        f"Warning: Undefined array key \"{b}\" in /srv/app/{stem}.php on line {n}",
        f"Fatal error: Uncaught TypeError: {a}(): Argument #1 (${b}) must be of type array, string given, called in {stem}.php on line {n}",
        f"Notice: Undefined variable: {b} in C:\\xampp\\htdocs\\{stem}.php on line {n}",
    ])


def _cs(a, b, stem, n, rng):
    cls = a[:1].upper() + a[1:]
    return rng.choice([
        f"Unhandled exception. System.NullReferenceException: Object reference not set to an instance of an object.\n   at {cls}.{b}() in C:\\src\\{cls}.cs:line {n}\n   at Program.Main(String[] args) in C:\\src\\Program.cs:line 12",
        f"{cls}.cs({n},17): error CS0103: The name '{b}' does not exist in the current context",
        f"{cls}.cs({n},30): error CS1002: ; expected",
        "System.InvalidOperationException: Sequence contains no elements\n   at System.Linq.ThrowHelper.ThrowNoElementsException()",
        f"error CS0029: Cannot implicitly convert type 'string' to 'int' [{cls}.csproj]",
    ])


def _bash(a, b, stem, n, rng):
    return rng.choice([
        f"./{stem}.sh: line {n}: syntax error near unexpected token `fi'",
        f"./{stem}.sh: line {n}: [: missing `]'",
        f"{stem}.sh: line {n}: {b}: unbound variable",
        f"./{stem}.sh: line {n}: {b.lower()}: command not found",
        f"{stem}.sh: line {n}: ${{{b}[@]}}: bad substitution",
        f"bash: ./{stem}.sh: /bin/bash^M: bad interpreter: No such file or directory",
    ])


def _go(a, b, stem, n, rng):
    return rng.choice([
        f"panic: runtime error: index out of range [5] with length 5\n\ngoroutine 1 [running]:\nmain.{a}(...)\n\t/home/dev/app/{stem}.go:{n} +0x1d\nexit status 2",
        f"./{stem}.go:{n}:2: undefined: {b}",
        f"./{stem}.go:{n}:6: declared and not used: {b}",
        "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\nmain.main()",
        f"./{stem}.go:{n}:14: cannot use {b} (variable of type int) as string value in argument to {a}",
        "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47b2c5]",
    ])


def _rust(a, b, stem, n, rng):
    return rng.choice([
        f"error[E0382]: borrow of moved value: `{b}`\n --> src/{stem}.rs:{n}:20\n  |\n{n} |     println!(\"{{:?}}\", {b});\n  |                     ^ value borrowed here after move",
        f"error[E0502]: cannot borrow `{b}` as mutable because it is also borrowed as immutable\n --> src/{stem}.rs:{n}:5",
        f"thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/{stem}.rs:{n}:37\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        f"error[E0308]: mismatched types\n --> src/{stem}.rs:{n}:9\n  |\n  = note: expected `usize`, found `i32`",
        f"error[E0425]: cannot find value `{b}` in this scope\n --> src/{stem}.rs:{n}:13",
    ])


def _sql(a, b, stem, n, rng):
    return rng.choice([
        f'ERROR:  syntax error at or near "FROM"\nLINE {n % 9 + 1}: SELECT {b}, FROM {a}\n                  ^',
        "ERROR 1064 (42000): You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near 'WHERE' at line 3",
        f'ERROR:  column "{a}.{b}" must appear in the GROUP BY clause or be used in an aggregate function',
        f'ERROR:  duplicate key value violates unique constraint "{a}_pkey"\nDETAIL:  Key (id)=(42) already exists.',
        f"Msg 207, Level 16, State 1, Line {n % 20}\nInvalid column name '{b}'.",
        f'ERROR:  relation "{a.lower()}" does not exist',
        "sqlite3.OperationalError: near \"GROUP\": syntax error",
    ])


def _unknown(a, b, stem, n, rng):
    return rng.choice([
        f"Error: {b} is undefined (line {n})",
        f"{stem}: unexpected end of input at line {n}",
        f"undefined method `{b}' for nil:NilClass (NoMethodError)",
        f"Can't locate object method \"{b}\" via package \"{a}\" at {stem}.pl line {n}.",
        f"lua: {stem}.lua:{n}: attempt to index a nil value (global '{b}')",
    ])


_ERRORS = {
    "python": [_py, _py, _py_syntax], "java": [_java], "cpp": [_cpp], "c": [_c], "javascript": [_js],
    "typescript": [_ts], "php": [_php], "csharp": [_cs], "bash": [_bash], "go": [_go], "rust": [_rust],
    "sql": [_sql], "unknown": [_unknown],
}
