"""Route three prompts with the built-in mixture and answer them (batched, grouped by expert)."""
from moe_coder import MoECoder

PROMPTS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "Write a PHP function that checks whether a string is a palindrome.",
    "Write a bash script that prints the 5 largest files in the current directory.",
]

coder = MoECoder.from_pretrained("builtin")
for result in coder.generate(PROMPTS, return_details=True, max_new_tokens=160):
    d = result.decision
    print(f"\n=== {d.language}/{d.task} -> expert '{d.expert}' (confidence {d.confidence:.2f})")
    print(result.text.strip())
