"""Process jail: run untrusted programs in fresh Linux namespaces under resource limits.

:mod:`moe_coder.evaluation.sandbox` starts this file once as ``python -s -S _jail.py SOCKET_FD``.
It becomes a small *fork server*: for every request received on the socket (options as JSON,
plus the stdout, stderr and status pipes as passed file descriptors) it forks a jail. Forking
an already started interpreter instead of starting one per program is what makes sandboxed
execution as cheap as unsandboxed execution. The file is standalone on purpose: it imports
nothing from the package, and only a few modules of the standard library.

What a jail does, in order:

1. Starts a new session (its process group is what the harness kills), closes every inherited
   descriptor (the fork server's socket included) and makes the passed pipes its stdio.
2. ``unshare``-s new mount, network, PID, IPC and UTS namespaces (plus a user namespace when not
   root, which is what lets an unprivileged user create the others). The new network namespace
   holds only a loopback device that is down: no connection can be opened, not even to the
   host's ``localhost``.
3. Builds a minimal root (an empty tmpfs moved onto ``/``, then ``chroot``): the system directories (``/usr``
   and the merged-``/usr`` links), a few entries of ``/etc`` that toolchains read, five device
   nodes, the ``readable`` directories (the toolchain, the interpreter), the program's working
   directory and the ``writable`` directories (build caches of compile steps). Nothing else of
   the host exists in there: no other sample's directory, no harness output, no Unix socket of a
   host service. Everything is read-only but the working directory and the ``writable`` ones.
4. Forks PID 1 of the new PID namespace. When it exits, the kernel kills every process left in
   the namespace, including ones that escaped into a new session.
5. PID 1 mounts a fresh ``/proc`` (other processes and their environments are invisible), drops
   root to ``drop_user`` when started as root, enters a user namespace of its own so that
   ``RLIMIT_NPROC`` counts only this sandbox's processes, clears its capabilities, sets
   ``no_new_privs``, a parent-death signal and the resource limits, makes itself non-dumpable
   (the program, same user, can neither ``ptrace`` it nor take its status pipe with
   ``pidfd_getfd``), and forks the program as PID 2 (a PID 1 would be immune to the signals the
   limits send). The program installs a seccomp filter (:func:`install_seccomp`) and ``exec``-s
   the program or, for Python, runs the file in this already started interpreter.
6. PID 1 waits and writes the outcome (``exit N`` / ``signal N``, CPU time, peak memory) and
   any fallback it had to take (``note ...``) on the status pipe.

Every step that the platform refuses is skipped and reported as a ``note`` line instead of
failing, so the caller can record exactly which isolation was in force.
"""
import ctypes
import glob
import json
import os
import platform
import resource
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

SYS_MOUNT_SETATTR = 442  # same number on every architecture (unified syscall table, Linux 5.12)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

RLIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nproc": resource.RLIMIT_NPROC,
    "nofile": resource.RLIMIT_NOFILE,
    "fsize": resource.RLIMIT_FSIZE,
    "core": resource.RLIMIT_CORE,
}

#: Host directories shown read-only in every jail (symbolic links among them, as in a merged
#: ``/usr``, are recreated as links).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: What toolchains read in ``/etc``: the dynamic linker's cache, the alternatives links (``java``,
#: ``c++``), user and group names, the time zone, TLS settings and the JDK's configuration.
ETC_ENTRIES = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group",
               "nsswitch.conf", "localtime", "ssl", "java-*")
DEVICES = ("null", "zero", "full", "random", "urandom")
#: Where the new root is assembled (in the jail's own mount namespace: the host sees nothing).
ROOT_BASE = "/tmp"

#: System-call numbers the seccomp filter needs, per architecture (and the audit arch value).
_SYSCALLS = {
    "x86_64": (0xC000003E, dict(ptrace=101, process_vm_readv=310, process_vm_writev=311, pidfd_getfd=438,
                                memfd_create=319, memfd_secret=447, unshare=272, chroot=161, setns=308,
                                socket=41, clone=56, clone3=435)),
    "aarch64": (0xC00000B7, dict(ptrace=117, process_vm_readv=270, process_vm_writev=271, pidfd_getfd=438,
                                 memfd_create=279, memfd_secret=447, unshare=97, chroot=51, setns=268,
                                 socket=198, clone=220, clone3=435)),
}
_REFUSED = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "memfd_create", "memfd_secret",
            "unshare", "chroot", "setns")
_EPERM, _EACCES, _ENOSYS = 1, 13, 38
_AF_UNIX = 1

_libc = ctypes.CDLL(None, use_errno=True)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def _encode(text):
    return None if text is None else text.encode()


