"""Run untrusted programs in isolation: one subprocess per program, contained and limited.

Each program is a fork of one small fork server, :mod:`moe_coder.evaluation._jail` (started
once per :class:`Sandbox`; its docstring has the mechanics), and runs in its own process group and
a fresh temporary directory, with:

* a wall-clock timeout enforced here, and a CPU-time limit enforced by the kernel;
* address-space, process (threads included), open-file and file-size limits;
* stdout + stderr captured up to a cap: a program that writes more is killed;
* an environment scrubbed down to ``PATH``, ``HOME``/``TMPDIR`` (its own directory) and a locale;
* where Linux namespaces are available: no network, a read-only filesystem outside its directory,
  its own PID namespace (nothing it starts survives it) and its own ``/proc``; when the harness
  runs as root, the program runs as ``nobody``.

At the end the whole process group is killed, whatever happened. What isolation was actually in
force on this machine is probed once and reported by :meth:`Sandbox.isolation`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import pwd
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

logger = logging.getLogger(__name__)

JAIL = Path(__file__).with_name("_jail.py")
_DRAIN_S = 1.0  # after the program exits, how long to wait for its pipes to close
_READ_CHUNK = 65536


@dataclass(frozen=True)
class Limits:
    """Resource limits for one program (or one compile step).

    ``cpu_s`` defaults to the wall-clock timeout; ``max_processes`` counts threads too (that is
    what ``RLIMIT_NPROC`` counts), so runtimes with many threads (JVM, Go) need some headroom.
    """

    timeout_s: float = 10.0
    cpu_s: float | None = None
    memory_bytes: int = 2 << 30
    max_processes: int = 64
    max_open_files: int = 256
    max_file_bytes: int = 64 << 20
    max_output_bytes: int = 1 << 20

    def replace(self, **changes) -> "Limits":
        return replace(self, **changes)

    def rlimits(self) -> dict[str, int]:
        cpu = self.cpu_s if self.cpu_s is not None else self.timeout_s
        return {
            "cpu": max(1, math.ceil(cpu)),
            "as": int(self.memory_bytes),
            "nproc": int(self.max_processes),
            "nofile": int(self.max_open_files),
            "fsize": int(self.max_file_bytes),
            "core": 0,
        }


@dataclass
class RunResult:
    """What happened to one program.

    ``returncode`` is the program's exit status and ``signal`` the signal that killed it (both
    ``None`` when the harness killed it for a timeout or too much output, see ``timed_out`` and
    ``output_exceeded``). ``error`` is set when the sandbox itself could not run the program.
    """

    returncode: int | None
    signal: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    output_exceeded: bool = False
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_kb: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not (self.timed_out or self.output_exceeded or self.error)


@dataclass(frozen=True)
class Isolation:
    """The isolation actually in force on this machine (probed, not assumed)."""

    network_isolated: bool
    filesystem_isolated: bool
    pid_namespace: bool
    runs_as: str
    process_limit_scope: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out


def clean_env(workdir: str | os.PathLike, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a sandboxed program sees: nothing inherited from the caller."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    env.update(extra or {})
    return env


def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _remove_tree(path: Path) -> None:
    def fix_and_retry(func, target, _exc):
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            os.chmod(target, stat.S_IRWXU)
        with contextlib.suppress(OSError):
            func(target)

    shutil.rmtree(path, onerror=fix_and_retry)


class Sandbox:
    """Runs programs under :class:`Limits` with the strongest isolation the platform allows.

    Args:
        isolate_network: run in a network namespace with no interfaces up.
        isolate_filesystem: make everything but the program's directory read-only.
        isolate_processes: give the program its own PID namespace and ``/proc``.
        drop_root: when the harness runs as root, run programs (not compile steps) as ``nobody``.
    """

    def __init__(
        self,
        *,
        isolate_network: bool = True,
        isolate_filesystem: bool = True,
        isolate_processes: bool = True,
        drop_root: bool = True,
    ) -> None:
        self.isolate = [
            name
            for name, wanted in (("net", isolate_network), ("fs", isolate_filesystem), ("pid", isolate_processes))
            if wanted
        ]
        self.drop_user = _nobody() if (drop_root and os.geteuid() == 0) else None
        self._isolation: Isolation | None = None
        self._probe_lock = threading.Lock()
        self._server_lock = threading.Lock()
        self._fork_server: _ForkServer | None = None

    # -- working directories -------------------------------------------------------------------
    @contextlib.contextmanager
    def workdir(self, files: Mapping[str, str | bytes] | None = None) -> Iterator[Path]:
        """A fresh temporary directory holding *files*, owned by the user programs run as; removed after."""
        path = Path(tempfile.mkdtemp(prefix="moe-coder-run-"))
        try:
            for name, content in (files or {}).items():
                target = path / name
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode("utf-8") if isinstance(content, str) else content
                target.write_bytes(data)
                target.chmod(0o644)
            if self.drop_user is not None:
                for item in [path, *path.rglob("*")]:
                    if item.is_dir():
                        os.chown(item, *self.drop_user)
                path.chmod(0o755)
            yield path
        finally:
            _remove_tree(path)

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str] | None,
        workdir: str | os.PathLike,
        *,
        limits: Limits,
        python_file: str | None = None,
        env: Mapping[str, str] | None = None,
        writable: Sequence[str] = (),
        drop_privileges: bool = True,
    ) -> RunResult:
        """Run ``argv`` (or, with ``python_file``, that file in a fresh Python) inside ``workdir``.

        ``env`` replaces the environment entirely (see :func:`clean_env`). ``writable`` lists
        extra directories the program may write (build caches of compile steps).
        ``drop_privileges=False`` keeps the caller's user, for compilers that live in a directory
        ``nobody`` cannot read; programs under test always keep the default.
        """
        if (argv is None) == (python_file is None):
            raise ValueError("give exactly one of argv or python_file")
        workdir = str(workdir)
        request = {
            "workdir": workdir,
            "argv": list(argv or ()),
            "python": python_file,
            "pythonpath": _site_dirs() if python_file is not None else [],
            "env": dict(env) if env is not None else clean_env(workdir),
            "isolate": self.isolate,
            "writable": [str(p) for p in writable],
            "rlimit": limits.rlimits(),
            "drop_user": list(self.drop_user) if drop_privileges and self.drop_user is not None else None,
        }
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, status
        start = time.monotonic()
        try:
            self._server.submit(request, [w for _, w in pipes])
        except OSError as exc:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            return RunResult(None, None, "", "", error=f"could not reach the jail server: {exc}")
        for _, w in pipes:
            os.close(w)
        try:
            return _supervise(*(r for r, _ in pipes), start=start, limits=limits)
        finally:
            for r, _ in pipes:
                os.close(r)

    @property
    def _server(self) -> "_ForkServer":
        with self._server_lock:
            if self._fork_server is None or not self._fork_server.alive:
                self._fork_server = _ForkServer()
            return self._fork_server

    def close(self) -> None:
        """Stop the fork server (a later :meth:`run` starts a new one)."""
        with self._server_lock:
            if self._fork_server is not None:
                self._fork_server.close()
                self._fork_server = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- isolation probe -----------------------------------------------------------------------
    def isolation(self) -> Isolation:
        """Run one trivial program and report which isolation the platform actually granted."""
        with self._probe_lock:
            if self._isolation is None:
                self._isolation = self._probe()
            return self._isolation

    def _probe(self) -> Isolation:
        with self.workdir({"probe.py": "pass\n"}) as tmp:
            result = self.run(None, tmp, limits=Limits(timeout_s=30), python_file=str(tmp / "probe.py"))
        facts = {}
        for note in result.notes:
            key, _, rest = note.partition(" ")
            for item in rest.split():
                name, _, value = item.partition("=")
                facts[f"{key}.{name}"] = value
        notes = [n for n in result.notes if n.startswith("note ")]
        if result.error:
            notes.append(f"probe failed: {result.error}")
        if sys.platform != "linux":
            notes.append(f"no namespaces on {sys.platform}: only resource limits and process-group kill apply")
        runs_as = f"uid {facts['user.uid']}" if "user.uid" in facts else f"uid {os.geteuid()} (the caller)"
        isolation = Isolation(
            network_isolated=facts.get("ns.net") == "1",
            filesystem_isolated=facts.get("fs.readonly") == "1",
            pid_namespace=facts.get("ns.pid") == "1",
            runs_as=runs_as,
            process_limit_scope="sandbox" if facts.get("nproc.scope") == "sandbox" else "user",
            notes=tuple(n.removeprefix("note ") for n in notes),
        )
        missing = [name for name, ok in (("network", isolation.network_isolated),
                                         ("filesystem", isolation.filesystem_isolated),
                                         ("processes", isolation.pid_namespace)) if not ok]
        if missing:
            logger.warning("sandbox: no %s isolation here (%s)", ", ".join(missing), "; ".join(isolation.notes) or "disabled")
        return isolation


class _ForkServer:
    """The jail fork server (``_jail.py``), fed requests and pipes over a Unix socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                # -s -S: no site-packages of its own (programs get the harness's, see _site_dirs).
                # The environment is ours entirely; PYTHONHASHSEED=0 makes every Python program
                # iterate sets of strings in the same order in every run, so verdicts repeat and
                # cached evalplus outputs match.
                [sys.executable, "-s", "-S", str(JAIL), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"},
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _stop_server, self.sock, self.process)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def submit(self, request: Mapping, fds: Sequence[int]) -> None:
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(request).encode()], list(fds))

    def close(self) -> None:
        self._finalizer()


