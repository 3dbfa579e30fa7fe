"""The escapes found by probing the sandbox the way an attacker would: each one closed, in the
languages that can attempt it, compile steps included.

Every program goes through the path a benchmark sample takes (``Runner.check``). A test skips
a language whose toolchain is missing here; on a machine with every toolchain nothing is skipped.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from moe_coder.benchmarks import Problem
from moe_coder.evaluation.execution import Runner
from moe_coder.evaluation.executors import get_executor
from moe_coder.evaluation.sandbox import Limits, RunResult, _apply_status

from conftest import require

LIMITS = Limits(timeout_s=10.0, max_processes=32, max_open_files=64, max_file_bytes=1 << 20,
                max_output_bytes=256 << 10)
TOKEN = "moe-coder-escape-token-5f1e"

#: The test that calls the candidate's ``attack()``, per language.
CALL_ATTACK = {
    "python": "attack()\n",
    "cpp": "int main() {\n    attack();\n}\n",
    "javascript": "attack();\n",
    "go": "func TestAttack(t *testing.T) {\n\tattack()\n}\n",
    "rust": "#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn run() { attack(); }\n}\n",
    "java": "public class Main {\n    public static void main(String[] args) throws Exception {\n"
            "        Solution.attack();\n    }\n}\n",
}


@pytest.fixture(scope="module")
def runner(sandbox):
    return Runner(sandbox, LIMITS)


def attack(runner: Runner, language: str, code: str):
    if not get_executor(language).toolchain.available:
        pytest.skip(f"no {language} toolchain here")
    problem = Problem(task_id=f"Escape/{language}", language=language, prompt="", question="",
                      canonical_solution="", test=CALL_ATTACK[language])
    return runner.check(problem, code, "full")


def world_readable_secret(parent: str | None = None) -> Path:
    """A file any user may read, in a fresh directory any user may enter (like another sample's)."""
    folder = Path(tempfile.mkdtemp(prefix="moe-coder-run-", dir=parent))
    folder.chmod(0o755)
    secret = folder / "secret.txt"
    secret.write_text(TOKEN)
    secret.chmod(0o644)
    return secret


# -- 1. compile steps: unprivileged, and no view of files outside toolchain, sample and caches -----

COMPILE_READS = {
    "cpp": (
        "#include <cstdio>\n"
        '__asm__(".section .rodata\\n.global moe_secret\\nmoe_secret:\\n.incbin \\"{path}\\"\\n.byte 0\\n.previous\\n");\n'
        'extern "C" const char moe_secret[];\n'
        'void attack() {{ std::fprintf(stderr, "Error %s\\n", moe_secret); std::fflush(stderr); throw 1; }}\n'
    ),
    "rust": 'fn attack() {{ panic!("Error {{}}", include_str!("{path}")); }}\n',
}


@pytest.mark.parametrize("language", sorted(COMPILE_READS))
@pytest.mark.parametrize("where", ["root-only file", "another sample's directory"])
def test_a_compile_step_cannot_embed_files_it_should_not_see(runner, sandbox, language, where, tmp_path):
    require(sandbox, "private_root")
    if where == "root-only file":
        secret = tmp_path / "secret.txt"
        secret.write_text(TOKEN)
        secret.chmod(0o600)
    else:
        secret = world_readable_secret()
    try:
        verdict = attack(runner, language, COMPILE_READS[language].format(path=secret))
    finally:
        shutil.rmtree(secret.parent) if where != "root-only file" else None
    assert TOKEN not in verdict.detail
    assert verdict.passed is False and verdict.reason == "compile_error"


# -- 2. Unix sockets on the host ------------------------------------------------------------------

UNIX_CONNECT = {
    "python": (
        "import socket\n"
        "def attack():\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    s.connect({path!r})\n"
        "    s.sendall(b'exfiltrated')\n"
    ),
    "cpp": (
        "#include <sys/socket.h>\n#include <sys/un.h>\n#include <unistd.h>\n#include <cstring>\n#include <cstdio>\n"
        "void attack() {{\n"
        "    int s = socket(AF_UNIX, SOCK_STREAM, 0);\n"
        "    sockaddr_un a{{}}; a.sun_family = AF_UNIX; std::strcpy(a.sun_path, \"{path}\");\n"
        "    if (s < 0 || connect(s, (sockaddr*)&a, sizeof a) != 0) {{ std::perror(\"Error connect\"); throw 1; }}\n"
        "    write(s, \"exfiltrated\", 11);\n"
        "}}\n"
    ),
    "javascript": (
        "function attack() {{\n"
        "  const s = require('net').createConnection({path!r}, () => s.end('exfiltrated'));\n"
        "  s.on('error', (e) => {{ console.error('Error ' + e.message); process.exitCode = 1; }});\n"
        "}}\n"
    ),
    "go": (
        "import \"net\"\n"
        "func attack() {{\n"
        "\tc, err := net.Dial(\"unix\", \"{path}\")\n"
        "\tif err != nil {{\n\t\tpanic(err)\n\t}}\n"
        "\tc.Write([]byte(\"exfiltrated\"))\n"
        "\tc.Close()\n"
        "}}\n"
    ),
}


@pytest.mark.parametrize("language", sorted(UNIX_CONNECT))
def test_unix_sockets_on_the_host_are_unreachable(runner, sandbox, language):
    require(sandbox, "private_root")
    folder = Path(tempfile.mkdtemp(prefix="moe-coder-socket-"))
    folder.chmod(0o755)
    path = folder / "listener.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    server.settimeout(0.2)
    received: list[bytes] = []
    done = threading.Event()

    def accept():
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            conn.settimeout(2)
            try:
                received.append(conn.recv(100))
            except OSError:
                received.append(b"<connected>")
            conn.close()

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        verdict = attack(runner, language, UNIX_CONNECT[language].format(path=str(path)))
    finally:
        time.sleep(0.3)
        done.set()
        thread.join()
        server.close()
        shutil.rmtree(folder)
    assert received == []
    assert verdict.passed is False


# -- 3. PID 1 and the status channel ---------------------------------------------------------------

STEAL_STATUS = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def steal():\n"
    "    pidfd = libc.syscall(434, 1, 0)  # pidfd_open(1)\n"
    "    fd = libc.syscall(438, pidfd, 3, 0)  # pidfd_getfd: PID 1's status pipe\n"
    "    if fd < 0:\n"
    "        raise OSError(ctypes.get_errno(), 'Error: status pipe out of reach')\n"
    "    return fd\n"
)


