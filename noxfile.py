"""nox sessions: tests, plugin tests, lint, docs, benchmarks.

    nox -s tests          # core tests (tests/ and the task types' tests beside them)
    nox -s fast           # the fast tier of everything: -m "not slow"
    nox -s plugin_tests   # every plugin's own tests
    nox -s lint           # ruff
    nox -s docs           # check that docs mention every hook and command
    nox -s benchmarks     # the benchmark scripts (need ../shared/data; slow)
"""

from __future__ import annotations

import glob

import nox

nox.options.sessions = ["tests", "plugin_tests", "lint"]
PLUGINS = sorted(glob.glob("plugins/autoglm-plugin-*"))
ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def install(session: nox.Session, plugins: bool = True) -> None:
    session.install("torch==2.13.0")  # the CPU build first
    args = ["-e", ".[all,test]"]
    if plugins:
        for p in PLUGINS:
            args += ["-e", p]
    session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    install(session)
    session.run("pytest", "tests", "autoglm_core/tasks", *session.posargs, env=ENV)


@nox.session
def fast(session: nox.Session) -> None:
    install(session)
    session.install("pytest-xdist")
    session.run("pytest", "-m", "not slow", "-n", "2", *session.posargs, env=ENV)


@nox.session
def plugin_tests(session: nox.Session) -> None:
    install(session)
    session.run("pytest", *PLUGINS, *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "autoglm_core", "tests", "plugins", "benchmarks")


@nox.session
def docs(session: nox.Session) -> None:
    install(session, plugins=False)
    session.run("pytest", "tests/plugin/test_hooks.py", "-k", "documented", env=ENV)
    session.run("autoglm", "--help", external=False)
    session.run("autoglm", "schema", external=False, silent=True)


@nox.session
def benchmarks(session: nox.Session) -> None:
    install(session)
    for script in sorted(glob.glob("benchmarks/*.py")):
        session.run("python", script, *session.posargs, env=ENV)
