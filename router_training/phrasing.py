"""Phrase banks the data builder wraps real code and real task descriptions in.

Each bank is a list of request phrasings written the way people type them: English, Chinese,
Spanish, German and French prose, terse and chatty, with and without punctuation. The builder
splits every bank by position into train / validation / test phrasings, so the test split
never sees a phrasing the router trained on.

Placeholders: ``{L}`` the (target) language as people name it, ``{S}`` the source language of
a translation, ``{desc}`` a task description, ``{feat}`` a feature of another language.
"""
from __future__ import annotations

#: How people name each language in prose (first entry is the canonical spelling).
LANGUAGE_NAMES: dict[str, list[str]] = {
    "python": ["Python", "python", "python3", "Python 3", "py", "Python3"],
    "cpp": ["C++", "c++", "cpp", "C++17", "C++20", "modern C++", "CPP"],
    "c": ["C", "C", "plain C", "ANSI C", "C99", "C11", "C (not C++)"],
    "java": ["Java", "java", "Java 17", "Java 8", "JAVA"],
    "javascript": ["JavaScript", "javascript", "JS", "js", "Node.js", "node", "vanilla JS", "ES6", "Javascript", "nodejs"],
    "typescript": ["TypeScript", "typescript", "TS", "ts", "Typescript"],
    "php": ["PHP", "php", "PHP 8", "PHP8", "Php"],
    "csharp": ["C#", "c#", "csharp", "C# .NET", ".NET (C#)", "C Sharp", "CSharp", "dotnet C#"],
    "bash": ["bash", "Bash", "shell", "a shell script", "sh", "a bash script", "Linux shell", "shell script"],
    "go": ["Go", "golang", "Golang", "Go", "go"],
    "rust": ["Rust", "rust", "Rust", "idiomatic Rust"],
    "sql": ["SQL", "sql", "PostgreSQL", "Postgres", "MySQL", "SQLite", "T-SQL", "an SQL query", "a SQL query", "MariaDB"],
}

#: Languages outside the label set: prompts in them route to ``unknown``.
OTHER_LANGUAGES: list[str] = [
    "Ruby", "Perl", "Lua", "Kotlin", "Swift", "Scala", "Haskell", "Elixir", "Dart", "Julia", "R", "MATLAB",
    "Fortran", "COBOL", "Zig", "OCaml", "Clojure", "Erlang", "F#", "Objective-C", "Groovy", "PowerShell",
    "Visual Basic", "Prolog", "Lisp", "Nim", "Crystal", "Solidity", "VHDL", "Verilog", "Assembly",
]

#: Features people cite from a language when asking for something "like it" in another.
FEATURES: dict[str, list[str]] = {
    "python": ["enumerate", "list comprehensions", "f-strings", "decorators", "a with statement", "zip", "defaultdict", "generators with yield"],
    "cpp": ["std::vector", "RAII", "templates", "std::optional", "move semantics", "std::map"],
    "c": ["malloc and free", "pointer arithmetic", "printf format strings", "structs", "function pointers"],
    "java": ["streams", "Optional", "interfaces", "the Collections API", "try-with-resources", "records"],
    "javascript": ["Promise.all", "array.map and filter", "async/await", "closures", "the spread operator", "setTimeout"],
    "typescript": ["union types", "generics", "interfaces", "type guards", "mapped types"],
    "php": ["array_map", "associative arrays", "explode", "isset", "sprintf"],
    "csharp": ["LINQ", "properties", "async/await", "extension methods", "IEnumerable", "using blocks"],
    "bash": ["pipes", "xargs", "grep -r", "for loops over files", "sed"],
    "go": ["goroutines", "channels", "defer", "the select statement", "slices"],
    "rust": ["the ? operator", "traits", "iterators", "pattern matching", "Option and Result", "ownership"],
    "sql": ["window functions", "a CTE", "GROUP BY", "a LEFT JOIN", "upserts"],
}

