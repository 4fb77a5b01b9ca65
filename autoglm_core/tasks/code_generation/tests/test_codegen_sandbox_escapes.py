"""Hostile programs against the bubblewrap sandbox: each one bypasses the in-interpreter guard
(``posix``, ``ctypes``, ``importlib.reload``) and must still be contained by the kernel namespaces,
the rlimits and the streaming reader."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from autoglm_core.tasks.code_generation import sandbox
from autoglm_core.tasks.code_generation.sandbox import run_python

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None or (getattr(sandbox, "sandbox_problem", None) or (lambda: None))() is not None,
    reason="bubblewrap (bwrap) is not usable here: apt-get install bubblewrap",
)
pytestmark = needs_bwrap


def _shell_writes(marker: Path) -> str:
    return f"echo escaped > {marker}"


def test_unlinking_or_reading_a_file_outside_fails(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("top secret", encoding="utf-8")
    r = run_python(f"import posix\nprint(open({str(victim)!r}).read())\n")
    assert not r.passed and "top secret" not in r.stdout
    r = run_python(f"import posix\nposix.unlink({str(victim)!r})\n")
    assert not r.passed
    assert victim.read_text(encoding="utf-8") == "top secret"


@pytest.mark.parametrize("how", ["posix.system", "os.posix_spawn", "ctypes", "importlib.reload"])
def test_shell_commands_cannot_touch_the_host(tmp_path, how):
    marker = tmp_path / "escaped"
    cmd = _shell_writes(marker)
    code = {
        "posix.system": f"import posix\nposix.system({cmd!r})\n",
        "os.posix_spawn": f"import os\npid = os.posix_spawn('/bin/sh', ['sh', '-c', {cmd!r}], {{}})\nos.waitpid(pid, 0)\n",
        "ctypes": f"import ctypes\nctypes.CDLL(None).system({cmd.encode()!r})\n",
        "importlib.reload": ("import importlib, subprocess\nimportlib.reload(subprocess)\n"
                             f"subprocess.run(['sh', '-c', {cmd!r}])\n"),
    }[how]
    run_python(code, timeout_s=5)
    assert not marker.exists(), f"{how} wrote a file outside the sandbox"


def test_fork_bomb_stops_at_the_process_limit():
    code = (
        "import posix, time\n"
        "n = 0\n"
        "for _ in range(300):\n"
        "    try:\n"
        "        pid = posix.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(2)\n"
        "        posix._exit(0)\n"
        "    n += 1\n"
        "print(n)\n"
    )
    r = run_python(code, timeout_s=8)
    assert r.stdout.strip(), r.stderr
    assert int(r.stdout.split()[-1]) < 100


def _processes_with(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if tag.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _detached_sleeper(seconds: int, tag: str, hold_pipe: bool = True) -> str:
    # a child in a session of its own, sleeping with a unique argv (found in /proc afterwards)
    release = "" if hold_pipe else (
        "    fd = posix.open('/dev/null', posix.O_WRONLY)\n    posix.dup2(fd, 1)\n    posix.dup2(fd, 2)\n")
    return (
        "import posix, time\n"
        "if posix.fork() == 0:\n"
        "    posix.setsid()\n" + release +
        f"    posix.execv('/bin/sleep', ['sleep', '{seconds}.{tag}'])\n"
        "time.sleep(0.5)\n"
    )


def _reap(tag: str) -> None:
    for pid in _processes_with(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_setsid_child_does_not_survive_the_run():
    tag = str(secrets.randbelow(10**9)).zfill(9)
    try:
        run_python(_detached_sleeper(20, tag, hold_pipe=False), timeout_s=5)
        time.sleep(0.3)
        assert not _processes_with(tag), "a setsid child outlived the sandbox"
    finally:
        _reap(tag)


def test_detached_child_holding_the_pipe_cannot_stretch_the_time_limit():
    tag = str(secrets.randbelow(10**9)).zfill(9)
    code = _detached_sleeper(20, tag) + "while True:\n    pass\n"
    try:
        start = time.perf_counter()
        r = run_python(code, timeout_s=2)
        assert time.perf_counter() - start < 6
        assert r.status == "timeout"
        time.sleep(0.3)
        assert not _processes_with(tag), "the detached child survived the timeout kill"
    finally:
        _reap(tag)


def _peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_400_mb_of_output_is_cut_without_growing_the_harness():
    before = _peak_rss_kib()
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(400):\n    sys.stdout.write(chunk)\n"
    r = run_python(code, timeout_s=30)
    grown_mib = (_peak_rss_kib() - before) / 1024
    assert r.status == "output" and not r.passed
    assert len(r.stdout) <= 20_000
    assert grown_mib < 64, f"the harness grew by {grown_mib:.0f} MiB"


def test_raw_socket_cannot_reach_a_loopback_listener():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        code = ("import _socket\n"
                "s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\n"
                "s.settimeout(2)\n"
                f"s.connect(('127.0.0.1', {port}))\n"
                "print('connected')\n")
        r = run_python(code, timeout_s=5)
        assert "connected" not in r.stdout and not r.passed
        with pytest.raises(socket.timeout):
            listener.accept()


def test_exit_before_the_end_is_not_a_pass():
    for code in ("import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "raise SystemExit(0)\n"):
        r = run_python(code + "assert False\n")
        assert r.returncode == 0 and not r.passed and not r.reached_end, code
    assert run_python("x = 1\n").reached_end


def test_limits_hold_inside_the_namespace():
    r = run_python("import resource\nprint(resource.getrlimit(resource.RLIMIT_NPROC)[0], "
                   "resource.getrlimit(resource.RLIMIT_FSIZE)[0])\n", guard=False)
    nproc, fsize = map(int, r.stdout.split())
    assert r.passed and nproc == sandbox.MAX_PROCESSES and fsize == sandbox.FILE_SIZE_LIMIT
