"""`install.py --obs`: prepares the user's OBS for obs-cohost.

    python -m engine.obs_install [--config FILE] [--obs-config DIR] [--obs-version N] [--dry-run]

- finds OBS's config folder (Linux native or Flatpak, macOS, Windows);
- turns obs-websocket on (port from [obs] port, a password required) in the layout the installed OBS
  reads: global.ini [OBSWebSocket] for OBS 29 and older, plugin_config/obs-websocket/config.json for
  OBS 30+ (both, with the same values, when the version cannot be told); keeps a password OBS already
  has, else generates one, and saves it as [obs] password in our private (0600) config;
- adds the scene collection "obs-cohost" (scenes/cohost_scene.json: the Co-host scene, its sources,
  and obs_script/cohost_obs.py listed with the engine's address and token). A different collection
  that already has that name is never touched: ours becomes "obs-cohost (2)".

Running it again changes nothing. Passwords and tokens are never printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import files, obs_plugin_build
from engine.api.auth import ensure_token
from engine.config import Config, load_config, update_user_config
from engine.errors import CohostError, UsageError, report
from engine.obs import sources

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_PATH = ROOT / "obs_script" / "cohost_obs.py"
TEMPLATE_PATH = ROOT / "scenes" / "cohost_scene.json"
COLLECTION_NAME = "obs-cohost"
FLATPAK_ID = "com.obsproject.Studio"
FIRST_JSON_CONFIG_VERSION = 30  # obs-websocket 5.3 (OBS 30) moved its settings out of global.ini
WS_SECTION = "OBSWebSocket"


@dataclass(frozen=True)
class FileChange:
    path: Path
    content: str
    what: str  # one line for the user, free of secrets


# -- where OBS keeps its config, and which OBS it is -------------------------------------------------


def obs_config_candidates(
    platform: str = sys.platform, env: dict[str, str] | None = None, home: Path | None = None
) -> list[Path]:
    """OBS's config folders for this platform, the native one first."""
    env = dict(os.environ) if env is None else env
    home = home or Path.home()
    if platform == "win32":
        return [Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "obs-studio"]
    if platform == "darwin":
        return [home / "Library" / "Application Support" / "obs-studio"]
    xdg = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return [Path(xdg) / "obs-studio", home / ".var" / "app" / FLATPAK_ID / "config" / "obs-studio"]


def find_obs_config(candidates: Sequence[Path]) -> Path:
    """The first folder OBS has already used; the native one when OBS has never run."""
    return next((path for path in candidates if path.is_dir()), candidates[0])


