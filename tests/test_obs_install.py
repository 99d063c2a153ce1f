"""`install.py --obs` (engine.obs_install) in a temporary HOME: obs-websocket settings in both OBS
layouts, the password kept private and never printed, idempotence, and a user's own collection that
is never overwritten. (tests/test_obs_script.py loads the installed collection into a real OBS.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.obs import sources
from engine.obs_install import (
    SCRIPT_PATH,
    ini_section,
    ini_with,
    obs_config_candidates,
    obs_version_from_cli,
    obs_version_from_files,
)
from engine.obs_plugin_build import missing_tools

ROOT = Path(__file__).resolve().parents[1]
USER_GLOBAL_INI = "[General]\nFirstRun=true\nLanguage=de-DE\n\n[Basic]\nProfile=Mine\nSceneCollection=Mine\n"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Home:
    path: Path

    @property
    def obs(self) -> Path:
        return self.path / ".config" / "obs-studio"

    @property
    def config_path(self) -> Path:
        return self.path / ".config" / "obs-cohost" / "config.toml"

    def config(self) -> dict:
        return tomllib.loads(self.config_path.read_text())

    def install(self, *args: str, plugin: bool = False) -> Run:
        """`plugin`: also build the native source (most tests leave it out: a build takes seconds)."""
        env = {**os.environ, "HOME": str(self.path), "XDG_CONFIG_HOME": str(self.path / ".config")}
        result = subprocess.run(
            [sys.executable, "-m", "engine.obs_install", *args, *(() if plugin else ("--no-plugin",))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Run(result.returncode, result.stdout, result.stderr)

    def snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        """Every file under HOME: content, modification time and mode."""
        return {
            str(p.relative_to(self.path)): (p.read_bytes(), p.stat().st_mtime_ns, stat.S_IMODE(p.stat().st_mode))
            for p in sorted(self.path.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A user who has run OBS once: global.ini exists, no websocket settings, no obs-cohost config."""
    home = Home(tmp_path / "home")
    home.obs.mkdir(parents=True)
    (home.obs / "global.ini").write_text(USER_GLOBAL_INI)
    home.config_path.parent.mkdir(parents=True)
    home.config_path.write_text("[obs]\nport = 4466\n\n[api]\nport = 8899\n")
    return home


def assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def assert_secrets_not_in(home: Home, run: Run) -> None:
    config = home.config()
    for secret in (config["obs"]["password"], config["api"]["token"]):
        assert len(secret) >= 16 and secret not in run.output


def test_obs_29_layout_enables_the_websocket_in_global_ini(home: Home) -> None:
    run = home.install("--obs-version", "29")
    assert run.returncode == 0, run.output
    password = home.config()["obs"]["password"]
    text = (home.obs / "global.ini").read_text()
    assert ini_section(text, "OBSWebSocket") == {
        "FirstLoad": "false",
        "ServerEnabled": "true",
        "ServerPort": "4466",
        "AuthRequired": "true",
        "ServerPassword": password,
    }
    assert text.startswith(USER_GLOBAL_INI)  # the user's own settings are kept line for line
    assert not (home.obs / "plugin_config").exists()
    assert_private(home.obs / "global.ini")
    assert_private(home.config_path)
    assert_secrets_not_in(home, run)


def test_obs_30_layout_enables_the_websocket_in_its_plugin_config(home: Home) -> None:
    run = home.install("--obs-version", "30")
    assert run.returncode == 0, run.output
    path = home.obs / "plugin_config" / "obs-websocket" / "config.json"
    assert json.loads(path.read_text()) == {
        "first_load": False,
        "server_enabled": True,
        "server_port": 4466,
        "auth_required": True,
        "server_password": home.config()["obs"]["password"],
    }
    assert (home.obs / "global.ini").read_text() == USER_GLOBAL_INI  # OBS 30 would move a section out of it
    assert_private(path)
    assert_secrets_not_in(home, run)


