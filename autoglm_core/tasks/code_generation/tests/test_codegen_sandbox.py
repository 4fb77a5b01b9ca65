"""The sandbox that runs generated code: limits hold, the network is closed, files stay inside."""

from __future__ import annotations

import time

import pytest

from autoglm_core.tasks.code_generation.sandbox import run_python, sandbox_problem

pytestmark = pytest.mark.skipif(sandbox_problem() is not None, reason="bubblewrap (bwrap) is not usable here")


def test_ok_program_passes_and_captures_output():
    r = run_python("print(sum(range(10)))")
    assert r.passed and r.stdout.strip() == "45"


def test_failing_assert_fails():
    r = run_python("assert 1 == 2, 'nope'")
    assert r.status == "failed" and "AssertionError: nope" in r.stderr


def test_infinite_loop_is_killed():
    start = time.perf_counter()
    r = run_python("while True:\n    pass\n", timeout_s=1.5)
    assert r.status == "timeout"
    assert time.perf_counter() - start < 10


def test_forked_child_does_not_outlive_the_timeout(tmp_path):
    marker = tmp_path / "alive"
    code = (
        "import time, multiprocessing\n"
        "def child():\n"
        "    time.sleep(3)\n"
        f"    open({str(marker)!r}, 'w').write('x')\n"
        "p = multiprocessing.get_context('fork').Process(target=child); p.start()\n"
        "while True: pass\n"
    )
    r = run_python(code, timeout_s=1.0, guard=False)  # guard off: os.fork is allowed, the group kill must work
    assert r.status == "timeout"
    time.sleep(3.5)
    assert not marker.exists(), "a child of the sandboxed program survived the kill"


def test_memory_limit():
    r = run_python("x = bytearray(3 * 1024 ** 3)\n", memory_mb=512)
    assert r.status == "memory" and not r.passed


def test_network_is_blocked():  # the guard's clear message; the namespace test is in test_codegen_sandbox_escapes
    code = "import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n"
    r = run_python(code)
    assert not r.passed and "PermissionError" in r.stderr
    r = run_python("import socket\ns = socket.socket()\n")
    assert not r.passed and "network access is disabled" in r.stderr


def test_runs_in_a_temporary_directory_that_is_removed():
    r = run_python("import os\nopen('f.txt', 'w').write('x')\nprint(os.getcwd())\n")
    assert r.passed
    from pathlib import Path

    cwd = Path(r.stdout.strip())
    assert cwd.name.startswith("autoglm-sandbox-") and not cwd.exists()


def test_guard_blocks_destructive_calls():
    r = run_python("import shutil\nshutil.rmtree('/tmp/whatever')\n")
    assert not r.passed and "disabled in the autoglm sandbox" in r.stderr
    r = run_python("import os\nos.system('true')\n")
    assert not r.passed and "os.system is disabled" in r.stderr


def test_environment_is_minimal(monkeypatch):
    monkeypatch.setenv("AUTOGLM_SECRET_FOR_TEST", "s3cret")
    r = run_python("import os\nprint(os.environ.get('AUTOGLM_SECRET_FOR_TEST'))\n")
    assert r.passed and r.stdout.strip() == "None"
