"""The MP4 writer keeps picture and sound on one clock, as players decode it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import CohostError
from engine.media.decode import read_av
from engine.media.mp4 import Mp4Writer

FPS = 30
RATE = 22050  # the piper voice's rate
W, H = 64, 48
EVENT_S = 1.0  # the flash frame and the click start here; a frame time, so the flash can be exact
TOLERANCE_S = 0.005


def _click_track(seconds: float) -> np.ndarray:
    pcm = np.zeros(round(seconds * RATE), np.int16)
    n = np.arange(round(0.010 * RATE))
    start = round(EVENT_S * RATE)
    pcm[start : start + len(n)] = (20000 * np.sin(2 * np.pi * 1000 * n / RATE)).astype(np.int16)
    return pcm


def _write_flash_and_click(path: Path, video_s: float = 3.0, audio_s: float = 3.0) -> None:
    """Frames and audio in ragged, interleaved chunks, as a streaming renderer writes them."""
    pcm = _click_track(audio_s)
    rng = np.random.default_rng(0)
    cut = 0
    with Mp4Writer(path, W, H, FPS, RATE) as writer:
        for k in range(round(video_s * FPS)):
            writer.write_frame(np.full((H, W, 3), 255 if k == round(EVENT_S * FPS) else 0, np.uint8))
            step = int(rng.integers(100, 2000))
            writer.write_audio(pcm[cut : cut + step])
            cut += step
        writer.write_audio(pcm[cut:])


def _onset(samples: np.ndarray) -> int:
    loud = np.abs(samples.astype(np.float64))
    return int(np.argmax(loud > 0.5 * loud.max()))


def _ffmpeg(path: Path, *args: str) -> bytes:
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), *args, "-"]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    _write_flash_and_click(path)
    return path


def test_click_and_flash_line_up_when_decoded_by_pyav(clip: Path) -> None:
    decoded = read_av(clip)
    flash = decoded.frame_times[int(np.argmax([f.mean() for f in decoded.frames]))]
    click = decoded.audio.start + _onset(decoded.audio.samples) / decoded.audio.sample_rate
    assert flash == pytest.approx(EVENT_S, abs=1e-6)
    assert abs(click - flash) <= TOLERANCE_S


def test_click_and_flash_line_up_when_decoded_by_ffmpeg_cli(clip: Path) -> None:
    pcm = np.frombuffer(_ffmpeg(clip, "-f", "s16le", "-ac", "1", "-ar", str(RATE)), np.int16)
    gray = np.frombuffer(_ffmpeg(clip, "-f", "rawvideo", "-pix_fmt", "gray"), np.uint8).reshape(-1, H, W)
    flash = int(np.argmax(gray.mean(axis=(1, 2)))) / FPS
    click = _onset(pcm) / RATE
    assert flash == pytest.approx(EVENT_S, abs=1e-6)
    assert abs(click - flash) <= TOLERANCE_S


def test_streams_are_h264_and_aac_of_equal_duration_with_the_index_first(clip: Path) -> None:
    data = clip.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: playable while downloading
    with av.open(str(clip)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == RATE
        assert abs(video.duration * video.time_base - audio.duration * audio.time_base) <= 1 / FPS


@pytest.mark.parametrize(("video_s", "audio_s"), [(3.0, 2.2), (2.0, 2.9)], ids=["audio-short", "video-short"])
def test_shorter_stream_is_extended_to_end_with_the_other(tmp_path: Path, video_s: float, audio_s: float) -> None:
    path = tmp_path / "ragged.mp4"
    _write_flash_and_click(path, video_s=video_s, audio_s=audio_s)
    decoded = read_av(path)
    video_end = decoded.frame_times[-1] + 1 / FPS
    audio_end = decoded.audio.start + len(decoded.audio.samples) / RATE
    assert video_end == pytest.approx(max(video_s, audio_s), abs=1 / FPS)
    assert abs(video_end - audio_end) <= 1 / FPS
    # The padding repeats the last picture and adds silence; it does not invent content.
    assert np.array_equal(decoded.frames[-1], decoded.frames[-2])
    assert np.abs(decoded.audio.samples[-round(0.1 * RATE) :]).max() < 0.01


def test_missing_output_folder_is_a_one_line_cohost_error(tmp_path: Path) -> None:
    with pytest.raises(CohostError, match="does not exist") as caught:
        Mp4Writer(tmp_path / "no" / "such" / "dir" / "x.mp4", W, H, FPS, RATE)
    assert "\n" not in str(caught.value)


def test_failed_render_leaves_no_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), Mp4Writer(path, W, H, FPS, RATE) as writer:
        writer.write_frame(np.zeros((H, W, 3), np.uint8))
        raise RuntimeError("renderer crashed")
    assert not path.exists()
