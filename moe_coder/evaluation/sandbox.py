"""Run untrusted programs in isolation: one subprocess per program, contained and limited.

Each program is a fork of one small fork server, :mod:`moe_coder.evaluation._jail` (started
once per :class:`Sandbox`; its docstring has the mechanics), and runs in its own process group and
a fresh temporary directory, with:

* a wall-clock timeout enforced here, and a CPU-time limit enforced by the kernel;
* address-space, process (threads included), open-file and file-size limits;
* stdout + stderr captured up to a cap: a program that writes more is killed;
* an environment scrubbed down to ``PATH``, ``HOME``/``TMPDIR`` (its own directory) and a locale;
* where Linux namespaces are available: no network, a minimal read-only root (system directories,
  the toolchain, its own directory: nothing of other samples, of the harness, or of host
  services), its own PID namespace (nothing it starts survives it) and its own ``/proc``; when
  the harness runs as root, every step (compile steps too) runs as ``nobody``, and its directory
  is a tmpfs of ``max_disk_bytes``;
* a seccomp filter refusing ``ptrace``, ``pidfd_getfd``, ``process_vm_*``, ``memfd_create`` and
  ``AF_UNIX`` sockets (see ``_jail.install_seccomp``).

At the end the whole process group is killed, whatever happened. What isolation was actually in
force on this machine is probed once and reported by :meth:`Sandbox.isolation`.
"""
from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import logging
import math
import os
import pwd
import queue
import selectors
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
    ``max_disk_bytes`` bounds everything a program's directory holds (a tmpfs of that size, where
    the harness runs as root); ``max_file_bytes`` bounds each file.
    """

    timeout_s: float = 10.0
    cpu_s: float | None = None
    memory_bytes: int = 2 << 30
    max_processes: int = 64
    max_open_files: int = 256
    max_file_bytes: int = 64 << 20
    max_output_bytes: int = 1 << 20
    max_disk_bytes: int = 256 << 20

    #: Upper bounds that keep every limit a finite, representable rlimit (a day, 1 TiB).
    MAX_SECONDS = 86400.0
    MAX_BYTES = 1 << 40

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value <= self.MAX_SECONDS):
                raise ValueError(f"{name} must be a number of seconds in (0, {self.MAX_SECONDS:.0f}], got {value!r}")
        for name in ("memory_bytes", "max_processes", "max_open_files", "max_file_bytes", "max_output_bytes",
                     "max_disk_bytes"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 0 < value <= self.MAX_BYTES):
                raise ValueError(f"{name} must be a positive integer up to {self.MAX_BYTES}, got {value!r}")

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
    private_root: bool = False
    seccomp: bool = False
    disk_quota: bool = False
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
    """Remove *path* and everything in it, iteratively: no recursion, so no depth limit.

    Each directory found is first moved up to *path* itself, so every operation names a path at
    most two levels deep, whatever the depth of the tree a program built.
    """
    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    flattened = [path]
    pending = [path]
    names = (path / f".moe-coder-rm-{n}" for n in itertools.count())
    while pending:
        folder = pending.pop()
        with contextlib.suppress(OSError):
            os.chmod(folder, stat.S_IRWXU)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                moved = next(names)
                while os.path.lexists(moved):
                    moved = next(names)
                with contextlib.suppress(OSError):
                    os.chmod(entry.path, stat.S_IRWXU)  # moving a directory rewrites its ".."
                    os.rename(entry.path, moved)
                    flattened.append(moved)
                    pending.append(moved)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    for folder in reversed(flattened):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


class _Quota:
    """Per-directory tmpfs mounts of a fixed size (root only; elsewhere :attr:`available` is false)."""

    MNT_DETACH = 2

    def __init__(self) -> None:
        self.available = sys.platform == "linux" and os.geteuid() == 0
        self.reason = "" if self.available else "a disk quota needs a root harness (tmpfs mounts)"
        self._libc = ctypes.CDLL(None, use_errno=True) if self.available else None

    def mount(self, path: Path, size: int, owner: tuple[int, int] | None) -> bool:
        if not self.available:
            return False
        uid, gid = owner or (os.getuid(), os.getgid())
        options = f"size={size},nr_inodes={max(1024, size >> 12)},mode=755,uid={uid},gid={gid}"
        if self._libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", ctypes.c_ulong(0x2 | 0x4), options.encode()):
            err = ctypes.get_errno()
            self.available, self.reason = False, f"tmpfs mount refused: {os.strerror(err)}"
            logger.warning("sandbox: no disk quota for work directories (%s)", self.reason)
            return False
        return True

    def unmount(self, path: Path) -> None:
        self._libc.umount2(str(path).encode(), ctypes.c_int(self.MNT_DETACH))


class _Janitor:
    """Removes finished work directories on a background thread.

    Unmounting a work directory's tmpfs waits for an RCU grace period (milliseconds of waiting,
    no CPU), which need not hold up the next program. :meth:`drain` waits until all are gone.
    """

    def __init__(self, quota: _Quota) -> None:
        self.quota = quota
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def submit(self, path: Path, mounted: bool) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._work, name="moe-coder-janitor", daemon=True)
                self.thread.start()
            self.queue.put((path, mounted))

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            path, mounted = item
            if mounted:
                self.quota.unmount(path)
            _remove_tree(path)

    def drain(self) -> None:
        with self.lock:
            thread, self.thread = self.thread, None
            if thread is not None:
                self.queue.put(None)
        if thread is not None:
            thread.join()


class Sandbox:
    """Runs programs under :class:`Limits` with the strongest isolation the platform allows.

    Args:
        isolate_network: run in a network namespace with no interfaces up.
        isolate_filesystem: make everything but the program's directory read-only.
        isolate_processes: give the program its own PID namespace and ``/proc``.
        drop_root: when the harness runs as root, run every step (compile steps too) as ``nobody``.
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
        self._quota = _Quota()
        self._janitor = _Janitor(self._quota)
        weakref.finalize(self, self._janitor.drain)
        self._owned: set[str] = set()

    # -- working directories -------------------------------------------------------------------
    @contextlib.contextmanager
    def workdir(self, files: Mapping[str, str | bytes] | None = None,
                max_bytes: int = Limits.max_disk_bytes) -> Iterator[Path]:
        """A fresh temporary directory holding *files*, owned by the user programs run as; removed after.

        Where the harness runs as root the directory is a tmpfs of *max_bytes*: everything the
        program writes there counts, and removing it is one unmount.
        """
        path = Path(tempfile.mkdtemp(prefix="moe-coder-run-"))
        mounted = self._quota.mount(path, max_bytes, self.drop_user)
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
            self._janitor.submit(path, mounted)

    def _own(self, directory: str) -> None:
        """Hand a build cache to the user programs run as (once per directory and sandbox)."""
        if self.drop_user is None or directory in self._owned or not os.path.isdir(directory):
            return
        uid, gid = self.drop_user
        for root, dirs, names in os.walk(directory):
            for name in [*dirs, *names]:
                with contextlib.suppress(OSError):
                    os.lchown(os.path.join(root, name), uid, gid)
        os.chown(directory, uid, gid)
        self._owned.add(directory)

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
        readable: Sequence[str] = (),
    ) -> RunResult:
        """Run ``argv`` (or, with ``python_file``, that file in a fresh Python) inside ``workdir``.

        ``env`` replaces the environment entirely (see :func:`clean_env`). ``writable`` lists
        extra directories the program may write (build caches of compile steps), handed to the
        user programs run as. ``readable`` lists directories to show beyond the system ones; the
        directory a toolchain outside them lives in (``argv[0]``'s), and this Python's, are added.
        """
        if (argv is None) == (python_file is None):
            raise ValueError("give exactly one of argv or python_file")
        workdir = str(workdir)
        for directory in writable:
            self._own(str(directory))
        shown = [*readable, *(_python_dirs() if python_file is not None else [_toolchain_dir(argv[0])])]
        request = {
            "workdir": workdir,
            "argv": list(argv or ()),
            "python": python_file,
            "pythonpath": _site_dirs() if python_file is not None else [],
            "env": dict(env) if env is not None else clean_env(workdir),
            "isolate": self.isolate,
            "readable": [str(p) for p in shown if p],
            "writable": [str(p) for p in writable],
            "rlimit": limits.rlimits(),
            "drop_user": list(self.drop_user) if self.drop_user is not None else None,
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
        """Stop the fork server (a later :meth:`run` starts a new one) and wait until every work
        directory is removed (that happens in the background, see :class:`_Janitor`)."""
        with self._server_lock:
            if self._fork_server is not None:
                self._fork_server.close()
                self._fork_server = None
        self._janitor.drain()

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
        if not self._quota.available:
            notes.append(f"note no disk quota: {self._quota.reason}")
        isolation = Isolation(
            network_isolated=facts.get("ns.net") == "1",
            filesystem_isolated=facts.get("fs.readonly") == "1",
            pid_namespace=facts.get("ns.pid") == "1",
            runs_as=runs_as,
            process_limit_scope="sandbox" if facts.get("nproc.scope") == "sandbox" else "user",
            private_root=facts.get("fs.private") == "1",
            seccomp=facts.get("seccomp.on") == "1",
            disk_quota=self._quota.available,
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
    """Read the jail's status lines into *result*.

    Only the jail writes this pipe, but whatever it holds is parsed defensively: a line that does
    not parse, or a second outcome, makes ``result.error`` (a failed sample), never an exception.
    """
    outcomes = 0
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        try:
            if key == "exit":
                result.returncode = int(rest)
                outcomes += 1
            elif key == "signal":
                result.signal = int(rest)
                outcomes += 1
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
        except ValueError:
            result.error = f"malformed status line from the jail: {line[:100]!r}"
    if outcomes > 1:
        result.error = "the jail reported more than one outcome"
    if result.error:
        result.returncode = result.signal = None


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/")


def _toolchain_dir(program: str) -> str | None:
    """The installation a program outside the system directories belongs to (``.../bin/x`` -> ``...``)."""
    if not os.path.isabs(program):
        return None
    real = os.path.realpath(program)
    if real.startswith(_SYSTEM_PREFIXES):
        return None
    return os.path.dirname(os.path.dirname(real))


def _python_dirs() -> list[str]:
    """Everything this interpreter reads: its installation, its virtual environment, site dirs."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return sorted({os.path.realpath(p) for p in prefixes} | set(_site_dirs()))


def _site_dirs() -> list[str]:
    """Where the harness's own Python finds third-party packages, for programs run in that Python."""
    import site

    return [d for d in dict.fromkeys(site.getsitepackages()) if os.path.isdir(d)]
