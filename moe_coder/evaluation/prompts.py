"""What each kind of expert is asked, and how its output becomes candidate code.

* ``completion`` experts get the raw code prompt (:meth:`Executor.completion_prompt`) and stop
  sequences; their continuation is cut where the function ends and checked as a ``"completion"``.
* Instruction experts (``chat_template``, ``phind``, ``codellama_instruct``) get one user message:
  for function-completion benchmarks (HumanEval, HumanEval+, HumanEval-X) the request to complete
  the function, with the prompt in a fenced block; for MBPP-style tasks the task description and
  its example test. The code is then extracted from the answer (:func:`extract_code`) and
  checked as ``"full"`` code. Generation stops when the code block closes
  (:data:`CLOSING_FENCE`): the prose that usually follows is never read, so it is not generated.

The expert's own prompt format (chat template, Phind headers, ``[INST]``) is applied by the
mixture, not here.
"""
from __future__ import annotations

from dataclasses import dataclass

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.executors import get_executor
from moe_coder.evaluation.extract import extract_code, stop_sequences, truncate_completion
from moe_coder.languages import display_name

COMPLETION_FORMAT = "completion"
#: Instruction answers stop once their code block closes: the explanation after it is not needed.
#: (An opening fence carries a language tag, so it does not match.)
CLOSING_FENCE = "\n```\n"


def writes_whole_function(problem: Problem) -> bool:
    """MBPP-style tasks: a description to implement, rather than a signature to complete (MBPP in
    JavaScript, ``mbpp_js/N``, gives a signature, as HumanEval-X does)."""
    return problem.task_id.partition("/")[0].lower() == "mbpp"


def instruction_prompt(problem: Problem) -> str:
    """The user message an instruction expert receives for *problem*."""
    name = display_name(problem.language)
    tag = problem.language  # every benchmark language id is also a code-fence tag
    if writes_whole_function(problem):
        return task_prompt(problem)
    prompt = get_executor(problem.language).completion_prompt(problem).strip("\n")
    return (
        f"Complete the following {name} function. "
        f"Answer with the complete function in a single ```{tag} code block.\n\n"
        f"```{tag}\n{prompt}\n```"
    )


def task_prompt(problem: Problem) -> str:
    """The user message that asks for *problem* the way MBPP asks: its description and tests, and a
    request for the whole function (what :func:`instruction_prompt` sends for MBPP-style tasks)."""
    return (
        f"{problem.question.strip()}\n\n"
        f"Write the {display_name(problem.language)} function. "
        f"Answer with the code in a single ```{problem.language} code block."
    )


@dataclass(frozen=True)
class Request:
    """One generation request: the prompt text, its stop sequences, and how to read the output."""

    prompt: str
    stop: tuple[str, ...]
    completion: bool

    def code(self, problem: Problem, output: str) -> tuple[str, str]:
        """``(code, kind)`` to execute, from the model's *output*."""
        if self.completion:
            code = truncate_completion(self.prompt, output, problem.language, writes_whole_function(problem))
            return code, "completion"
        return extract_code(output, problem.language), "full"


def build_request(problem: Problem, prompt_format: str) -> Request:
    """The request for an expert whose ``prompt_format`` is *prompt_format*."""
    if prompt_format == COMPLETION_FORMAT:
        prompt = get_executor(problem.language).completion_prompt(problem)
        return Request(prompt, stop_sequences(problem.language, writes_whole_function(problem)), True)
    return Request(instruction_prompt(problem), (CLOSING_FENCE,), False)