def _mount(source, target, fstype, flags, data=None):
    ret = _libc.mount(_encode(source), _encode(target), _encode(fstype), ctypes.c_ulong(flags), _encode(data))
    _check(ret, f"mount {target}")


def _mount_setattr(path, attr_set=0, attr_clr=0):
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(ret, f"mount_setattr {path}")


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp_program(machine):
    """The filter as classic BPF: refuse what would reach outside the jail, allow the rest.

    Refused with ``EPERM``: ``ptrace``, ``process_vm_readv``/``writev`` and ``pidfd_getfd`` (no
    reaching into another process, PID 1 included), ``memfd_create`` and ``memfd_secret`` (memory
    that ``RLIMIT_AS`` does not count), and ``unshare``, ``setns``, ``chroot`` and ``clone`` with
    ``CLONE_NEWUSER``: no new user namespace, so no capability, so no way out of the ``chroot``
    the jail's root is. ``clone3`` (whose flags a filter cannot read) gets ``ENOSYS``, on which
    the C library falls back to ``clone``. ``socket(AF_UNIX, ...)`` gets ``EACCES``
    (``socketpair`` stays allowed). System calls of another ABI (32-bit, x32) get ``ENOSYS``.
    """
    arch, numbers = _SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    errno, allow = 0x00050000, 0x7FFF0000
    insns = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, errno | _ENOSYS), (ld, 0, 0, 0)]
    if machine == "x86_64":
        insns += [(jge, 0, 1, 0x40000000), (ret, 0, 0, errno | _ENOSYS)]
    for name in _REFUSED:
        insns += [(jeq, 0, 1, numbers[name]), (ret, 0, 0, errno | _EPERM)]
    insns += [(jeq, 0, 1, numbers["clone3"]), (ret, 0, 0, errno | _ENOSYS)]
    # Argument 0 (its low 32 bits) sits at offset 16 of struct seccomp_data.
    insns += [(jeq, 0, 3, numbers["clone"]), (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER), (ret, 0, 0, errno | _EPERM),
              (ld, 0, 0, 0)]
    insns += [(jeq, 0, 3, numbers["socket"]), (ld, 0, 0, 16), (jeq, 0, 1, _AF_UNIX), (ret, 0, 0, errno | _EACCES),
              (ret, 0, 0, allow)]
    return insns


def install_seccomp():
    """Install :func:`_seccomp_program` on this process (and so on everything it starts).

    Returns why it could not (``None`` when it is in force): the caller reports it as a note.
    """
    machine = platform.machine()
    if machine not in _SYSCALLS:
        return f"no seccomp filter for {machine}"
    insns = _seccomp_program(machine)
    array = (_SockFilter * len(insns))(*(_SockFilter(*insn) for insn in insns))
    prog = _SockFprog(len(insns), array)
    try:
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")
    except OSError as exc:
        return f"no seccomp filter: {exc}"
    return None