#: Libraries, tools and idioms that give a language away without naming it.
ECOSYSTEM: dict[str, list[str]] = {
    "python": ["pandas", "Django", "Flask", "numpy", "asyncio", "pytest", "FastAPI", "a list comprehension", "pip", "a virtualenv", "requests"],
    "cpp": ["gtest", "Qt", "Boost", "CMake", "the STL", "std::unique_ptr", "a header-only template", "std::thread", "g++"],
    "c": ["malloc", "gcc", "valgrind", "a Makefile", "pthreads", "a struct with a function pointer", "fgets", "a char* buffer"],
    "java": ["JUnit", "Spring Boot", "Maven", "Gradle", "Hibernate", "a HashMap<String, Integer>", "the JVM", "Mockito"],
    "javascript": ["Jest", "React", "Express", "npm", "jQuery", "Vue", "the DOM", "fetch and .then()", "a Node.js stream"],
    "typescript": ["Angular", "tsc", "Deno", "NestJS", "zod", "vitest", "a generic interface", "strict null checks", "a .d.ts file"],
    "php": ["Laravel", "Symfony", "PHPUnit", "Composer", "WordPress", "PDO", "Eloquent", "a $_POST form handler"],
    "csharp": ["xUnit", "NUnit", "Moq", "ASP.NET Core", "Entity Framework", "Unity", "LINQ", "a .csproj", "WinForms"],
    "bash": ["cron", "awk", "sed", "systemd", "bats", "find -exec", "a here-doc", "getopts", "rsync"],
    "go": ["goroutines", "gin", "cobra", "go test", "go mod", "a channel", "the net/http package", "sync.WaitGroup"],
    "rust": ["cargo", "tokio", "serde", "clippy", "Box<dyn Error>", "the borrow checker", "an impl block", "Arc<Mutex<T>>"],
    "sql": ["an index", "a JOIN", "a stored procedure", "EXPLAIN ANALYZE", "a foreign key", "a window function", "a materialized view"],
}

#: Prompts that name only a library or tool; ``{T}`` is the tool, the label is its language.
ECOSYSTEM_PROMPTS: dict[str, list[str]] = {
    "generate": [
        "How do I {desc} with {T}?", "{T}: {desc}", "using {T}, {desc}", "Quick way to {desc} in a {T} project?",
        "我在用{T}，怎么{desc}？", "¿Cómo puedo {desc} con {T}?", "Wie kann ich mit {T} {desc}?",
    ],
    "test": [
        "Write {T} tests for a function that should {desc}.", "{T} test cases for my code that should {desc}, include edge cases",
        "How do I mock the database in {T} tests?", "用{T}写测试：{desc}", "Tests con {T} para una función que debe {desc}",
    ],
    "explain": [
        "What does {T} actually do under the hood?", "explain how {T} works, with an example", "Why do people use {T}?",
        "{T}是怎么工作的？", "¿Para qué sirve {T}?", "Was macht {T} genau?",
    ],
    "fix": [
        "my {T} setup keeps failing with a weird error, how do I debug it?", "{T} throws an error when I try to {desc}",
        "Since upgrading {T} nothing works anymore - what changed?", "{T}报错了，怎么办", "{T} falla cuando intento {desc}",
    ],
}

