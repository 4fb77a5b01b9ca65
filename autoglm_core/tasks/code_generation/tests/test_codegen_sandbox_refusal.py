"""Without bubblewrap, generated code is refused unless the user explicitly accepts running it
unsandboxed; never a silent, weaker fallback."""

from __future__ import annotations

import pytest

from autoglm_core.tasks.code_generation import sandbox
from autoglm_core.tasks.code_generation.sandbox import SandboxUnavailableError, run_python


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.sandbox_problem.cache_clear()
    yield
    sandbox.sandbox_problem.cache_clear()


def test_refuses_without_bwrap(no_bwrap):
    with pytest.raises(SandboxUnavailableError, match="bubblewrap.*--unsafe-no-sandbox"):
        run_python("print(1)")


def test_explicit_unsafe_opt_in_runs_unsandboxed_with_limits(no_bwrap):
    r = run_python("print(6 * 7)", unsafe_no_sandbox=True)
    assert r.passed and r.stdout.strip() == "42" and not r.sandboxed
    r = run_python("while True:\n    pass\n", timeout_s=1, unsafe_no_sandbox=True)
    assert r.status == "timeout"
    r = run_python("import sys\nsys.exit(0)\n", unsafe_no_sandbox=True)
    assert not r.passed and not r.reached_end


def test_bwrap_that_cannot_create_namespaces_is_refused_too(monkeypatch, tmp_path):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(fake))
    sandbox.sandbox_problem.cache_clear()
    try:
        with pytest.raises(SandboxUnavailableError, match="No permissions to create new namespace"):
            run_python("print(1)")
    finally:
        sandbox.sandbox_problem.cache_clear()
