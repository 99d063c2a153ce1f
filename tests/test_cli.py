"""The `cohost` command as a user runs it: say writes a playable MP4; mistakes get one line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import pytest


def cohost(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cohost")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


def test_say_writes_an_mp4_with_h264_video_and_aac_speech(tmp_path, config):
    out = tmp_path / "hello.mp4"
    result = cohost("say", "Hello chat! Thanks for the follow.", "--out", str(out), "--size", "640x360", "--fps", "25")
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout and "ms/frame" in result.stdout
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264" and (video.width, video.height) == (640, 360)
        assert audio.codec_context.name == "aac"
        assert video.average_rate == 25
        seconds = float(container.duration / av.time_base)
    assert 1.5 < seconds < 6.0


def test_say_defaults_to_reply_mp4_in_the_current_folder(tmp_path, config):
    result = cohost("say", "Hi.", "--size", "320x180", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reply.mp4").stat().st_size > 0


def test_say_with_the_espeak_voice(tmp_path, config):
    out = tmp_path / "robot.mp4"
    result = cohost("say", "Testing the fallback voice.", "--voice", "espeak", "--out", str(out), "--size", "320x180")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "required"),
        (("say",), "required: text"),
        (("say", "hi", "--size", "big"), "size must look like 1280x720"),
        (("say", "hi", "--size", "641x360"), "even numbers"),
        (("say", "hi", "--fps", "0"), "fps must be"),
        (("say", "hi", "--out", "clip.avi"), "must be an .mp4"),
        (("dance",), "invalid choice"),
        (("avatar",), "required"),
    ],
)
def test_command_line_mistakes_exit_2_with_one_line(args, fragment, config):
    _assert_one_line_error(cohost(*args), 2, fragment)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("say", "hi", "--avatar", "/nonexistent/face.jpg"), "does not exist"),
        (("say", "hi", "--voice", "/nonexistent/voice.onnx"), "voice"),
        (("say", "https://example.com 🎉", "--size", "320x180"), "nothing to say"),
        (("say", "hi", "--out", "/nonexistent/dir/x.mp4", "--size", "320x180"), "does not exist"),
        (("avatar", "check", "/nonexistent/face.jpg"), "does not exist"),
    ],
)
def test_bad_input_exits_1_with_one_line(args, fragment, config):
    _assert_one_line_error(cohost(*args), 1, fragment)


def test_avatar_check_reports_the_face_and_writes_a_preview(tmp_path, config):
    portrait = Path(__file__).resolve().parents[1] / "models" / "avatar" / "default.png"
    preview = tmp_path / "p.png"
    result = cohost("avatar", "check", str(portrait), "--preview", str(preview))
    assert result.returncode == 0, result.stderr
    for fragment in ("face found", "face size", "pose: yaw", "mouth: open", "preview:"):
        assert fragment in result.stdout
    assert preview.stat().st_size > 0


def test_config_file_errors_are_one_line(tmp_path, config):
    bad = tmp_path / "c.toml"
    bad.write_text("[render]\nfps = 'fast'\n")
    _assert_one_line_error(
        cohost("say", "hi", "--config", str(bad)), 2, "[render] fps must be a whole number, got 'fast'"
    )
    bad.write_text("[nope]\n")
    _assert_one_line_error(cohost("say", "hi", "--config", str(bad)), 2, "unknown section [nope]")
