"""Platform presets, stream keys and `cohost stream`: a real OBS streaming through the `custom` preset to
a real nginx-rtmp, and the key kept out of every output, log and file."""

from __future__ import annotations

import io
import logging
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import keyring
import keyring.backend
import keyring.backends.fail
import pytest

from engine.app.stream import main as stream_main
from engine.config import load_config, update_user_config
from engine.errors import UsageError
from engine.obs.controller import ObsController
from engine.platforms import apply_platform, load_presets, output_size
from engine.secrets import ENV_VAR, RedactingFilter, load_key, redact, register_secret
from tests.harness import ObsProcess, RtmpServer, free_port
from tests.harness.process import wait_until

PLATFORMS = {"twitch", "youtube", "bilibili", "douyin", "kuaishou", "custom"}
WS_PASSWORD = "ws-password-for-stream-tests"
STREAM_KEY = "live_8843_SeCrEtStreamKey"  # what a platform hands out, distinctive enough to search for


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The OS keyring as on a headless Linux: no backend (CI has none; a developer's own is left alone)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)


def run_stream(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    """Runs `cohost stream ARGV` in-process with `stdin`, returning (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = stream_main(argv)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_every_preset_loads_with_the_recommended_fields():
    presets = load_presets()
    assert set(presets) == PLATFORMS
    for preset in presets.values():
        assert preset.width % 2 == 0 and preset.height % 2 == 0 and preset.width > preset.height
        assert preset.fps in (25, 30, 50, 60)
        assert 1000 <= preset.video_kbps <= 8000 and 96 <= preset.audio_kbps <= 320
        assert preset.keyframe_s == 2
        assert preset.x264_preset in ("ultrafast", "superfast", "veryfast", "faster", "fast")
        assert preset.key_help
        if preset.server_required:
            assert preset.servers == ()
            with pytest.raises(UsageError, match="needs a server"):
                preset.server()
        else:
            assert all(s.startswith("rtmp://") for s in preset.servers)
            assert preset.server() == preset.servers[0]
    assert presets["twitch"].server() == "rtmp://live.twitch.tv/app"
    assert presets["youtube"].servers[:2] == (
        "rtmp://a.rtmp.youtube.com/live2",
        "rtmp://b.rtmp.youtube.com/live2?backup=1",
    )
    assert presets["bilibili"].server() == "rtmp://live-push.bilivideo.com/live-bvc/"
    assert presets["douyin"].server("rtmp://push.example/live/") == "rtmp://push.example/live/"


def test_output_size_scales_the_canvas_down_to_the_preset_height_and_never_up():
    assert output_size((1920, 1080), 720) == (1280, 720)
    assert output_size((1280, 720), 720) == (1280, 720)
    assert output_size((1280, 720), 1080) == (1280, 720)
    assert output_size((2560, 1080), 720) == (1706, 720)  # ultrawide keeps its aspect, even width


def test_unknown_platform_lists_the_known_ones():
    code, out, err = run_stream(["start", "--platform", "myspace"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and all(name in err for name in PLATFORMS)


def test_missing_key_says_where_to_put_it(tmp_path: Path, no_keyring: None):
    config = update_user_config({"obs": {"port": free_port()}}, tmp_path / "config.toml")
    code, _, err = run_stream(["start", "--platform", "twitch", "--config", str(config)])
    assert code == 1 and err.count("\n") == 1
    assert "cohost stream set-key --platform twitch" in err and ENV_VAR in err and "[stream]" in err


def test_set_key_without_a_keyring_keeps_it_in_the_private_config(tmp_path: Path, no_keyring: None):
    config = tmp_path / "config.toml"
    code, out, err = run_stream(["set-key", "--platform", "custom", "--config", str(config)], stdin=STREAM_KEY + "\n")
    assert code == 0 and STREAM_KEY not in out + err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    found = load_key("custom", load_config(config), config)
    assert found is not None and found.value == STREAM_KEY and found.source == str(config)
    assert STREAM_KEY not in repr(found)
    assert load_key("twitch", load_config(config), config) is None  # a key belongs to its platform


class _MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.stored: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.stored.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.stored[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.stored.pop((service, username), None)


def test_set_key_prefers_the_os_keyring_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake keyring backend: no OS keyring (Secret Service, Keychain, Credential Locker) runs on this
    headless CI machine."""
    memory = _MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(memory)
    try:
        config = tmp_path / "config.toml"
        code, out, _ = run_stream(["set-key", "--platform", "twitch", "--config", str(config)], stdin=STREAM_KEY)
        assert code == 0 and "OS keyring" in out
        assert memory.stored == {("obs-cohost", "twitch"): STREAM_KEY}
        assert not config.exists()
        found = load_key("twitch", load_config())
        assert found is not None and (found.value, found.source) == (STREAM_KEY, "the OS keyring")
        monkeypatch.setenv(ENV_VAR, "from-the-environment")
        assert load_key("twitch", load_config()).value == "from-the-environment"  # type: ignore[union-attr]
    finally:
        keyring.set_keyring(previous)


def test_log_records_never_show_a_registered_secret():
    secret = "sk_redact_me_4711"
    register_secret(secret)
    assert redact(f"rtmp://host/app?key={secret}&x=1", [secret]) == "rtmp://host/app?key=***&x=1"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    handler.addFilter(RedactingFilter())
    try:
        logger.warning("sending %s", {"key": secret})
        logger.warning("url-encoded: %s", secret.replace("_", "%5F"))
        try:
            raise RuntimeError(f"refused key {secret}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "***" in text and "Traceback" in text
    assert secret not in text


# -- a real stream ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rtmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtmpServer]:
    # The ingest is the platform's side, outside the user's HOME: nginx logs the stream name (the key)
    # and names its recordings after it, as any platform knows the key it issued.
    with RtmpServer(tmp_path_factory.mktemp("platform")) as server:
        yield server


@pytest.fixture(scope="module")
def user_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("user-home")


@pytest.fixture(scope="module")
def obs(user_home: Path) -> Iterator[ObsProcess]:
    with ObsProcess(user_home, free_port(), password=WS_PASSWORD) as process:
        yield process


def keyframe_times(recording: Path) -> list[float]:
    with av.open(str(recording)) as container:
        video = container.streams.video[0]
        return [float(p.pts * p.time_base) for p in container.demux(video) if p.is_keyframe and p.pts is not None]


def test_custom_preset_streams_to_the_rtmp_server_and_the_key_stays_secret(
    obs: ObsProcess,
    rtmp: RtmpServer,
    user_home: Path,
    no_keyring: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    caplog.set_level(logging.DEBUG)  # every library's debug output too: obs-websocket-py logs payloads there
    config = update_user_config(
        {"obs": {"port": obs.ws_port, "password": WS_PASSWORD}}, user_home / ".config" / "obs-cohost" / "config.toml"
    )
    cfg = ["--config", str(config)]
    outputs: list[str] = []

    def cohost_stream(*argv: str, stdin: str = "") -> tuple[int, str]:
        code, out, err = run_stream([*argv, *cfg], stdin)
        outputs.extend([out, err])
        return code, out + err

    assert cohost_stream("set-key", "--platform", "custom", stdin=STREAM_KEY)[0] == 0
    code, said = cohost_stream("start", "--platform", "custom", "--server", rtmp.url)
    assert code == 0, said
    assert said.startswith(f"live: Custom RTMP server via {rtmp.url}: 1280x720 at 30 fps, 2500 kbps video")

    wait_until(lambda: rtmp.recorded_bytes() > 0, 20, "the recording to start")
    size = rtmp.recorded_bytes()
    wait_until(lambda: rtmp.recorded_bytes() > size + 100_000, 20, "the recording to grow")
    code, status = cohost_stream("status")
    assert code == 0 and "live: yes" in status and "reconnecting: no" in status
    kbps = int(status.split("bitrate: ")[1].split(" kbps")[0])
    assert kbps > 0
    wait_until(lambda: obs.call("GetStreamStatus")["outputDuration"] > 4500, 20, "4.5 s of stream")
    code, said = cohost_stream("stop")
    assert (code, said) == (0, "stream stopped\n")
    wait_until(lambda: not obs.call("GetStreamStatus")["outputActive"], 20, "the stream to stop")
    assert cohost_stream("status") == (0, "live: no\n")

    (recording,) = rtmp.recordings()
    assert recording.name.startswith(STREAM_KEY)  # nginx names it after the stream key: OBS used ours
    keyframes = keyframe_times(recording)
    assert len(keyframes) >= 3
    assert all(abs((b - a) - 2.0) < 0.05 for a, b in zip(keyframes, keyframes[1:]))  # keyframe every 2 s
    assert (
        obs.call("GetProfileParameter", parameterCategory="SimpleOutput", parameterName="VBitrate")["parameterValue"]
        == "2500"
    )

    # Where the key may be: the 0600 config (no keyring here), and OBS's own service.json, where OBS
    # keeps the key of its stream service by design (as it does when a user types it into OBS).
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    allowed = {config, *user_home.glob(".config/obs-studio/basic/profiles/*/service.json")}
    assert len(allowed) == 2
    captured = capfd.readouterr()
    assert STREAM_KEY not in "".join(outputs) + captured.out + captured.err
    assert STREAM_KEY not in caplog.text
    assert STREAM_KEY not in obs.log_text()
    holding = [p for p in user_home.rglob("*") if p.is_file() and STREAM_KEY.encode() in p.read_bytes()]
    assert set(holding) <= allowed and config in holding


def test_stream_start_refuses_a_second_platform_while_live(obs: ObsProcess, rtmp: RtmpServer, user_home: Path):
    config = user_home / ".config" / "obs-cohost" / "config.toml"
    obs.call("StartStream")
    try:
        wait_until(lambda: obs.call("GetStreamStatus")["outputActive"], 20, "OBS live")
        code, out, err = run_stream(
            ["start", "--platform", "custom", "--server", rtmp.url, "--key-from-stdin", "--config", str(config)],
            stdin="another-key",
        )
        assert code == 1 and out == "" and "already streaming" in err and "another-key" not in err
    finally:
        obs.call("StopStream")
        wait_until(lambda: not obs.call("GetStreamStatus")["outputActive"], 20, "the stream to stop")


def test_advanced_output_mode_gets_the_server_and_a_note_instead_of_encoder_settings(obs: ObsProcess, rtmp: RtmpServer):
    obs.call("SetProfileParameter", parameterCategory="Output", parameterName="Mode", parameterValue="Advanced")
    try:
        with ObsController("127.0.0.1", obs.ws_port, WS_PASSWORD, setup=None) as controller:
            applied = apply_platform(controller, load_presets()["twitch"], rtmp.url, "advanced-mode-key")
        assert applied.applied == {}
        (note,) = applied.notes
        assert "Advanced output mode" in note and "3000 kbps" in note and "keyframe interval 2 s" in note
        service = obs.call("GetStreamServiceSettings")
        assert service["streamServiceType"] == "rtmp_custom"
        assert service["streamServiceSettings"]["server"] == rtmp.url
    finally:
        obs.call("SetProfileParameter", parameterCategory="Output", parameterName="Mode", parameterValue="Simple")