def test_an_unknown_obs_version_gets_both_layouts_with_one_password(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    elsewhere = tmp_path / "portable-obs" / "config"  # not the native folder: `obs --version` is not asked
    run = home.install("--obs-config", str(elsewhere))
    assert run.returncode == 0, run.output
    assert "OBS version unknown" in run.stdout
    password = home.config()["obs"]["password"]
    assert ini_section((elsewhere / "global.ini").read_text(), "OBSWebSocket")["ServerPassword"] == password
    assert (
        json.loads((elsewhere / "plugin_config" / "obs-websocket" / "config.json").read_text())["server_password"]
        == password
    )
    assert_secrets_not_in(home, run)


def test_a_second_run_changes_nothing(home: Home) -> None:
    first = home.install("--obs-version", "29")
    assert first.returncode == 0, first.output
    before = home.snapshot()
    second = home.install("--obs-version", "29")
    assert second.returncode == 0, second.output
    assert home.snapshot() == before
    assert "nothing changed" in second.stdout


def test_a_password_obs_already_has_is_kept_and_saved_for_the_engine(home: Home) -> None:
    (home.obs / "global.ini").write_text(
        USER_GLOBAL_INI + "\n[OBSWebSocket]\nServerPassword=users0wnPassw0rd\nServerPort=4455\n"
    )
    run = home.install()  # version from the files: [OBSWebSocket] in global.ini (or `obs --version`)
    assert run.returncode == 0, run.output
    section = ini_section((home.obs / "global.ini").read_text(), "OBSWebSocket")
    assert section["ServerPassword"] == "users0wnPassw0rd" and section["ServerPort"] == "4466"
    assert home.config()["obs"]["password"] == "users0wnPassw0rd"
    assert "users0wnPassw0rd" not in run.output


def test_the_collection_lists_the_script_and_the_engines_sources(home: Home) -> None:
    assert home.install("--obs-version", "29").returncode == 0
    path = home.obs / "basic" / "scenes" / "obs-cohost.json"
    collection = json.loads(path.read_text())
    assert collection["name"] == "obs-cohost"
    (script,) = collection["modules"]["scripts-tool"]
    assert Path(script["path"]) == SCRIPT_PATH and SCRIPT_PATH.is_file()
    assert script["settings"] == {
        "engine_address": "http://127.0.0.1:8899",
        "token": home.config()["api"]["token"],
        "scene": "Co-host",
    }
    by_name = {s["name"]: s for s in collection["sources"]}
    # The names the engine's OBS controller looks for: it must find these, not add a second set.
    assert {sources.AVATAR, sources.SUBTITLES, sources.QUESTION, "Co-host"} == set(by_name)
    items = [item["name"] for item in by_name["Co-host"]["settings"]["items"]]
    assert items == [sources.AVATAR, sources.SUBTITLES, sources.QUESTION]
    assert by_name[sources.AVATAR]["settings"]["input"] == "udp://127.0.0.1:47000"
    assert by_name[sources.SUBTITLES]["versioned_id"] == "text_ft2_source_v2"
    assert_private(path)  # it holds the API token


def test_a_users_own_collection_with_our_name_is_never_overwritten(home: Home) -> None:
    scenes = home.obs / "basic" / "scenes"
    scenes.mkdir(parents=True)
    users = json.dumps({"name": "obs-cohost", "sources": [], "modules": {}, "scene_order": [{"name": "Mine"}]})
    (scenes / "obs-cohost.json").write_text(users)
    run = home.install("--obs-version", "29")
    assert run.returncode == 0, run.output
    assert (scenes / "obs-cohost.json").read_text() == users
    ours = json.loads((scenes / "obs-cohost_2.json").read_text())
    assert ours["name"] == "obs-cohost (2)" and ours["modules"]["scripts-tool"][0]["path"] == str(SCRIPT_PATH)
    assert "'obs-cohost (2)'" in run.stdout and "untouched" in run.stdout
    before = home.snapshot()
    assert home.install("--obs-version", "29").returncode == 0
    assert home.snapshot() == before  # found as ours: no third copy


def test_a_collection_that_obs_has_rewritten_is_still_recognised_as_ours(home: Home) -> None:
    assert home.install("--obs-version", "29").returncode == 0
    path = home.obs / "basic" / "scenes" / "obs-cohost.json"
    collection = json.loads(path.read_text())
    collection["sources"].append({"id": "color_source", "name": "Added by the user", "settings": {}})
    path.write_text(json.dumps(collection))  # as OBS saves it: reformatted, with the user's changes
    before = home.snapshot()
    run = home.install("--obs-version", "29")
    assert run.returncode == 0 and home.snapshot() == before
    assert "nothing changed" in run.stdout


def test_dry_run_writes_nothing(home: Home) -> None:
    before = home.snapshot()
    run = home.install("--dry-run", "--obs-version", "30")
    assert run.returncode == 0, run.output
    assert home.snapshot() == before
    assert "would write obs-websocket on, port 4466" in run.stdout
    assert "would write scene collection 'obs-cohost'" in run.stdout


def test_a_broken_obs_file_is_one_line_error(home: Home) -> None:
    path = home.obs / "plugin_config" / "obs-websocket" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    run = home.install()
    assert run.returncode == 1
    assert run.stdout.count("\n") <= 2 and len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith("error: ") and "config.json is not valid JSON" in run.stderr


def test_obs_config_folders_per_platform(tmp_path: Path) -> None:
    assert obs_config_candidates("linux", {"XDG_CONFIG_HOME": "/x"}, tmp_path) == [
        Path("/x/obs-studio"),
        tmp_path / ".var/app/com.obsproject.Studio/config/obs-studio",
    ]
    assert obs_config_candidates("linux", {}, tmp_path)[0] == tmp_path / ".config/obs-studio"
    assert obs_config_candidates("darwin", {}, tmp_path) == [tmp_path / "Library/Application Support/obs-studio"]
    assert obs_config_candidates("win32", {"APPDATA": "C:/Users/u/AppData/Roaming"}, tmp_path) == [
        Path("C:/Users/u/AppData/Roaming/obs-studio")
    ]


def test_obs_version_is_read_from_the_files_obs_wrote(tmp_path: Path) -> None:
    assert obs_version_from_files(tmp_path) is None
    (tmp_path / "global.ini").write_text("[OBSWebSocket]\nServerPort=4455\n")
    assert obs_version_from_files(tmp_path) == 29
    (tmp_path / "plugin_config" / "obs-websocket").mkdir(parents=True)
    (tmp_path / "plugin_config" / "obs-websocket" / "config.json").write_text("{}")
    assert obs_version_from_files(tmp_path) == 30


def test_obs_version_is_asked_from_the_installed_obs() -> None:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "obs-studio"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("no Debian obs-studio package here")
    assert obs_version_from_cli() == int(result.stdout.split(".")[0])


def test_ini_updates_touch_only_their_section() -> None:
    text = "[A]\nx=1\n\n[OBSWebSocket]\nServerPort=1\nAlertsEnabled=true\n\n[B]\ny=2\n"
    updated = ini_with(text, "OBSWebSocket", {"ServerPort": "2", "AuthRequired": "true"})
    assert updated == "[A]\nx=1\n\n[OBSWebSocket]\nServerPort=2\nAlertsEnabled=true\nAuthRequired=true\n\n[B]\ny=2\n"
    assert ini_with(updated, "OBSWebSocket", {"ServerPort": "2"}) == updated
    assert ini_with("", "S", {"k": "v"}) == "[S]\nk=v\n"


@pytest.mark.skipif(bool(missing_tools()), reason="needs cmake, a C compiler and libobs-dev (.ci/run installs them)")
def test_the_native_source_is_built_into_obs_plugins_once_and_becomes_the_engines_output(home: Home) -> None:
    run = home.install("--obs-version", "29", plugin=True)
    assert run.returncode == 0, run.output
    module = home.obs / "plugins" / "obs-cohost"
    assert (module / "bin" / "64bit" / "obs-cohost.so").is_file() and (module / "data").is_dir()
    assert home.config()["live"]["outputs"] == ["plugin"]
    before = home.snapshot()
    again = home.install("--obs-version", "29", plugin=True)
    assert again.returncode == 0 and "is current" in again.output
    assert home.snapshot() == before  # built from the same sources: not rebuilt, nothing rewritten
