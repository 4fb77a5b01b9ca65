"""autoglm-plugin-benchmark-example: the template for publishing a benchmark as a plugin.

The benchmark is a folder of lm-eval task YAML files plus their data (``tasks/``), registered
through the ``autoglm_register_benchmarks`` hook. The lm-eval plugin puts the folder on lm-eval's
task path, so ``autoglm eval MODEL_DIR --benchmark autoglm-example`` runs both tasks and
``--benchmark autoglm_example_mc`` runs one. ``data_files`` in the YAML are relative to the YAML
file. All sentences were written for this project (no downloaded data).
"""

from __future__ import annotations

from pathlib import Path

from autoglm_core import hookimpl

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
BENCHMARK_NAME = "autoglm-example"
TASKS = ("autoglm_example_mc", "autoglm_example_gen")


@hookimpl
def autoglm_register_benchmarks(register):
    from autoglm_core import Benchmark

    register(Benchmark(
        name=BENCHMARK_NAME,
        path=str(TASKS_DIR),
        description="example: sensible sentence endings (multiple choice, acc) and repeat-a-word "
                    "(generation, exact match), on sentences written by the project",
        tasks=TASKS,
    ))
