"""Run untrusted (generated) Python in a bubblewrap sandbox.

The isolation comes from the kernel, not from Python: guards inside the interpreter can always be
bypassed (``posix.system``, ``ctypes``, ``importlib.reload``), so the program runs under ``bwrap``:

* a mount namespace that shows only the interpreter (``/usr``, ``/lib*``, the Python prefix and its
  site-packages), read-only, plus a private, size-limited tmpfs as ``/tmp`` and working directory:
  no file of the user is visible, none can be changed or deleted;
* no network (an empty network namespace: not even the host's loopback), new PID, IPC and UTS
  namespaces, a new session (no terminal injection), ``--die-with-parent``; when the PID
  namespace's first process ends, the kernel kills every process left in it, so ``setsid`` or
  detached children cannot outlive the run;
* rlimits set in the child before the program runs: address space, CPU seconds, file size, open
  files, processes (a fork bomb stops at the limit); as root, the child also drops to an unused uid
  of its own (root ignores the process limit, and must not own files it can reach);
* the harness reads the output incrementally and keeps only a bounded tail: past ``output_limit``
  bytes the run is killed (its memory never grows with the output), and the wall-clock limit is
  enforced by the reader, so a child holding the pipe cannot stretch it;
* "passed" means the program reached its end: after it returns, the runner writes a random
  per-run token to a separate pipe; ``sys.exit(0)`` or ``os._exit(0)`` exit without it.

Where bwrap is missing (or the kernel refuses its namespaces) generated code is refused with
:class:`SandboxUnavailableError`, unless the caller passes ``unsafe_no_sandbox=True`` (CLI:
``--unsafe-no-sandbox``): then it runs in a plain subprocess with the rlimits and the
reliability guard only, which contains accidents but not an attacker.
"""

from __future__ import annotations

import functools
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autoglm_core.types.errors import AutoGLMError

PROGRAM_FILE = "program.py"
INPUT_DIR = "/tmp/.autoglm-in"  # where the program and the runner appear inside the sandbox (read-only)
# As root the runner drops to a uid of its own, unused by any account: RLIMIT_NPROC counts the
# processes of a uid machine-wide, so concurrent sandboxes (or the host's "nobody") must not share one.
DROP_UID_BASE, DROP_UID_SPAN = 1_000_000_000, 100_000_000
DEFAULT_OUTPUT_LIMIT = 4 * 1024 * 1024
FILE_SIZE_LIMIT = 64 * 1024 * 1024
MAX_PROCESSES = 64

# The runner: sets the limits, applies the guard, runs the program, then reports that it reached
# the end. Everything it needs is read before the program's first line runs.
BOOT = r'''
import os, sys, builtins, resource

def _main():
    token = os.read(0, 256)  # the harness writes the token to stdin and closes it
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    if DROP_TO is not None and os.geteuid() == 0:  # root ignores RLIMIT_NPROC and owns too much
        os.setgroups([])
        os.setresgid(DROP_TO, DROP_TO, DROP_TO)
        os.setresuid(DROP_TO, DROP_TO, DROP_TO)
    # limits here rather than in a preexec_fn, which is unsafe when sandboxes start from threads
    for res, value in ((resource.RLIMIT_AS, MEMORY), (resource.RLIMIT_CPU, CPU_S),
                       (resource.RLIMIT_FSIZE, FSIZE), (resource.RLIMIT_NOFILE, 256),
                       (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, NPROC)):
        resource.setrlimit(res, (value, value))
    if GUARD:
        _guard()
    sys.argv = [PROGRAM]
    with open(PROGRAM, encoding="utf-8") as fh:
        source = fh.read()
    code = compile(source, PROGRAM, "exec")
    exec(code, {"__name__": "__main__", "__builtins__": builtins})
    # only reached when the program returned normally (SystemExit and os._exit skip it)
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(STATUS_FD, token)
    os.close(STATUS_FD)

def _guard():
    # a reliability guard like OpenAI's human-eval: catches accidents early with a clear message
    # (the namespaces above, not this, are what contains a hostile program)
    import shutil, socket, subprocess

    def denied(name):
        def deny(*args, **kwargs):
            raise PermissionError(name + " is disabled in the autoglm sandbox")
        return deny

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            raise PermissionError("network access is disabled in the autoglm sandbox")
    socket.socket = NoSocket
    for name in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                 "socketpair", "fromfd"):
        if hasattr(socket, name):
            setattr(socket, name, denied("socket." + name))
    for name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
                 "fork", "forkpty", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown",
                 "chmod", "chown", "chroot", "lchown", "lchmod", "execv", "execve", "execvp", "spawnv",
                 "popen"):
        if hasattr(os, name):
            setattr(os, name, denied("os." + name))
    for name in ("rmtree", "move", "chown"):
        setattr(shutil, name, denied("shutil." + name))
    subprocess.Popen = denied("subprocess.Popen")
    for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[mod] = None

_main()
'''


