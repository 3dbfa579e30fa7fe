"""The sandbox's mechanics: what a program inherits, fallbacks, compile steps, the fork server."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from moe_coder.evaluation.sandbox import Limits, Sandbox, _python_dirs, clean_env

LIMITS = Limits(timeout_s=5.0, memory_bytes=512 << 20)


def run_python(sandbox: Sandbox, source: str, **kwargs):
    with sandbox.workdir({"p.py": source}) as workdir:
        return sandbox.run(None, workdir, limits=LIMITS, python_file=str(workdir / "p.py"), **kwargs)


def test_a_program_inherits_only_stdio(sandbox):
    result = run_python(sandbox, "import os\nprint(sorted(int(fd) for fd in os.listdir('/proc/self/fd')))\n")
    fds = eval(result.stdout)
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4  # the fourth, if any, is listdir's own


def test_stdin_is_empty_and_the_working_directory_is_its_own(sandbox):
    result = run_python(sandbox, "import os, sys\nprint(repr(sys.stdin.read()), os.getcwd() == os.environ['HOME'])\n")
    assert result.stdout.split() == ["''", "True"]


def test_exit_status_signal_and_resource_usage_are_reported(sandbox):
    assert run_python(sandbox, "raise SystemExit(3)\n").returncode == 3
    killed = run_python(sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    assert killed.signal == signal.SIGTERM and killed.returncode is None
    busy = run_python(sandbox, "x = sum(range(3_000_000))\n")
    assert busy.cpu_s > 0 and busy.max_rss_kb > 0 and busy.wall_s >= busy.cpu_s * 0.5


def test_run_an_executable_with_its_own_environment(sandbox, tmp_path):
    with sandbox.workdir() as workdir:
        result = sandbox.run(["/bin/sh", "-c", "echo $GREETING; pwd"], workdir, limits=LIMITS,
                             env=clean_env(workdir, {"GREETING": "hello"}))
        assert result.stdout.split() == ["hello", str(workdir)]


def test_a_writable_cache_is_handed_to_the_sandbox_user_and_nothing_else_is_writable(sandbox, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "old-entry").write_text("written by an earlier run as another user")
    other = tmp_path / "other"
    other.mkdir()
    script = (f"import os\nprint(os.getuid())\nopen('{cache}/hit', 'w').write('1')\n"
              f"open('{cache}/old-entry', 'a').write('+')\nopen('{other}/x', 'w')\n")
    result = run_python(sandbox, script, writable=[str(cache)])
    expected_uid = sandbox.drop_user[0] if sandbox.drop_user else os.getuid()
    assert int(result.stdout.split()[0]) == expected_uid
    assert (cache / "hit").exists() and (cache / "old-entry").read_text().endswith("+")
    if sandbox.isolation().filesystem_isolated:
        assert not (other / "x").exists()
        assert "Read-only file system" in result.stderr or "No such file" in result.stderr


def test_a_program_sees_a_minimal_root(sandbox):
    if not sandbox.isolation().private_root:
        pytest.skip("no private root on this platform")
    result = run_python(sandbox, "import os\nprint(sorted(os.listdir('/')), os.listdir('/tmp'))\n")
    top, tmp = result.stdout.split("] ")
    # this Python's installation is bound read-only wherever it lives (a virtualenv in a clone under
    # /tmp or /check, as CI may make), so the top directory of its path may show as well
    installs = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.executable, *_python_dirs())}
    install_tops = {q.parts[1] for q in installs if len(q.parts) > 1}
    assert set(eval(top + "]")) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp",
                                    "usr", "root", "home", "opt"} | install_tops
    # its own directory, and nothing else of the host's /tmp but the way to this Python's installation
    bound = {q.relative_to("/tmp").parts[0] for q in installs if q.is_relative_to("/tmp")}
    own = [name for name in eval(tmp) if name not in bound]
    assert len(own) == 1 and own[0].startswith("moe-coder-run-"), eval(tmp)


def test_without_namespaces_the_report_says_so_and_programs_still_run():
    with Sandbox(isolate_network=False, isolate_filesystem=False, isolate_processes=False) as bare:
        isolation = bare.isolation()
        assert not (isolation.network_isolated or isolation.filesystem_isolated or isolation.pid_namespace)
        result = run_python(bare, "print('still works')\n")
        assert result.ok and result.stdout == "still works\n"


def test_the_fork_server_is_restarted_if_it_dies(sandbox):
    assert run_python(sandbox, "pass\n").ok
    server = sandbox._server
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    assert run_python(sandbox, "print(1)\n").stdout == "1\n"
    assert sandbox._server is not server


def test_argv_or_python_file_not_both(sandbox, tmp_path):
    with pytest.raises(ValueError):
        sandbox.run(["true"], tmp_path, limits=LIMITS, python_file="x.py")


def test_limits_become_rlimits():
    limits = Limits(timeout_s=2.5, memory_bytes=1 << 30, max_processes=8)
    assert limits.rlimits() == {"cpu": 3, "as": 1 << 30, "nproc": 8, "nofile": 256, "fsize": 64 << 20, "core": 0}
    assert limits.replace(cpu_s=1).rlimits()["cpu"] == 1


@pytest.mark.parametrize("change", [dict(timeout_s=0), dict(timeout_s=-5), dict(timeout_s=float("inf")),
                                    dict(timeout_s=float("nan")), dict(memory_bytes=0), dict(memory_bytes=-1),
                                    dict(cpu_s=0), dict(max_disk_bytes=0), dict(max_processes=2.5)])
def test_limits_refuse_values_that_would_turn_a_limit_off_or_overflow(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        Limits(**change)
