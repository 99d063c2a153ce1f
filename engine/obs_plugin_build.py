"""Builds the native OBS source (obs_plugin/, C against libobs) and installs it where OBS loads a
user's plugins: <OBS config>/plugins/obs-cohost/{bin/64bit,data}. Used by `install.py --obs` and by
the tests, so that both build it one way."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from engine.errors import CohostError

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SOURCE = ROOT / "obs_plugin"
MODULE = "obs-cohost"
SOURCE_STAMP = "source.sha256"  # beside bin/ and data/ in the installed module folder
# Where Debian/Ubuntu's libobs-dev (and a source build's `make install`) put libobs's CMake package.
LIBOBS_CMAKE_GLOBS = ("/usr/lib/*/cmake/libobs/libobsConfig.cmake", "/usr/lib/cmake/libobs/libobsConfig.cmake",
                      "/usr/local/lib/cmake/libobs/libobsConfig.cmake", "/usr/local/lib/*/cmake/libobs/libobsConfig.cmake")  # fmt: skip


def missing_tools() -> list[str]:
    """What this machine lacks to build the plugin (empty: it can)."""
    missing = [tool for tool in ("cmake", "cc") if shutil.which(tool) is None]
    if not any(Path("/").glob(pattern.lstrip("/")) for pattern in LIBOBS_CMAKE_GLOBS):
        missing.append("the libobs headers (Debian/Ubuntu: libobs-dev)")
    return missing


def build(build_dir: Path) -> Path:
    """Configures, builds and installs the plugin under build_dir/prefix; returns the module folder
    (prefix/obs-cohost). Raises CohostError with the build's last lines when it fails."""
    prefix = build_dir / "prefix"
    steps = [
        ["cmake", "-S", str(PLUGIN_SOURCE), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
        ["cmake", "--build", str(build_dir), "--parallel"],
        ["cmake", "--install", str(build_dir), "--prefix", str(prefix)],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise CohostError(f"building the OBS plugin failed ({' '.join(step[:2])}):\n{tail}")
    module = prefix / MODULE
    if not (module / "bin" / "64bit" / f"{MODULE}.so").is_file():
        raise CohostError(f"building the OBS plugin made no {MODULE}.so under {module}")
    return module


def installed_dir(obs_config_dir: Path) -> Path:
    return obs_config_dir / "plugins" / MODULE


def source_digest() -> str:
    """A digest of the plugin's sources: an installed copy built from the same sources is current."""
    digest = hashlib.sha256()
    for path in sorted(p for p in PLUGIN_SOURCE.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(PLUGIN_SOURCE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def is_current(obs_config_dir: Path) -> bool:
    stamp = installed_dir(obs_config_dir) / SOURCE_STAMP
    return stamp.is_file() and stamp.read_text().strip() == source_digest()


def install(module: Path, obs_config_dir: Path) -> Path:
    """Copies a built module folder into OBS's per-user plugins (replacing an older copy), stamped
    with the digest of the sources it was built from."""
    target = installed_dir(obs_config_dir)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(module, target)
    (target / SOURCE_STAMP).write_text(source_digest() + "\n")
    return target