def test_a_malformed_status_fails_the_sample_and_the_run_goes_on(runner):
    code = STEAL_STATUS + "def attack():\n    os.write(steal(), b'exit not-a-number\\n')\n"
    verdict = attack(runner, "python", code)
    assert verdict.passed is False
    assert attack(runner, "python", "def attack():\n    pass\n").passed is True


def test_a_forged_exit_status_does_not_turn_a_crash_into_a_pass(runner):
    code = STEAL_STATUS + (
        "import re, signal\n"
        "def attack():\n"
        "    fd = steal()\n"
        "    marker = re.search(r'MOE-CODER-TESTS-PASSED-\\w+', open(__file__).read()).group(0)\n"
        "    print(marker, flush=True)\n"
        "    if os.fork() == 0:\n"
        "        if os.fork() == 0:\n"
        "            os.write(fd, b'exit 0\\n')\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    for _ in range(3):
        verdict = attack(runner, "python", code)
        assert verdict.passed is False


PTRACE_PID1 = {
    "python": (
        "import ctypes\n"
        "def attack():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    if libc.ptrace(16, 1, 0, 0) == 0:  # PTRACE_ATTACH\n"
        "        raise SystemExit('attached')\n"
    ),
    "cpp": (
        "#include <sys/ptrace.h>\n#include <cstdio>\n"
        "void attack() { if (ptrace(PTRACE_ATTACH, 1, nullptr, nullptr) == 0) { std::puts(\"attached\"); throw 1; } }\n"
    ),
}


@pytest.mark.parametrize("language", sorted(PTRACE_PID1))
def test_pid_1_of_the_jail_cannot_be_traced(runner, sandbox, language):
    require(sandbox, "pid_namespace")
    verdict = attack(runner, language, PTRACE_PID1[language])
    assert verdict.passed is True, verdict  # the attach was refused, so the program ran on


def test_a_program_cannot_leave_its_root(runner, sandbox):
    require(sandbox, "private_root")
    code = (
        "import ctypes, os\n"
        "def attack():\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER: all capabilities, in there\n"
        "        raise SystemExit('Error: a user namespace of its own')\n"
        "    if libc.syscall(56 if os.uname().machine == 'x86_64' else 220, 0x10000000 | 17, 0, 0, 0, 0) >= 0:\n"
        "        raise SystemExit('Error: cloned into a user namespace')\n"
        "    os.mkdir('jail')\n"
        "    if libc.chroot(b'jail') == 0:\n"
        "        raise SystemExit('Error: chroot')\n"
        "    if os.path.exists('/var') or os.path.exists('/boot'):  # only the host's root has them\n"
        "        raise SystemExit('Error: sees ' + str(os.listdir('/')))\n"
    )
    verdict = attack(runner, "python", code)
    assert verdict.passed is True, verdict


def test_malformed_status_lines_make_a_sandbox_error():
    for text in ("exit not-a-number\n", "exit 0\nsignal 11\n", "exit 0\nexit 0\n", "rusage x\nexit 0\n"):
        result = RunResult(None, None, "", "")
        _apply_status(result, text)
        assert result.error and not result.ok, text


# -- 4. memory outside the address-space limit ---------------------------------------------------

#: 360 MiB in six memfds of 60 MiB (each under the file-size limit) with a 256 MiB memory limit.
MEMFD = {
    "python": (
        "import os\n"
        "def attack():\n"
        "    fds = [os.memfd_create('hoard') for _ in range(6)]\n"
        "    for _ in range(60):\n"
        "        for fd in fds:\n"
        "            os.write(fd, bytes(1 << 20))\n"
    ),
    "cpp": (
        "#include <sys/mman.h>\n#include <unistd.h>\n#include <vector>\n#include <cstdio>\n"
        "void attack() {\n"
        "    std::vector<char> block(1 << 20, 1);\n"
        "    for (int n = 0; n < 6; n++) {\n"
        "        int fd = memfd_create(\"hoard\", 0);\n"
        "        if (fd < 0) { std::perror(\"Error memfd_create\"); throw 1; }\n"
        "        for (int i = 0; i < 60; i++) if (write(fd, block.data(), block.size()) < 0) throw 2;\n"
        "    }\n"
        "}\n"
    ),
}


@pytest.mark.parametrize("language", sorted(MEMFD))
def test_memfd_cannot_go_around_the_memory_limit(sandbox, language):
    require(sandbox, "seccomp")
    runner = Runner(sandbox, LIMITS.replace(memory_bytes=256 << 20, max_file_bytes=64 << 20))
    verdict = attack(runner, language, MEMFD[language])
    assert verdict.passed is False


# -- 5. the work directory: deep trees, total size ---------------------------------------------

DEEP_TREE = (
    "import os, sys\n"
    "def attack():\n"
    "    print('Error in', os.getcwd(), file=sys.stderr)\n"
    "    for _ in range(1500):\n"
    "        os.mkdir('d')\n"
    "        os.chdir('d')\n"
    "    sys.exit(1)\n"
)


def test_a_deep_directory_tree_is_cleaned_up(runner):
    verdict = attack(runner, "python", DEEP_TREE)
    assert verdict.passed is False and verdict.reason == "runtime_error"
    workdir = verdict.detail.split("Error in ", 1)[1].strip()
    assert workdir.startswith(tempfile.gettempdir())
    deadline = time.monotonic() + 30  # removal happens in the background
    while os.path.exists(workdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(workdir)
    assert attack(runner, "python", "def attack():\n    pass\n").passed is True


def test_the_work_directory_has_a_total_size_quota(sandbox):
    require(sandbox, "disk_quota")
    runner = Runner(sandbox, LIMITS.replace(max_file_bytes=64 << 20, max_disk_bytes=128 << 20))
    code = (
        "def attack():\n"
        "    for i in range(4):\n"
        "        with open(f'part{i}', 'wb') as fh:\n"
        "            for _ in range(50):\n"
        "                fh.write(bytes(1 << 20))\n"
    )
    verdict = attack(runner, "python", code)
    assert verdict.passed is False and verdict.reason == "resource_limit"
    assert "No space left on device" in verdict.detail


# -- 6. private views: other samples' directories, the harness's files -----------------------------

READ_FILE = {
    "python": "def attack():\n    open({path!r}).read()\n",
    "cpp": (
        "#include <fstream>\n#include <cstdio>\n"
        "void attack() {{ std::ifstream f(\"{path}\"); if (f) {{ std::puts(\"read\"); throw 1; }} }}\n"
    ),
    "javascript": "function attack() {{ require('fs').readFileSync({path!r}); }}\n",
    "java": (
        "class Solution {{\n    static void attack() throws Exception {{\n"
        "        java.nio.file.Files.readAllBytes(java.nio.file.Path.of(\"{path}\"));\n    }}\n}}\n"
    ),
}


@pytest.mark.parametrize("language", sorted(READ_FILE))
@pytest.mark.parametrize("where", ["another sample's directory", "the harness's output"])
def test_a_program_sees_neither_other_samples_nor_the_harness_files(runner, sandbox, language, where):
    require(sandbox, "private_root")
    parent = None if where == "another sample's directory" else str(Path(__file__).resolve().parent)
    secret = world_readable_secret(parent)
    try:
        verdict = attack(runner, language, READ_FILE[language].format(path=str(secret)))
    finally:
        shutil.rmtree(secret.parent)
    if language == "cpp":
        assert verdict.passed is True  # the file did not open, so the program ran on
    else:
        assert verdict.passed is False and verdict.reason == "runtime_error"
    if language in ("python", "javascript"):
        assert "no such file" in verdict.detail.lower()