def obs_version_from_cli() -> int | None:
    """The major version `obs --version` prints ("OBS Studio - 29.0.2 (linux)"), when obs is on PATH."""
    obs = shutil.which("obs")
    if obs is None:
        return None
    try:
        result = subprocess.run(
            [obs, "--version"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"OBS Studio - (\d+)\.", result.stdout)
    return int(match.group(1)) if match else None


def obs_version_from_files(config_dir: Path) -> int | None:
    """What OBS's own files say: only OBS 30+ writes obs-websocket's config.json; only 29 and older
    keep [OBSWebSocket] in global.ini (OBS 30 moves it out on its first start)."""
    if (config_dir / "plugin_config" / "obs-websocket" / "config.json").exists():
        return FIRST_JSON_CONFIG_VERSION
    global_ini = config_dir / "global.ini"
    if global_ini.exists() and f"[{WS_SECTION}]" in _read(global_ini):
        return FIRST_JSON_CONFIG_VERSION - 1
    return None


def obs_running() -> bool:
    """Best effort: an OBS process of any user's session (OBS rewrites its config when it quits)."""
    if sys.platform.startswith("linux"):
        for comm in Path("/proc").glob("[0-9]*/comm"):
            try:
                if comm.read_text().strip() == "obs":
                    return True
            except OSError:  # the process ended while we looked
                continue
        return False
    command = (
        ["tasklist", "/FI", "IMAGENAME eq obs64.exe", "/NH"] if sys.platform == "win32" else ["pgrep", "-x", "OBS"]
    )
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "obs64.exe" in result.stdout if sys.platform == "win32" else result.returncode == 0


# -- obs-websocket ----------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # OBS on Windows may write a BOM
    except OSError as e:
        raise CohostError(f"cannot read {path}: {e.strerror}") from None


def ini_section(text: str, section: str) -> dict[str, str]:
    """The keys of one [section] of an OBS ini file."""
    values: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            inside = stripped[1:-1] == section
        elif inside and "=" in stripped:
            key, value = stripped.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def ini_with(text: str, section: str, updates: dict[str, str]) -> str:
    """`text` with `updates` set in [section]; every other line is kept exactly as it was."""
    lines = text.splitlines()
    pending = dict(updates)
    out: list[str] = []
    inside = False

    def flush() -> None:
        # New keys go right after the section's last key, before its trailing blank lines.
        insert_at = len(out)
        while insert_at > 0 and not out[insert_at - 1].strip():
            insert_at -= 1
        out[insert_at:insert_at] = [f"{key}={value}" for key, value in pending.items()]
        pending.clear()

    found = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if inside:
                flush()
            inside = stripped[1:-1] == section
            found = found or inside
        elif inside and "=" in stripped:
            key = stripped.split("=", 1)[0].strip()
            if key in pending:
                line = f"{key}={pending.pop(key)}"
        out.append(line)
    if inside:
        flush()
    if not found:
        if out and out[-1].strip():
            out.append("")
        out.append(f"[{section}]")
        out.extend(f"{key}={value}" for key, value in pending.items())
    return "\n".join(out) + "\n"


def existing_obs_password(config_dir: Path) -> str:
    """A password OBS's websocket already uses (other tools may depend on it), or ""."""
    json_path = config_dir / "plugin_config" / "obs-websocket" / "config.json"
    if json_path.exists():
        password = _load_json(json_path).get("server_password", "")
        if isinstance(password, str) and password:
            return password
    global_ini = config_dir / "global.ini"
    if global_ini.exists():
        return ini_section(_read(global_ini), WS_SECTION).get("ServerPassword", "")
    return ""


def generate_password() -> str:
    # Letters and digits only: safe in an ini line, a JSON string and a shell, like OBS's own.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def websocket_changes(config_dir: Path, version: int | None, port: int, password: str) -> list[FileChange]:
    """Sets the layout the detected OBS reads, and every layout already there: OBS 30 moves a leftover
    [OBSWebSocket] section of global.ini over its config.json on start, so a stale one would win."""
    changes = []
    global_ini = config_dir / "global.ini"
    ini_text = _read(global_ini) if global_ini.exists() else ""
    if version is None or version < FIRST_JSON_CONFIG_VERSION or f"[{WS_SECTION}]" in ini_text:
        path, text = global_ini, ini_text
        updated = ini_with(
            text,
            WS_SECTION,
            {
                "FirstLoad": "false",
                "ServerEnabled": "true",
                "ServerPort": str(port),
                "AuthRequired": "true",
                "ServerPassword": password,
            },
        )
        if updated != text:
            changes.append(FileChange(path, updated, f"obs-websocket on, port {port}, password required ({path})"))
    path = config_dir / "plugin_config" / "obs-websocket" / "config.json"
    if version is None or version >= FIRST_JSON_CONFIG_VERSION or path.exists():
        current = _load_json(path) if path.exists() else {}
        updated_json = {
            **current,
            "first_load": False,
            "server_enabled": True,
            "server_port": port,
            "auth_required": True,
            "server_password": password,
        }
        if updated_json != current:
            changes.append(
                FileChange(
                    path,
                    json.dumps(updated_json, indent=4) + "\n",
                    f"obs-websocket on, port {port}, password required ({path})",
                )
            )
    return changes


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(path))
    except ValueError as e:
        raise CohostError(f"{path} is not valid JSON ({e}); fix or remove it and run again") from None
    if not isinstance(data, dict):
        raise CohostError(f"{path} is not a JSON object; fix or remove it and run again")
    return data


# -- the scene collection ---------------------------------------------------------------------------


TEMPLATE_CANVAS = (1920, 1080)  # OBS's default canvas, which the template's layout is drawn for


def _obs_platform(platform: str) -> str:
    """sys.platform as OBS's GetVersion names it, for engine.obs.sources.text_kind."""
    return {"win32": "windows", "darwin": "macos"}.get(platform, "linux")


