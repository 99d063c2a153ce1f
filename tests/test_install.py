"""install.py's cheap parts: its help, its Python version gate, and an idempotent model step.
(A full run builds a venv in about a minute; .ci/run does that on every CI run.)"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install", ROOT / "install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_describes_the_options() -> None:
    result = subprocess.run([sys.executable, "install.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    assert "--dev" in result.stdout and "--online" in result.stdout


def test_python_3_11_and_newer_pass_the_version_gate(install: ModuleType) -> None:
    assert install.check_python((3, 11, 0)) is None
    assert install.check_python((3, 13, 2)) is None
    assert install.check_python((4, 0, 0)) is None


def test_too_old_python_stops_with_one_line_before_any_step(
    install: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    status = install.main(["--dev"], version_info=(3, 10, 14, "final", 0))
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""  # no step ran: nothing was created or installed
    assert len(err.splitlines()) == 1
    assert "needs Python 3.11 or newer" in err and "3.10.14" in err


def _model_step(env: dict[str, str]) -> tuple[list[list[str]], str]:
    """install.py's model step (without --online), as it runs it; returns the table's rows and stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "engine.app.models", "--all", "--prepare"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if not line.startswith(("note:", "piper voice"))]
    return rows, result.stdout


def test_model_step_is_idempotent(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = dict(os.environ, COHOST_MODEL_CACHE=str(cache), COHOST_OFFLINE="1", XDG_CONFIG_HOME=str(tmp_path / "cfg"))

    first, _ = _model_step(env)
    files = sorted(path for path in cache.rglob("*") if path.is_file())
    before = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in files}
    second, out = _model_step(env)

    sources = {row[0]: row[1] for row in second}
    assert sources["face_landmarker"] == sources["voice/en_US-joe-medium"] == "cache"
    # Same models at the same paths with the same sizes; only where they came from this time differs.
    assert [row[:1] + row[2:] for row in first] == [row[:1] + row[2:] for row in second]
    assert sorted(path for path in cache.rglob("*") if path.is_file()) == files
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in files} == before
    assert "piper voice prepared: " + str(cache / "voice" / "en_US-joe-medium") in out


def test_llama_build_for_x86_64_never_compiles_for_the_building_cpu(install: ModuleType) -> None:
    """-march=native put ggml's AMX kernel into the wheel on CI's Xeons, and it segfaulted there."""
    folder, cmake_args = install.llama_build("x86_64", {"avx2", "amx_int8", "amx_tile", "avx512f"})
    assert "-DGGML_NATIVE=OFF" in cmake_args.split()
    assert "AMX" not in cmake_args and "AVX512" not in cmake_args
    older_folder, older_args = install.llama_build("x86_64", {"sse4_2"})
    assert "-DGGML_AVX2=ON" not in older_args.split() and older_folder != folder