def _stop_server(sock: socket.socket, process: subprocess.Popen) -> None:
    sock.close()  # the server exits when its socket closes
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _supervise(out_r: int, err_r: int, status_r: int, *, start: float, limits: Limits) -> RunResult:
    """Collect one jail's output and status; kill its process group on timeout or too much output."""
    buffers = {out_r: bytearray(), err_r: bytearray(), status_r: bytearray()}
    jail_pid: int | None = None
    timed_out = exceeded = finished = False
    deadline = start + limits.timeout_s
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                timed_out = not finished
                break
            for key, _ in sel.select(timeout=deadline - now):
                chunk = os.read(key.fd, _READ_CHUNK)
                if not chunk:
                    sel.unregister(key.fd)
                    if key.fd == status_r:
                        # The jail exited (it holds the status pipe to the end); give the
                        # pipes a moment to close, which they do at once when nothing survived.
                        finished = True
                        deadline = min(deadline, time.monotonic() + _DRAIN_S)
                    continue
                buffers[key.fd] += chunk
                if jail_pid is None and key.fd == status_r and b"\n" in buffers[status_r]:
                    first = buffers[status_r].split(b"\n", 1)[0].split()
                    if first[:1] == [b"pid"]:
                        jail_pid = int(first[1])
            if len(buffers[out_r]) + len(buffers[err_r]) > limits.max_output_bytes:
                exceeded = True
                break
    if jail_pid is not None:
        _killpg(jail_pid)  # whatever happened, nothing of this run outlives it
    result = RunResult(
        returncode=None,
        signal=None,
        stdout=buffers[out_r].decode("utf-8", "replace"),
        stderr=buffers[err_r].decode("utf-8", "replace"),
        timed_out=timed_out,
        output_exceeded=exceeded,
        wall_s=time.monotonic() - start,
    )
    _apply_status(result, buffers[status_r].decode("utf-8", "replace"))
    if result.returncode is None and result.signal is None and not (timed_out or exceeded or result.error):
        result.error = "the jail ended without reporting the program's status"
    return result


def _apply_status(result: RunResult, text: str) -> None:
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "exit":
            result.returncode = int(rest)
        elif key == "signal":
            result.signal = int(rest)
        elif key == "rusage":
            utime, stime, rss = rest.split()
            result.cpu_s = float(utime) + float(stime)
            result.max_rss_kb = int(rss)
        elif key == "pid":
            continue
        elif key == "error":
            result.error = rest
            result.notes.append(line)
        else:
            result.notes.append(line)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _site_dirs() -> list[str]:
    """Where the harness's own Python finds third-party packages, for programs run in that Python."""
    import site

    return [d for d in dict.fromkeys(site.getsitepackages()) if os.path.isdir(d)]