#: Descriptions that only make sense for some languages (a query, a shell job, a web page script).
LANGUAGE_DESCRIPTIONS: dict[str, list[str]] = {
    "sql": [
        "get the top 10 products by revenue last month", "find customers who never placed an order",
        "create a schema for a blog with posts, comments and tags", "count orders per day for the last 30 days",
        "delete duplicate rows keeping the lowest id", "list employees earning more than their manager",
        "compute a running total of sales per region", "pivot monthly sales into columns",
        "find the second highest salary", "add a unique constraint on email",
        "每个部门工资最高的员工", "los clientes con más pedidos este año", "alle Bestellungen ohne Rechnung finden",
    ],
    "bash": [
        "back up my home directory every night", "find files larger than 100MB and delete them",
        "rename all .jpeg files to .jpg", "tail a log and email me when ERROR appears",
        "check if a port is open on a list of hosts", "loop over lines of a file and curl each URL",
        "kill the process listening on port 8080", "count lines of code per file extension",
        "把目录下所有日志压缩", "borrar archivos temporales de más de 7 días", "alle Dateien eines Ordners umbenennen",
    ],
    "javascript": [
        "toggle a CSS class when a button is clicked", "debounce an input field's keyup handler",
        "fetch JSON from an API and render a list", "read a file with fs and parse it as JSON",
    ],
    "typescript": [
        "type a function that accepts either a string or an array of strings", "define a typed event emitter",
        "write a generic Result type with ok and error variants",
    ],
    "php": ["handle a contact form and send an email", "connect to MySQL with PDO and fetch users", "upload an image and resize it"],
    "csharp": ["read appsettings.json into a typed options class", "write a Web API controller for products"],
    "c": ["implement strdup by hand", "read a binary file into a malloc'd buffer"],
    "cpp": ["overload operator<< for a Point class", "write a RAII wrapper around a FILE*"],
    "go": ["write an HTTP middleware that logs request duration", "read a YAML config into a struct"],
    "rust": ["read a file into a String and handle the error with ?", "implement Iterator for a custom struct"],
    "java": ["read a CSV file with BufferedReader", "write a REST controller that returns a list of users"],
    "python": ["scrape the titles from a web page", "read an Excel sheet into a DataFrame"],
}

# ---------------------------------------------------------------- generate (prose only)
GENERATE: list[str] = [
    "Write a {L} function to {desc}.",
    "{desc} in {L}",
    "How do I {desc} in {L}?",
    "{L}: {desc}",
    "Can you write {L} code that will {desc}?",
    "I need a {L} program to {desc}. Keep it simple please.",
    "write {L} to {desc}",
    "Give me a {L} snippet that can {desc}",
    "Using {L}, {desc}.",
    "Implement this in {L}: {desc}",
    "quick {L} question - how would you {desc}",
    "Please create a small {L} utility that will {desc}, with comments.",
    "Need help: {desc} ({L})",
    "What's the cleanest way to {desc} using {L}?",
    "Show me how to {desc}. Language: {L}",
    "In {L}, {desc}",
    "hey, can u {desc} in {L} pls",
    "I'm building a tool in {L} and need to {desc}. Could you write that part?",
    "Task: {desc}\nLanguage: {L}",
    "{L} code to {desc}?",
    "Write me a {L} class or function that can {desc}. Include an example call.",
    "Could you help me {desc}? The project is written in {L}.",
    "用{L}写一个函数：{desc}",
    "请用{L}实现：{desc}",
    "怎么用{L}{desc}？",
    "{L} 代码：{desc}",
    "帮我写个{L}程序，需求是 {desc}",
    "Escribe una función en {L} para {desc}.",
    "¿Cómo puedo {desc} en {L}?",
    "Necesito código {L} que haga lo siguiente: {desc}",
    "Hazme un script en {L}: {desc}",
    "Schreib mir eine {L}-Funktion, die Folgendes tut: {desc}",
    "Wie kann ich in {L} {desc}?",
    "Ich brauche {L}-Code für: {desc}",
    "Écris une fonction {L} pour {desc}.",
    "Comment faire pour {desc} en {L} ?",
]

#: Prompts that name another language incidentally; ``{L}`` is the language actually wanted.
INCIDENTAL: list[str] = [
    "Is there something like {O}'s {feat} in {L}? I want to {desc}.",
    "I usually write {O}, but this project is {L}. How do I {desc}?",
    "In {O} I'd just use {feat}. What's the {L} way to {desc}?",
    "like {O}'s {feat}, but in {L}: {desc}",
    "Coming from {O} here. Need to {desc} in {L}, any idiomatic approach?",
    "My {O} backend is done; now the {L} part has to {desc}.",
    "{L} please (not {O}): {desc}",
    "We migrated from {O} to {L}. Write the {L} code to {desc}.",
    "Without using {O}, {desc} in plain {L}.",
    "Something similar to {feat} from {O}, but for {L} - {desc}",
    "我以前用{O}，现在要用{L}{desc}，怎么写？",
    "Antes usaba {O}; ahora necesito {desc} en {L}.",
    "Wie in {O} mit {feat}, aber in {L}: {desc}",
]

