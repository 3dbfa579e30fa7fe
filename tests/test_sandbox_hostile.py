"""Hostile code: each attack is contained, the right failure reason is recorded, and the harness goes on.

Every program runs through the same path as a benchmark sample (``Runner.check``), with small
limits so that each test takes a second or two.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.execution import Runner
from moe_coder.evaluation.sandbox import Limits

from conftest import require

LIMITS = Limits(timeout_s=3.0, memory_bytes=256 << 20, max_processes=32, max_open_files=64,
                max_file_bytes=1 << 20, max_output_bytes=256 << 10)

PROBLEM = Problem(
    task_id="Hostile/0", language="python", prompt="", question="", canonical_solution="",
    test="assert answer() == 42\n",
)


@pytest.fixture(scope="module")
def runner(sandbox):
    return Runner(sandbox, LIMITS)


def check(runner: Runner, code: str):
    start = time.monotonic()
    verdict = runner.check(PROBLEM, code, "full")
    return verdict, time.monotonic() - start


def processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


GOOD = "def answer():\n    return 42\n"


def test_a_correct_program_passes(runner):
    verdict, _ = check(runner, GOOD)
    assert verdict.passed is True and verdict.reason == "passed"


def test_fork_bomb_is_stopped_by_the_process_limit(runner):
    verdict, elapsed = check(runner, "import os\nwhile True:\n    os.fork()\n")
    assert verdict.passed is False
    assert verdict.reason in {"resource_limit", "timeout"}
    assert elapsed < LIMITS.timeout_s + 3
    assert check(runner, GOOD)[0].passed  # the harness goes on


def test_fork_bomb_leaves_no_process_behind(runner, sandbox):
    require(sandbox, "pid_namespace")
    code = (
        "import os\n"
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            os.execv('/bin/sleep', ['sleep', '31337.25'])\n"
        "    except OSError:\n"
        "        pass\n"
    )
    verdict, _ = check(runner, code)
    assert verdict.passed is False and verdict.reason == "timeout"
    time.sleep(0.2)
    assert processes_with("31337.25") == []


def test_infinite_loop_times_out(runner):
    verdict, elapsed = check(runner, "def answer():\n    while True:\n        pass\n")
    assert verdict.passed is False and verdict.reason == "timeout"
    assert LIMITS.timeout_s - 0.5 < elapsed < LIMITS.timeout_s + 3


def test_cpu_time_limit_stops_a_busy_program_before_the_wall_clock(sandbox):
    runner = Runner(sandbox, LIMITS.replace(timeout_s=20.0, cpu_s=1))
    verdict, elapsed = check(runner, "while True:\n    pass\n")
    assert verdict.reason == "timeout" and verdict.detail == "CPU-time limit"
    assert elapsed < 10


def test_memory_hog_fails_with_memory(runner):
    verdict, _ = check(runner, "blocks = []\nwhile True:\n    blocks.append(bytearray(32 << 20))\n")
    assert verdict.passed is False and verdict.reason == "memory"


def test_100_mb_of_output_is_capped(runner):
    code = "import sys\nfor _ in range(1600):\n    sys.stdout.write('x' * 65536)\n"
    verdict, elapsed = check(runner, code)
    assert verdict.passed is False and verdict.reason == "output_limit"
    assert elapsed < 5


def test_output_cap_holds_in_the_raw_sandbox(sandbox):
    with sandbox.workdir({"p.py": "import os\nwhile True:\n    os.write(1, b'y' * 65536)\n"}) as workdir:
        result = sandbox.run(None, workdir, limits=LIMITS, python_file=str(workdir / "p.py"))
    assert result.output_exceeded
    assert len(result.stdout) <= LIMITS.max_output_bytes + 65536


def test_writing_outside_its_directory_is_refused(runner, sandbox, tmp_path):
    require(sandbox, "filesystem_isolated")
    target = tmp_path / "written.txt"
    code = f"open({str(target)!r}, 'w').write('pwned')\ndef answer():\n    return 42\n"
    verdict, _ = check(runner, code)
    assert not target.exists()
    assert verdict.passed is False and verdict.reason == "runtime_error"
    # Not in its view at all (a private root), or read-only / not its own where it is shown.
    assert any(why in verdict.detail for why in ("No such file", "Read-only file system", "Permission denied"))


def test_writing_to_the_system_directories_it_sees_is_refused(runner, sandbox):
    require(sandbox, "filesystem_isolated")
    code = "open('/usr/moe-coder-pwned', 'w').write('pwned')\ndef answer():\n    return 42\n"
    verdict, _ = check(runner, code)
    assert not os.path.exists("/usr/moe-coder-pwned")
    assert verdict.passed is False and verdict.reason == "runtime_error"
    assert "Read-only file system" in verdict.detail or "Permission denied" in verdict.detail


def test_deleting_files_outside_its_directory_is_refused(runner, sandbox, tmp_path):
    require(sandbox, "filesystem_isolated")
    victim = tmp_path / "keep.txt"
    victim.write_text("precious")
    code = f"import os, shutil\nos.remove({str(victim)!r})\nshutil.rmtree({str(tmp_path)!r})\n"
    verdict, _ = check(runner, code)
    assert victim.read_text() == "precious"
    assert verdict.passed is False


def test_writing_inside_its_directory_is_allowed(runner):
    code = "open('scratch.txt', 'w').write('ok')\ndef answer():\n    return len(open('scratch.txt').read()) * 21\n"
    assert check(runner, code)[0].passed


def test_file_size_limit(runner):
    code = "open('big.bin', 'wb').write(b'0' * (4 << 20))\n"
    verdict, _ = check(runner, code)
    assert verdict.reason == "resource_limit" and "File too large" in verdict.detail


def test_open_files_limit(runner):
    code = "files = [open('f%d' % i, 'w') for i in range(500)]\n"
    verdict, _ = check(runner, code)
    assert verdict.reason == "resource_limit" and "Too many open files" in verdict.detail


def test_network_connections_fail(runner, sandbox):
    require(sandbox, "network_isolated")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                accepted.append(server.accept()[0])
            except socket.timeout:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    code = (
        "import socket\n"
        f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "s.sendall(b'exfiltrated')\n"
        "def answer():\n    return 42\n"
    )
    verdict, _ = check(runner, code)
    thread.join()
    server.close()
    assert accepted == []
    assert verdict.passed is False and verdict.reason == "runtime_error"
    assert "unreachable" in verdict.detail or "refused" in verdict.detail


def test_child_left_sleeping_after_exit_is_killed(runner, sandbox):
    code = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    os.execv('/bin/sleep', ['sleep', '31338.5'])\n"
        "def answer():\n    return 42\n"
    )
    verdict, elapsed = check(runner, code)
    assert verdict.passed is True  # the program itself is correct ...
    assert elapsed < 2  # ... its orphan does not hold the harness up ...
    time.sleep(0.2)
    assert processes_with("31338.5") == []  # ... and does not survive it


def test_os_exit_before_the_tests_does_not_pass(runner):
    verdict, _ = check(runner, "import os\nos._exit(0)\n")
    assert verdict.passed is False and verdict.reason == "early_exit"


def test_sys_exit_zero_before_the_tests_does_not_pass(runner):
    verdict, _ = check(runner, "import sys\nsys.exit(0)\n")
    assert verdict.passed is False and verdict.reason == "early_exit"


def test_environment_secrets_are_not_visible(runner, sandbox, monkeypatch):
    monkeypatch.setenv("MOE_CODER_TEST_SECRET", "hunter2-secret-value")
    code = (
        "import os, glob\n"
        "seen = ' '.join(f'{k}={v}' for k, v in os.environ.items())\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        seen += open(path, 'rb').read().decode(errors='replace')\n"
        "    except OSError:\n"
        "        pass\n"
        "def answer():\n"
        "    return 42 if 'hunter2-secret-value' in seen else 0\n"
    )
    verdict, _ = check(runner, code)
    assert verdict.passed is False and verdict.reason == "assertion"


def test_the_environment_is_scrubbed(sandbox):
    with sandbox.workdir({"p.py": "import os\nprint(sorted(os.environ))\n"}) as workdir:
        result = sandbox.run(None, workdir, limits=LIMITS, python_file=str(workdir / "p.py"))
    assert result.stdout.strip() == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']"


def test_root_runs_programs_as_nobody(sandbox):
    if os.geteuid() != 0:
        pytest.skip("only a root harness switches users")
    with sandbox.workdir({"p.py": "import os\nprint(os.getuid())\n"}) as workdir:
        result = sandbox.run(None, workdir, limits=LIMITS, python_file=str(workdir / "p.py"))
    assert int(result.stdout) == sandbox.drop_user[0] != 0


def test_hostile_programs_in_parallel_do_not_disturb_a_correct_one(runner):
    from concurrent.futures import ThreadPoolExecutor

    attacks = ["import os\nwhile True:\n    os.fork()\n", "while True:\n    pass\n",
               "x = bytearray(1 << 40)\n", "print('z' * (1 << 30))\n", GOOD]
    with ThreadPoolExecutor(3) as pool:
        verdicts = list(pool.map(lambda code: check(runner, code)[0], attacks))
    assert [v.passed for v in verdicts] == [False, False, False, False, True]


def test_isolation_is_reported(sandbox):
    isolation = sandbox.isolation().to_dict()
    assert set(isolation) >= {"network_isolated", "filesystem_isolated", "pid_namespace", "runs_as",
                              "process_limit_scope", "notes"}
    if os.uname().sysname == "Linux" and isolation["network_isolated"] is False:
        assert isolation["notes"], "an isolation that was refused must say why"