class SandboxUnavailableError(AutoGLMError):
    """Generated code cannot be isolated here and the user did not accept running it unsandboxed."""


@dataclass
class ExecResult:
    """How a sandboxed run ended.

    ``status``: passed | failed | timeout | memory | output | error. ``passed`` needs exit status 0
    *and* the program reaching its end (``reached_end``); ``output``: more than the output limit.
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    reached_end: bool = False
    sandboxed: bool = True

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def sandbox_problem() -> str | None:
    """None when bwrap can build the sandbox here, else why not (missing, namespaces refused)."""
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    probe = [exe, *_namespace_args(), "--ro-bind", "/", "/", "true"]
    try:
        r = subprocess.run(probe, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot start: {exc}"
    if r.returncode != 0:
        return f"bwrap cannot create its namespaces here: {r.stderr.decode('utf-8', 'replace').strip()[-300:]}"
    return None


def require_sandbox(unsafe_no_sandbox: bool = False) -> bool:
    """True when bwrap is usable; False when the user accepted running without it; else an error."""
    problem = sandbox_problem()
    if problem is None:
        return True
    if unsafe_no_sandbox:
        return False
    raise SandboxUnavailableError(
        f"refusing to run generated code: {problem}. Generated code can read, change or delete your files "
        f"without an isolating sandbox. Install bubblewrap, or pass --unsafe-no-sandbox "
        f"(Python: unsafe_no_sandbox=True) to run it in a plain subprocess with resource limits only."
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _namespace_args() -> list[str]:
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _as_root():
        # no user namespace: the runner must really become another uid (a uid in a user namespace is still
        # root underneath, and root ignores the process limit); it keeps just the caps to do that
        return [*common, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user", *common]


@functools.lru_cache(maxsize=1)
def interpreter_paths() -> tuple[str, ...]:
    """Folders the interpreter needs: system libraries, the Python prefix and its site-packages."""
    paths = [p for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32") if os.path.lexists(p)]
    extra = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    extra |= {p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))}
    resolved: set[str] = set()
    for p in extra:
        for q in (p, os.path.realpath(p)):
            if os.path.isdir(q):
                resolved.add(os.path.normpath(q))
    chosen: list[str] = []
    for p in sorted(resolved, key=len):  # skip folders inside one already shown
        if not any(p == c or p.startswith(c.rstrip("/") + "/") for c in paths + chosen):
            chosen.append(p)
    return tuple(paths + chosen)


def _bwrap_command(exe: str, host_in: Path, workdir: str, tmpfs_bytes: int) -> list[str]:
    # the private /tmp first, so that an interpreter living under /tmp is bound over it, not hidden
    cmd = [exe, *_namespace_args(), "--dev", "/dev", "--proc", "/proc", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp"]
    made: set[str] = {"/tmp"}
    for p in interpreter_paths():
        if os.path.islink(p) and p.count("/") == 1:  # /bin -> usr/bin on merged-/usr systems
            cmd += ["--symlink", os.readlink(p), p]
            continue
        # parents bwrap would otherwise create private to root (a /root/.pyenv interpreter)
        for parent in reversed(Path(p).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", p, p]
    cmd += ["--ro-bind", str(host_in), INPUT_DIR, "--perms", "0777", "--dir", workdir, "--chdir", workdir]
    return cmd


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, guard: bool = True,
               max_output: int = 20_000, output_limit: int = DEFAULT_OUTPUT_LIMIT,
               unsafe_no_sandbox: bool = False) -> ExecResult:
    """Run ``code`` as ``__main__`` in the sandbox; ``passed`` means it ran to its end, exit status 0,
    within the limits.

    :param max_output: characters of stdout/stderr kept (the tail).
    :param output_limit: bytes of output after which the run is killed (status ``output``).
    :param unsafe_no_sandbox: where bwrap is unavailable, run without isolation instead of refusing.
    """
    if timeout_s <= 0 or memory_mb <= 0 or output_limit <= 0:
        from autoglm_core.types.errors import ConfigError

        raise ConfigError(f"sandbox limits must be positive (timeout_s={timeout_s}, memory_mb={memory_mb}, "
                          f"output_limit={output_limit}).")
    sandboxed = require_sandbox(unsafe_no_sandbox)
    host = Path(tempfile.mkdtemp(prefix="autoglm-sandbox-"))
    status_r, status_w = os.pipe()
    try:
        host_in = host / "in"
        host_in.mkdir()
        workdir = f"/tmp/{host.name}" if sandboxed else str(host / "work")
        in_dir = INPUT_DIR if sandboxed else str(host_in)
        if not sandboxed:
            os.mkdir(workdir)
        (host_in / PROGRAM_FILE).write_text(code, encoding="utf-8")
        boot = (f"GUARD = {bool(guard)!r}\nPROGRAM = {in_dir + '/' + PROGRAM_FILE!r}\n"
                f"MEMORY = {int(memory_mb) * 1024 * 1024}\nCPU_S = {max(1, int(timeout_s) + 1)}\n"
                f"FSIZE = {FILE_SIZE_LIMIT}\nNPROC = {MAX_PROCESSES}\nSTATUS_FD = {status_w}\n"
                f"DROP_TO = {DROP_UID_BASE + secrets.randbelow(DROP_UID_SPAN) if sandboxed else None!r}\n" + BOOT)
        (host_in / "_boot.py").write_text(boot, encoding="utf-8")
        for p in (host, host_in, host_in / PROGRAM_FILE, host_in / "_boot.py"):  # readable by the unprivileged runner
            p.chmod(0o755 if p.is_dir() else 0o644)
        cmd = [sys.executable, "-I", "-B", in_dir + "/_boot.py"]
        if sandboxed:
            cmd = _bwrap_command(bwrap_path() or "bwrap", host_in, workdir, FILE_SIZE_LIMIT) + cmd
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
        token = secrets.token_hex(16).encode()
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=workdir if not sandboxed else host, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(status_w,),
            start_new_session=True,  # its own process group, killed as a whole
        )
        os.close(status_w)
        status_w = -1
        try:
            assert proc.stdin is not None
            proc.stdin.write(token)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        out, err, report, why = _collect(proc, status_r, start + timeout_s, output_limit, max_output * 4)
        _kill_group(proc)  # children the program left behind (the PID namespace takes the rest)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        duration = time.perf_counter() - start
        stdout = out.decode("utf-8", "replace")[-max_output:]
        stderr = err.decode("utf-8", "replace")[-max_output:]
        reached_end = report == token
        if why == "timeout" or rc == -signal.SIGXCPU:
            status = "timeout"
        elif why == "output":
            status = "output"
        elif rc == 0 and reached_end:
            status = "passed"
        elif "MemoryError" in stderr:
            status = "memory"
        elif rc is not None and rc < 0:
            status = "error"
        else:
            status = "failed"  # including exit status 0 before the end (sys.exit, os._exit)
        return ExecResult(status, rc, stdout, stderr, duration, reached_end, sandboxed)
    finally:
        os.close(status_r)
        if status_w >= 0:
            os.close(status_w)
        shutil.rmtree(host, ignore_errors=True)


def _collect(proc: subprocess.Popen, status_fd: int, deadline: float, output_limit: int,
             keep: int) -> tuple[bytes, bytes, bytes, str | None]:
    """Read stdout, stderr and the status pipe as they come, keeping the last ``keep`` bytes of
    each; stop (and kill) at the deadline or past ``output_limit`` bytes. Returns the outputs, the
    status pipe's content and why reading stopped early (None: the program closed its outputs)."""
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray(), status_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    total, why = 0, None
    try:
        while sel.get_map():
            left = deadline - time.perf_counter()
            if left <= 0:
                why = "timeout"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                buf += chunk
                if key.fd == status_fd:
                    if len(buf) > 1024:  # garbage on the status pipe: not a pass, stop listening
                        sel.unregister(key.fd)
                    continue
                total += len(chunk)
                if len(buf) > keep:
                    del buf[:-keep]
            if total > output_limit:
                why = "output"
                break
    finally:
        sel.close()
        if why is not None:
            _kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()
    if why is None:  # outputs closed: the program ended; give it the rest of the time to exit
        try:
            proc.wait(timeout=max(0.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            why = "timeout"
            _kill_group(proc)
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), bytes(bufs[status_fd]), why


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