# ---------------------------------------------------------------- prose-only questions
EXPLAIN_CONCEPT: list[str] = [
    "Explain how {feat} work in {L}.",
    "What is the difference between {feat} and plain loops in {L}?",
    "Can someone explain {feat} in {L} like I'm five?",
    "Why would I use {feat} in {L}?",
    "{L}: what do {feat} actually do under the hood?",
    "I don't get {feat} in {L}. Explain with an example?",
    "请解释一下{L}中的{feat}是怎么工作的",
    "¿Qué son {feat} en {L} y para qué sirven?",
    "Was genau machen {feat} in {L}?",
    "Peux-tu m'expliquer {feat} en {L} ?",
]

TEST_PROSE: list[str] = [
    "Write unit tests in {L} for a function that should {desc}.",
    "I have a {L} function that should {desc}. Give me test cases for it.",
    "How do I test code that will {desc} in {L}? Write the tests.",
    "Generate {L} tests covering edge cases for: {desc}",
    "用{L}为一个{desc}的函数写单元测试",
    "Escribe pruebas unitarias en {L} para una función que debe {desc}.",
    "Schreib Unit-Tests in {L} für eine Funktion, die {desc} soll.",
]

FIX_PROSE: list[str] = [
    "My {L} code crashes with this, what's wrong?\n\n{err}",
    "Getting this error in {L}:\n{err}\nHow do I fix it?",
    "{err}\n\nany idea? ({L})",
    "help!! {err}",
    "Why does this happen?\n```\n{err}\n```",
    "运行时报错了：\n{err}\n怎么解决？",
    "Me sale este error y no sé por qué:\n{err}",
    "Ich bekomme diesen Fehler:\n{err}\nWas mache ich falsch?",
    "J'ai cette erreur :\n{err}\nComment la corriger ?",
    "Build fails:\n\n{err}\n\nWhat should I change?",
]

#: A bug reported by what goes wrong (``{s}``: a changelog fix entry without its verb, "crash when the
#: list is empty"), around pasted code. Few of these name the task: the misbehaviour does.
SYMPTOM_REPORTS: list[str] = [
    "{s}",
    "{s}. Any idea why?",
    "{s}?? what am I doing wrong",
    "Seeing this: {s}",
    "We have {s}.",
    "{s} - what's going on here?",
    "Since yesterday: {s}",
    "{s}. This is the code:",
    "Users report {s}",
    "{s}, can you take a look?",
    "no idea why but: {s}",
    "{s}. Help?",
]

