"""autoglm-plugin-lmeval: lm-evaluation-harness benchmarks for Open-AutoGLM.

* evaluator ``lm-eval`` (:class:`~autoglm_plugin_lmeval.evaluator.LmEvalEvaluator`);
* benchmark folders that any plugin registers through ``autoglm_register_benchmarks`` are put on
  lm-eval's task path (:mod:`autoglm_plugin_lmeval.benchmarks`);
* CLI ``autoglm eval`` and ``autoglm benchmarks``.

lm-eval itself is imported only when something runs.
"""

from __future__ import annotations

from autoglm_core import hookimpl

__version__ = "0.1.0"


@hookimpl
def autoglm_register_evaluators(register):
    from .evaluator import LmEvalEvaluator

    register(LmEvalEvaluator)


@hookimpl
def autoglm_add_commands(subparsers):
    from .commands import add_commands

    add_commands(subparsers)
