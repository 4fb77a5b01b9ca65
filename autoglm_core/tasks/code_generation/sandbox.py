"""Run untrusted (generated) Python in a sandboxed subprocess.

Layers, each cheap and independent:

* a fresh ``python -I`` process (isolated mode: no user site, no PYTHON* variables) with a minimal
  environment, started in a temporary directory that is deleted afterwards;
* ``resource.setrlimit`` before exec: address space (memory), CPU seconds, file size, open files;
* a wall-clock time limit: the whole process group is killed (``SIGKILL``) when it runs over, so a
  test that loops forever or forks children cannot outlive it;
* no network: a network namespace with no interfaces (``unshare --net``) where the kernel allows
  it, and in every case a boot script that replaces ``socket`` so that connecting fails;
* a reliability guard like OpenAI's human-eval harness (``os.system``, ``os.kill``,
  ``subprocess.Popen``, ``shutil.rmtree``, ... disabled) applied before the program runs.

This is meant to contain accidents of generated code (infinite loops, memory blow-ups, stray
deletes, network calls), not a determined attacker: use a container or VM for that.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROGRAM_FILE = "program.py"

# Runs inside the sandbox before the program: blocks the network and dangerous calls.
BOOT = r'''
import sys, builtins, resource

# limits first, before any program code runs (set here rather than in a preexec_fn, which is not
# safe when several sandboxes are started from threads)
for _res, _value in ((resource.RLIMIT_AS, MEMORY), (resource.RLIMIT_CPU, CPU_S),
                     (resource.RLIMIT_FSIZE, 64 * 1024 * 1024), (resource.RLIMIT_NOFILE, 256),
                     (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(_res, (_value, _value))

def _denied(name):
    def deny(*args, **kwargs):
        raise PermissionError(name + " is disabled in the autoglm sandbox")
    return deny

import socket as _socket
class _NoSocket(_socket.socket):
    def __init__(self, *args, **kwargs):
        raise PermissionError("network access is disabled in the autoglm sandbox")
_socket.socket = _NoSocket
for _name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
              "socketpair", "fromfd"):
    if hasattr(_socket, _name):
        setattr(_socket, _name, _denied("socket." + _name))

if GUARD:
    import os, shutil, subprocess
    for _name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                  "fork", "forkpty", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                  "chmod", "chown", "chroot", "lchown", "lchmod", "execv", "execve", "execvp", "spawnv",
                  "popen"):
        if hasattr(os, _name):
            setattr(os, _name, _denied("os." + _name))
    for _name in ("rmtree", "move", "chown"):
        setattr(shutil, _name, _denied("shutil." + _name))
    subprocess.Popen = _denied("subprocess.Popen")
    for _mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[_mod] = None

sys.argv = [PROGRAM]
with open(PROGRAM, encoding="utf-8") as _fh:
    _source = _fh.read()
del _fh, _name, _res, _value
_code = compile(_source, PROGRAM, "exec")
exec(_code, {"__name__": "__main__", "__builtins__": builtins})
'''


@dataclass
class ExecResult:
    """How a sandboxed run ended. ``status``: passed | failed | timeout | memory | error."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@functools.lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether ``unshare --net`` works here (user namespaces may be disabled in containers)."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        r = subprocess.run([exe, "--net", "--map-root-user", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, guard: bool = True,
               isolate_network: bool | None = None, max_output: int = 20_000) -> ExecResult:
    """Run ``code`` as ``__main__`` in the sandbox; ``passed`` means exit status 0 within the limits.

    :param isolate_network: use a network namespace; None = when available (the socket block always applies).
    """
    import time

    if timeout_s <= 0 or memory_mb <= 0:
        from autoglm_core.types.errors import ConfigError

        raise ConfigError(f"sandbox limits must be positive (timeout_s={timeout_s}, memory_mb={memory_mb}).")
    tmp = Path(tempfile.mkdtemp(prefix="autoglm-sandbox-"))
    try:
        (tmp / PROGRAM_FILE).write_text(code, encoding="utf-8")
        boot = (f"GUARD = {bool(guard)!r}\nPROGRAM = {PROGRAM_FILE!r}\nMEMORY = {int(memory_mb) * 1024 * 1024}\n"
                f"CPU_S = {max(1, int(timeout_s) + 1)}\n" + BOOT)
        (tmp / "_boot.py").write_text(boot, encoding="utf-8")
        cmd = [sys.executable, "-I", "-B", "_boot.py"]
        use_ns = network_namespace_available() if isolate_network is None else isolate_network
        if use_ns:
            cmd = [shutil.which("unshare") or "unshare", "--net", "--map-root-user", *cmd]
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp), "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            timed_out = True
        duration = time.perf_counter() - start
        _kill_group(proc)  # children the program left behind
        stdout = out.decode("utf-8", "replace")[-max_output:]
        stderr = err.decode("utf-8", "replace")[-max_output:]
        rc = proc.returncode
        if timed_out or rc == -signal.SIGXCPU:
            status = "timeout"
        elif rc == 0:
            status = "passed"
        elif "MemoryError" in stderr:
            status = "memory"
        elif rc is not None and rc < 0:
            status = "error"
        else:
            status = "failed"
        return ExecResult(status, rc, stdout, stderr, duration)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