# ---------------------------------------------------------------- requests around pasted code
CODE_REQUESTS: dict[str, list[str]] = {
    "complete": [
        "Complete this function.",
        "finish this",
        "Continue the code below.",
        "Fill in the rest of the implementation:",
        "Can you complete the missing part?",
        "I started writing this but got stuck, please finish it:",
        "complete the TODO",
        "Finish writing this {L} code so it works.",
        "Continue from where it stops:",
        "补全下面的代码",
        "请把这个函数写完",
        "Completa esta función:",
        "Termina el código:",
        "Vervollständige diese Funktion:",
        "Mach den Code fertig:",
        "Complète ce code :",
    ],
    "fix": [
        "Fix this code.",
        "This doesn't work, why?",
        "There's a bug somewhere in here, can you find it?",
        "I get the error below when I run this. How do I fix it?",
        "debug this pls",
        "What's wrong with my code? It throws:",
        "This fails intermittently, find the bug:",
        "Why am I getting this error?",
        "It compiles but gives the wrong result. Fix it.",
        "Can you correct this {L} code?",
        "这段代码有bug，帮我修一下",
        "为什么会报这个错？",
        "¿Por qué falla este código?",
        "Arregla este error por favor:",
        "Warum funktioniert das nicht?",
        "Kannst du den Fehler finden?",
        "Pourquoi ce code plante ?",
        "it hangs forever, why?",
        "why does this return the wrong value?",
        "This prints the wrong thing, what am I missing?",
        "It works on my machine but crashes in production:",
        "The output is always empty. Where's the mistake?",
        "为什么这段代码一直返回空？",
        "Se queda colgado y no sé por qué",
        "Das gibt immer das falsche Ergebnis zurück",
    ],
    "explain": [
        "Explain what this code does.",
        "What does this do?",
        "Can you walk me through this snippet line by line?",
        "I found this in our codebase, what is it for?",
        "explain pls",
        "How does this work?",
        "What's the output of this and why?",
        "Describe what this function returns.",
        "I inherited this {L} code. What is it doing?",
        "这段代码是做什么的？",
        "解释一下这段代码",
        "¿Qué hace este código?",
        "Explícame este fragmento:",
        "Was macht dieser Code?",
        "Erklär mir bitte diesen Abschnitt:",
        "Que fait ce code ?",
        "why is this written like this?",
        "Can you explain the syntax here? I've never seen it",
        "ELI5 what's going on here",
        "这一行是什么意思？",
        "Was bedeutet diese Zeile?",
    ],
    "test": [
        "Write unit tests for this.",
        "Add tests for the function below.",
        "Generate test cases, including edge cases:",
        "Can you write tests for this {L} code?",
        "write tests",
        "I need good test coverage for this, please write the tests.",
        "Create a test suite for this module.",
        "How would you unit test this? Write the tests.",
        "给这段代码写单元测试",
        "请为下面的函数写测试用例",
        "Escribe tests unitarios para esto:",
        "Genera casos de prueba para esta función:",
        "Schreib Unit-Tests für diesen Code:",
        "Erstelle Testfälle für die folgende Funktion:",
        "Écris des tests unitaires pour ce code :",
    ],
    "refactor": [
        "Refactor this code.",
        "Make this cleaner.",
        "How can I make this faster?",
        "Can you optimise this function?",
        "This works but it's ugly. Improve it.",
        "clean this up",
        "Simplify this code please, it's too long.",
        "Make this more idiomatic {L}.",
        "Restructure this so it's easier to read and maintain:",
        "Reduce the duplication here:",
        "Performance is terrible on large inputs. Optimize:",
        "重构一下这段代码",
        "优化这段代码的性能",
        "Refactoriza este código:",
        "¿Cómo puedo mejorar este código?",
        "Bitte refaktorisiere diesen Code:",
        "Wie kann ich das effizienter schreiben?",
        "Améliore ce code :",
    ],
    "generate": [
        "Based on this existing code, write a new function that will {desc}.",
        "Here is my current code. Add a feature to {desc}.",
        "Using the helpers below, write code to {desc}.",
        "Given this class, write another one that can {desc}.",
        "参考下面的代码，再写一个函数：{desc}",
        "Con este código de base, escribe una función nueva para {desc}.",
        "Schreib anhand dieses Codes eine neue Funktion, die {desc}.",
    ],
}

#: Requests to translate pasted code; ``{L}`` is the target, ``{S}`` the source (sometimes unnamed).
TRANSLATE: list[str] = [
    "Convert this {S} code to {L}.",
    "Translate to {L}:",
    "Rewrite this in {L}.",
    "Port this to {L} please.",
    "{L} version of this?",
    "Can you do the same thing in {L}?",
    "How would this look in {L}?",
    "I need this {S} snippet in {L}.",
    "This is {S}; our service is in {L}. Translate it.",
    "convert to {L}",
    "Same logic but in {L}, keep the names.",
    "Please translate the following from {S} into idiomatic {L}:",
    "把这段{S}代码翻译成{L}",
    "请用{L}重写这段代码",
    "Traduce este código de {S} a {L}:",
    "Pásalo a {L}, por favor:",
    "Übersetze diesen Code nach {L}:",
    "Schreib das in {L} um:",
    "Traduis ce code en {L} :",
    "{L} equivalent?",
    "need the same in {L}",
    "turn this {S} into {L}",
    "How would I write this {S} in {L}?",
    "what would this be in {L}",
    "I only know {S}. Show me this in {L}.",
    "改写成{L}",
    "这段用{L}怎么写？",
    "¿Cómo se escribe esto en {L}?",
    "Wie sieht das in {L} aus?",
]