def build_collection(name: str, config: Config, token: str, platform: str = sys.platform) -> dict[str, Any]:
    """The template (scene, layout, script entry) with the sources set up as the engine's OBS
    controller sets them up, so that the engine finds them in place and never adds a second copy."""
    collection = _load_json(TEMPLATE_PATH)
    collection["name"] = name
    kind = sources.text_kind(_obs_platform(platform))
    width, height = TEMPLATE_CANVAS
    native = "plugin" in config.live.outputs
    for source in collection["sources"]:
        if source["name"] == sources.AVATAR and native:
            source["name"], source["id"], source["versioned_id"] = (sources.PLUGIN_AVATAR, *[sources.PLUGIN_KIND] * 2)
            source["settings"] = sources.plugin_settings(str(config.live.plugin_socket_path))
        elif source["name"] == sources.AVATAR:
            source["settings"] = sources.avatar_settings(f"udp://127.0.0.1:{config.live.stream_port}")
        elif source["id"] == "scene" and native:
            for item in source["settings"]["items"]:
                if item["name"] == sources.AVATAR:
                    item["name"] = sources.PLUGIN_AVATAR
        elif source["name"] in (sources.SUBTITLES, sources.QUESTION):
            source["id"], source["versioned_id"] = kind.removesuffix("_v2"), kind
            valign = "bottom" if source["name"] == sources.SUBTITLES else "top"
            source["settings"] = sources.text_settings(kind, width, height, valign)
    collection["modules"]["scripts-tool"] = [
        {
            "path": str(SCRIPT_PATH),
            "settings": {
                "engine_address": f"http://{config.api.host}:{config.api.port}",
                "token": token,
                "scene": config.obs.scene or "Co-host",
            },
        }
    ]
    return collection


def is_ours(collection: dict[str, Any]) -> bool:
    """A collection that already loads our script: installed before (perhaps changed since by OBS or
    the user, which we keep)."""
    scripts = collection.get("modules", {}).get("scripts-tool", [])
    return any(isinstance(s, dict) and Path(str(s.get("path", ""))).resolve() == SCRIPT_PATH for s in scripts)