def _write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _map_self(uid, gid):
    """Map our own uid/gid into the user namespace just created (allowed without privilege)."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _clear_capabilities():
    """Drop every capability: a process that owns a user namespace keeps them across an in-process run."""
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(_CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), data), "capset")


class _Jail:
    """One program's jail; ``opts`` is the request the fork server received (see sandbox.py)."""

    def __init__(self, opts, status_fd):
        self.opts = opts
        self.status = status_fd
        self.namespaces = 0
        self.root = os.geteuid() == 0

    def report(self, line):
        os.write(self.status, (line.replace("\n", " ") + "\n").encode())

    # -- in the jail process, before PID 1 exists ---------------------------------------------
    def enter_namespaces(self):
        isolate = self.opts["isolate"]
        wanted = 0
        if "net" in isolate:
            wanted |= CLONE_NEWNET
        if "fs" in isolate:
            wanted |= CLONE_NEWNS
        if "pid" in isolate:
            wanted |= CLONE_NEWPID | CLONE_NEWNS
        if not wanted:
            return
        wanted |= CLONE_NEWIPC | CLONE_NEWUTS
        if not self.root:
            wanted |= CLONE_NEWUSER
        for flags in (wanted, wanted & ~CLONE_NEWPID):
            try:
                _unshare(flags)
            except OSError as exc:
                self.report(f"note unshare {flags:#x} refused: {exc}")
                continue
            self.namespaces = flags
            break
        if self.namespaces & CLONE_NEWUSER:
            _map_self(os.getuid(), os.getgid())
        self.report(
            "ns user={} net={} mount={} pid={}".format(
                *(int(bool(self.namespaces & f)) for f in (CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID))
            )
        )

    def seal_filesystem(self):
        """Pivot into a minimal read-only root; only the working and ``writable`` directories are writable."""
        if not (self.namespaces & CLONE_NEWNS and "fs" in self.opts["isolate"]):
            return False
        handles = []
        try:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do here propagates to the host
            entries = self._root_entries()
            # Open every source before the tmpfs covers ROOT_BASE (the working directory is in there).
            for path, kind in entries:
                if kind != "link":
                    handles.append(os.open(path, os.O_PATH | os.O_CLOEXEC))
            self._assemble(entries, handles)
        except OSError as exc:
            self.report(f"note filesystem left visible and writable: {exc}")
            return False
        finally:
            for fd in handles:
                os.close(fd)
        self.report("fs readonly=1 private=1")
        return True

    def _root_entries(self):
        """``(path, kind)`` for everything the new root shows: kind is ``link``, ``ro`` or ``rw``."""
        entries, shown = [], []

        def covered(path):
            return any(path == top or path.startswith(top.rstrip("/") + "/") for top in shown)

        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                entries.append((path, "link"))
            elif os.path.isdir(path):
                entries.append((path, "ro"))
                shown.append(path)
        for pattern in ETC_ENTRIES:
            entries += [(path, "ro") for path in sorted(glob.glob(os.path.join("/etc", pattern)))]
        entries += [(f"/dev/{name}", "ro") for name in DEVICES if os.path.exists(f"/dev/{name}")]
        for path in sorted(set(self.opts["readable"])):
            if os.path.exists(path) and not covered(path):
                entries.append((path, "ro"))
                shown.append(path)
        for path in [self.opts["workdir"], *self.opts["writable"]]:
            if os.path.isdir(path):
                entries.append((path, "rw"))
            else:
                self.report(f"note writable directory {path} does not exist")
        return entries

    def _assemble(self, entries, handles):
        _mount("tmpfs", ROOT_BASE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m,nr_inodes=4096")
        for path in ("/proc", "/dev", "/tmp"):
            os.makedirs(ROOT_BASE + path, exist_ok=True)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{ROOT_BASE}/dev/{name}")
        fds = iter(handles)
        for path, kind in entries:
            target = ROOT_BASE + path
            if kind == "link":
                os.symlink(os.readlink(path), target)
                continue
            fd = next(fds)
            if not os.path.lexists(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.mkdir(target)
                else:
                    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        if "pid" not in self.opts["isolate"] or not self.namespaces & CLONE_NEWPID:
            _mount("/proc", ROOT_BASE + "/proc", None, MS_BIND | MS_REC)
        os.chdir(ROOT_BASE)
        self._pivot()
        _mount_setattr("/", attr_set=MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID)
        for path, kind in entries:
            if kind == "rw":
                _mount_setattr(path, attr_clr=MOUNT_ATTR_RDONLY)

    @staticmethod
    def _pivot():
        """Make the current directory (the new root's tmpfs) the root: moved onto ``/``, then ``chroot``.

        Cheaper than ``pivot_root`` + unmounting the old root, which waits for an RCU grace period
        (up to milliseconds) per program. The host's tree stays below, out of reach: getting out
        of a ``chroot`` needs ``CAP_SYS_CHROOT``, the program has no capability and the seccomp
        filter refuses the new user namespace that would grant one (and ``chroot`` itself).
        """
        _mount(".", "/", None, MS_MOVE)
        _check(_libc.chroot(b"."), "chroot")
        os.chdir("/")

    def wait(self, pid):
        _, status, usage = os.wait4(pid, 0)
        if os.WIFSIGNALED(status):
            self.report(f"signal {os.WTERMSIG(status)}")
        else:
            self.report(f"exit {os.WEXITSTATUS(status)}")
        self.report(f"rusage {usage.ru_utime:.4f} {usage.ru_stime:.4f} {usage.ru_maxrss}")

    # -- in PID 1 --------------------------------------------------------------------------------
    def mount_proc(self):
        if self.namespaces & CLONE_NEWPID and self.namespaces & CLONE_NEWNS:
            try:
                _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            except OSError as exc:
                self.report(f"note /proc not remounted: {exc}")

    def drop_privileges(self):
        uid, gid = self.opts["drop_user"]
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # Changing user made us undumpable, which makes /proc/self root-owned; the user namespace
        # that follows needs to write its own /proc/self/uid_map.
        _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl dumpable")
        self.report(f"user uid={uid}")

    def own_process_count(self):
        """A user namespace of our own makes RLIMIT_NPROC count this sandbox's processes only."""
        if self.namespaces & CLONE_NEWUSER:
            self.report("nproc scope=sandbox")
            return
        try:
            _unshare(CLONE_NEWUSER)
            _map_self(os.getuid(), os.getgid())
            self.report("nproc scope=sandbox")
        except OSError as exc:
            self.report(f"note process limit shared with the user's other processes: {exc}")

    def set_limits(self):
        for name, limit in self.opts["rlimit"].items():
            hard = limit + 1 if name == "cpu" else limit
            try:
                resource.setrlimit(RLIMITS[name], (limit, hard))
            except (ValueError, OSError) as exc:
                self.report(f"note rlimit {name} not set: {exc}")

    def child(self):
        dropping = self.root and self.opts["drop_user"] is not None
        self.mount_proc()
        if dropping:
            self.drop_privileges()
        if "nproc" in self.opts["rlimit"] and (dropping or not self.root):
            self.own_process_count()
        if os.geteuid() != 0 or self.namespaces & CLONE_NEWUSER:
            _clear_capabilities()
        self.set_limits()
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl no_new_privs")
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl pdeathsig")
        # The program runs as the same user: non-dumpable, this process can be neither traced
        # nor have its status pipe taken (pidfd_getfd) by it.
        _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl dumpable")
        os.chdir(self.opts["workdir"])
        os.umask(0o022)

    def confine_program(self):
        """In the program (PID 2), before it starts: dumpable again (its own /proc), seccomp on."""
        _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl dumpable")
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl pdeathsig")
        refused = install_seccomp()
        self.report(f"note {refused}" if refused else "seccomp on=1")


def _run_python(path, python_paths):
    """Run *path* as ``__main__`` in this interpreter, like ``python path`` would."""
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    code = compile(source, path, "exec")
    main = type(sys)("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = [path]
    sys.path[:] = [os.path.dirname(os.path.abspath(path)), *python_paths]
    exec(code, main.__dict__)  # noqa: S102 - running the program is the point


def _jail(opts, fds):
    """The forked jail: never returns (exits, execs the program, or runs it and exits).

    Three processes: this one (outside the new PID namespace, waits), its child (PID 1 inside,
    sets up and reports) and the program (PID 2).
    """
    stdout, stderr, status = fds
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    os.dup2(status, 3)
    os.closerange(4, _max_fd())  # the fork server's socket must not reach the program
    os.set_inheritable(3, False)  # closed by exec, so the program cannot forge a status
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)  # the fork server's dispositions are not the program's
    os.environ.clear()
    os.environ.update(opts["env"])
    jail = _Jail(opts, 3)
    jail.report(f"pid {os.getpid()}")
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl pdeathsig")
        jail.enter_namespaces()
        jail.seal_filesystem()
    except OSError as exc:
        jail.report(f"error setup: {exc}")
        os._exit(0)
    here = os.path.dirname(os.path.abspath(__file__))
    python_paths = [p for p in sys.path if p != here] + opts["pythonpath"]
    if os.fork():
        os.wait()
        os._exit(0)
    # PID 1 of the new namespace: set up, start the program as PID 2, report how it ended. The
    # program must not be PID 1 itself: the kernel ignores signals to PID 1 that it has no handler
    # for (SIGXCPU at the CPU limit, SIGABRT from a failed C assert, SIGPIPE, ...).
    try:
        jail.child()
    except OSError as exc:
        jail.report(f"error {exc}")
        os._exit(0)
    program = os.fork()
    if program:
        jail.wait(program)
        os._exit(0)
    try:
        jail.confine_program()
        if not opts["python"]:
            for number in (signal.SIGPIPE, signal.SIGXFSZ):  # ignored by Python, default elsewhere
                signal.signal(number, signal.SIG_DFL)
            os.execve(opts["argv"][0], opts["argv"], opts["env"])
    except OSError as exc:
        jail.report(f"error {exc}")
        os._exit(126)
    os.close(3)
    try:
        _run_python(opts["python"], python_paths)
    except SystemExit as exc:
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        _flush_and_exit(code or 0)
    except BaseException:  # noqa: BLE001 - report like the interpreter would, then exit
        sys.excepthook(*sys.exc_info())
        _flush_and_exit(1)
    _flush_and_exit(0)


def _flush_and_exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)


def _max_fd():
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 16


#: Standard modules that benchmark programs import all the time: imported once here, so that every
#: forked Python program finds them loaded (importing them is most of a short program's run time).
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "string", "bisect",
           "copy", "pickle", "hashlib", "random", "fractions", "statistics", "decimal")


def serve(sock_fd):
    """Fork one jail per request until the harness closes the socket."""
    for name in PRELOAD:
        __import__(name)
    sock = socket.socket(fileno=sock_fd)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
        except OSError:
            return
        if not message:
            return
        if os.fork() == 0:
            sock.close()
            _jail(json.loads(message), fds)
        for fd in fds:
            os.close(fd)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__main__":
    serve(int(sys.argv[1]))
