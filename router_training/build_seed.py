"""Build the first labelled router data set (``seed.jsonl``) from ../shared/data.

Sources: HumanEval-X prompts (code to complete, six languages), MBPP descriptions (Python,
new code) and GPTeacher code instructions (many languages; language and task read from the
instruction's own wording). Run from the repository root:

    python router_training/build_seed.py --shared ../shared/data --out router_training/seed.jsonl
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

HUMANEVAL_X = {"cpp": "cpp", "java": "java", "js": "javascript", "go": "go", "rust": "rust", "python": "python"}
LANGUAGE_WORDS = [
    ("cpp", r"C\+\+"), ("csharp", r"C#"), ("javascript", r"\bJavaScript\b|\bNode\.?js\b"), ("typescript", r"\bTypeScript\b"),
    ("java", r"\bJava\b"), ("python", r"\bPython\b"), ("php", r"\bPHP\b"), ("bash", r"\b(?:shell|Bash)\b"),
    ("sql", r"\bSQL\b"), ("go", r"\bGo(?:lang)?\b"), ("rust", r"\bRust\b"), ("c", r"\bC\b(?![+#])"),
]
TASK_WORDS = [
    ("fix", r"\b(?:fix|debug|correct|error|bug)\w*"), ("explain", r"\b(?:explain|what does|describe)\b"),
    ("translate", r"\b(?:translate|convert|rewrite)\b.*\b(?:to|into)\b"), ("refactor", r"\b(?:refactor|optimi[sz]e|improve|simplify)\b"),
    ("test", r"\b(?:unit tests?|test cases?)\b"),
]


def gpteacher_label(instruction: str) -> tuple[str, str] | None:
    language = next((lang for lang, rx in LANGUAGE_WORDS if re.search(rx, instruction)), None)
    if language is None:
        return None
    task = next((t for t, rx in TASK_WORDS if re.search(rx, instruction, re.I)), "generate")
    return language, task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default="../shared/data", type=Path)
    ap.add_argument("--out", default="router_training/seed.jsonl", type=Path)
    args = ap.parse_args()
    rows = []
    for short, language in HUMANEVAL_X.items():
        with gzip.open(args.shared / "humaneval-x" / f"humaneval_{short}.jsonl.gz", "rt") as fh:
            for line in fh:
                p = json.loads(line)
                rows.append({"prompt": p["prompt"], "language": language, "task": "complete", "source": f"humaneval-x-{short}"})
    with open(args.shared / "mbpp" / "mbpp.jsonl") as fh:
        for line in fh:
            p = json.loads(line)
            rows.append({"prompt": p["text"], "language": "python", "task": "generate", "source": "mbpp"})
    for r in json.loads((args.shared / "instruct" / "gpteacher-codegen-instruct.json").read_text()):
        label = gpteacher_label(r["instruction"])
        if label:
            prompt = r["instruction"] + (f"\n\n{r['input']}" if r["input"].strip() else "")
            rows.append({"prompt": prompt, "language": label[0], "task": label[1], "source": "gpteacher"})
    with open(args.out, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {args.out}")


if __name__ == "__main__":
    main()