def existing_collections(scenes_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Scene collections by the name OBS shows (which need not match the file name)."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(scenes_dir.glob("*.json")) if scenes_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):  # a backup or a broken file: not a collection we can use
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            found.setdefault(data["name"], (path, data))
    return found


def collection_change(config_dir: Path, config: Config, token: str) -> tuple[str, FileChange | None]:
    """Our collection's name, and the file to write (None when it is installed already)."""
    scenes_dir = config_dir / "basic" / "scenes"
    collections = existing_collections(scenes_dir)
    for number in range(1, 100):
        name = COLLECTION_NAME if number == 1 else f"{COLLECTION_NAME} ({number})"
        if name in collections:
            if is_ours(collections[name][1]):
                return name, None
            continue
        stem = COLLECTION_NAME if number == 1 else f"{COLLECTION_NAME}_{number}"
        path = scenes_dir / f"{stem}.json"
        if path.exists():  # a file of that name holding another collection: never overwritten
            continue
        note = (
            "" if number == 1 else f" (a different collection is already called {COLLECTION_NAME!r}; it is untouched)"
        )
        content = json.dumps(build_collection(name, config, token), indent=4) + "\n"
        return name, FileChange(path, content, f"scene collection {name!r} with the co-host script ({path}){note}")
    raise CohostError(f"too many scene collections named {COLLECTION_NAME!r} in {scenes_dir}")


# -- putting it together ----------------------------------------------------------------------------


def write_private(change: FileChange) -> None:
    """Writes atomically with mode 0600: these files hold the websocket password or the API token."""
    try:
        files.write_private(change.path, change.content)
    except OSError as e:
        raise CohostError(f"cannot write {change.path}: {e.strerror}") from None


def install(
    config_path: Path | None, obs_config: Path | None, obs_version: int | None, dry_run: bool, plugin: bool = True
) -> None:
    config = load_config(config_path)
    config_dir = obs_config or find_obs_config(obs_config_candidates())
    version = obs_version
    if version is None and config_dir == obs_config_candidates()[0]:
        version = obs_version_from_cli()  # the obs on PATH is the native one, not the Flatpak's
    version = version or obs_version_from_files(config_dir)
    shown = f"OBS {version}" if version else "OBS version unknown: writing the OBS 29 and the OBS 30+ layout"
    _say(f"OBS config: {config_dir} ({shown})")
    if obs_running():
        _say("warning: OBS is running; quit it before using these settings, or it may overwrite them when it exits")

    if plugin:
        config = _install_plugin(config, config_dir, config_path, dry_run)
    password = existing_obs_password(config_dir) or config.obs.password or generate_password()
    token = config.api.token or (ensure_token(config, config_path) if not dry_run else "dry-run")
    changes = websocket_changes(config_dir, version, config.obs.port, password)
    name, collection = collection_change(config_dir, config, token)
    if collection is not None:
        changes.append(collection)
    config_updates = {} if password == config.obs.password else {"obs": {"password": password}}

    for change in changes:
        _say(("would write " if dry_run else "wrote ") + change.what)
        if not dry_run:
            write_private(change)
    if config_updates:
        _say(
            ("would save" if dry_run else "saved") + " the obs-websocket password for the engine in obs-cohost's config"
        )
        if not dry_run:
            update_user_config(config_updates, config_path)
    if not changes and not config_updates:
        _say("OBS is already set up for obs-cohost; nothing changed")
    _say(
        f"in OBS, choose Scene Collection → {name}; its co-host script loads with it. In another collection, "
        f"add {SCRIPT_PATH} in Tools → Scripts"
    )


def _install_plugin(config: Config, config_dir: Path, config_path: Path | None, dry_run: bool) -> Config:
    """The native OBS source, built and installed when this machine can, then made the engine's
    output in place of the Media Source stream (the config returned says so); otherwise one line
    says why the stream stays."""
    fallback = "the co-host reaches OBS through the Media Source stream"
    if FLATPAK_ID in str(config_dir):
        _say(
            f"OBS from Flatpak loads plugins only as Flatpak extensions: the native source is not installed; {fallback}"
        )
        return config
    missing = obs_plugin_build.missing_tools()
    if missing:
        _say(f"the native OBS source is not built (missing: {', '.join(missing)}); {fallback}")
        return config
    if obs_plugin_build.is_current(config_dir):
        _say(f"the native OBS source in {obs_plugin_build.installed_dir(config_dir)} is current")
    elif dry_run:
        _say(f"would build the native OBS source and install it in {config_dir / 'plugins'}")
        return config
    else:
        try:
            with tempfile.TemporaryDirectory(prefix="obs-cohost-build-") as build_dir:
                installed = obs_plugin_build.install(obs_plugin_build.build(Path(build_dir)), config_dir)
        except CohostError as e:
            _say(f"{e}\n==> {fallback}")
            return config
        _say(f"built the native OBS source and installed it in {installed}")
    outputs = config.live.outputs
    if "plugin" in outputs or "stream" not in outputs:
        return config
    outputs = ["plugin" if o == "stream" else o for o in outputs]
    _say(
        ("would make" if dry_run else "made")
        + ' the engine send the co-host to it: [live] outputs "plugin", not "stream"'
    )
    if dry_run:
        return config
    update_user_config({"live": {"outputs": outputs}}, config_path)
    return dataclasses.replace(config, live=dataclasses.replace(config.live, outputs=outputs))


def _say(line: str) -> None:
    print(f"==> {line}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install.py --obs", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, help="obs-cohost config file (default: the per-user one)")
    parser.add_argument("--obs-config", type=Path, help="OBS's config folder, when it is not found")
    parser.add_argument("--obs-version", type=int, help="OBS's major version, when it cannot be detected")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    parser.add_argument(
        "--no-plugin", action="store_true", help="keep the Media Source stream: do not build the native OBS source"
    )
    args = parser.parse_args(argv)
    try:
        if args.obs_version is not None and args.obs_version < 1:
            raise UsageError(f"--obs-version must be a major version like 29 or 30, not {args.obs_version}")
        install(args.config, args.obs_config, args.obs_version, args.dry_run, plugin=not args.no_plugin)
    except CohostError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