#: Ways of asking something without a language: the label is ``unknown``.
NO_LANGUAGE: dict[str, list[str]] = {
    "generate": [
        "Write a function to {desc}.",
        "How do I {desc}?",
        "{desc}",
        "Write code to {desc}",
        "Can you write a program that will {desc}?",
        "写一个函数：{desc}",
        "Escribe una función para {desc}.",
        "Schreib eine Funktion, die {desc}.",
    ],
    "explain": [
        "What is the difference between a process and a thread?",
        "Explain recursion with a simple example.",
        "What does O(n log n) mean?",
        "Why is floating point arithmetic imprecise?",
        "What is dependency injection and why should I care?",
        "Explain how a hash map works internally.",
        "什么是闭包？",
        "¿Qué es una condición de carrera?",
        "Was ist der Unterschied zwischen Stack und Heap?",
        "Explain the CAP theorem briefly.",
        "what's a monad",
        "How does garbage collection work in general?",
        "Explain big-endian vs little-endian.",
    ],
    "test": [
        "What's a good strategy to test code that {desc}?",
        "Write test cases for a function that should {desc}.",
        "How should I unit test something that will {desc}?",
    ],
    "fix": [
        "My program crashes when the input is empty. How do I debug that?",
        "The loop never ends, what could be the reason?",
        "I get a segfault sometimes but not always.",
        "Off-by-one error somewhere, how do I find it?",
        "程序有时候会死锁，怎么排查？",
        "Mi programa se queda colgado, ¿qué puede ser?",
    ],
    "refactor": [
        "How can I make my code more readable?",
        "Tips to optimise a slow nested loop?",
        "How should I split a 2000-line file into modules?",
        "怎么让代码更简洁？",
    ],
}

#: Hand-written task descriptions in several prose languages (the rest come from real data).
DESCRIPTIONS: list[str] = [
    "reverse a linked list", "parse a CSV file and sum the second column", "check if a string is a palindrome",
    "read a JSON config file and print the keys", "download a web page and count the links on it",
    "find the longest common prefix of a list of strings", "merge two sorted arrays",
    "rename all .txt files in a folder to .md", "compute the median of a list of numbers",
    "validate an email address", "flatten a nested list", "remove duplicates while keeping order",
    "count word frequencies in a text file", "implement a binary search", "convert Celsius to Fahrenheit",
    "generate a random password of length n", "find all prime numbers below n",
    "read lines from stdin and print them sorted", "implement an LRU cache", "retry an HTTP request with backoff",
    "check whether two strings are anagrams", "group records by a key and count them",
    "find the top 5 customers by total order amount", "delete rows older than 30 days",
    "compress a directory into a tar.gz archive", "watch a log file and alert on ERROR lines",
    "implement a thread-safe counter", "serialize an object to JSON", "compute the Levenshtein distance",
    "transpose a matrix", "split a string on commas and trim each part", "find the second largest number",
    "implement a stack with push, pop and peek", "parse command line flags", "debounce a function",
    "paginate results from an API", "hash a password securely", "convert a timestamp to ISO 8601",
    "list the 10 biggest files in a directory", "implement quicksort",
    "反转一个链表", "判断一个字符串是否是回文", "读取CSV文件并计算第二列的总和", "找出数组中的最大值",
    "统计文本中每个单词出现的次数", "实现一个简单的HTTP服务器", "把列表去重并保持顺序",
    "invertir una cadena", "leer un archivo JSON y mostrar sus claves", "calcular el factorial de un número",
    "contar las palabras de un texto", "ordenar una lista de diccionarios por fecha", "validar un número de teléfono",
    "eine Liste sortieren ohne eingebaute Funktionen", "prüfen ob eine Zahl eine Primzahl ist",
    "eine CSV-Datei einlesen und die Spalten summieren", "alle Dateien in einem Ordner auflisten",
    "die Fakultät einer Zahl berechnen", "doppelte Einträge aus einer Liste entfernen",
    "inverser une chaîne de caractères", "lire un fichier texte ligne par ligne", "trier un tableau de nombres",
]

#: Openers people type before a request.
STYLE_PREFIXES: list[str] = ["", "", "", "", "Hi! ", "Hello, ", "Quick question. ", "Q: ", "urgent: ", "Thanks in advance. "]
