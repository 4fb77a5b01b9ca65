"""Code generation: a sandbox for generated code, the HumanEval harness and the code assistant.

    from autoglm_core.tasks.code_generation import run_python, CodeAssistant
    from autoglm_core.tasks.code_generation import humaneval
"""

from autoglm_core.tasks.code_generation.sandbox import ExecResult, run_python

__all__ = ["ExecResult", "run_python", "CodeAssistant", "CodeResult"]


def __getattr__(name: str):  # the assistant imports the decoding stack: load it on demand
    if name in ("CodeAssistant", "CodeResult"):
        from autoglm_core.tasks.code_generation import assistant

        return getattr(assistant, name)
    raise AttributeError(name)
