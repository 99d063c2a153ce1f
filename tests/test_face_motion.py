"""Mouth shapes from phonemes, the idle layer, and the renderer's frame contract."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face.animator import Animator
from engine.face.idle import IdleMotion
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.face.visemes import JAW, PRESS, ROUND, mouth_controls, viseme_for
from engine.voice.base import SpeechChunk, TimedPhoneme

SR = 22050


def _timeline(spec: list[tuple[str, float]]) -> list[TimedPhoneme]:
    out, t = [], 0
    for symbol, seconds in spec:
        n = int(seconds * SR)
        out.append(TimedPhoneme(symbol, t, t + n))
        t += n
    return out


def _voiced(samples: int) -> np.ndarray:
    """A steady 220 Hz buzz: loud in the voice band throughout."""
    return (8000 * np.sin(2 * np.pi * 220 * np.arange(samples) / SR)).astype(np.int16)


def test_ipa_symbols_map_to_the_expected_visemes():
    assert viseme_for("m").name == "PP"
    assert viseme_for("ɑː").name == "aa"
    assert viseme_for("uː").name == "ou"
    assert viseme_for("tʃ").name == "CH"
    assert viseme_for("_").name == "sil"


def test_a_short_bilabial_between_open_vowels_still_closes_the_lips():
    phonemes = _timeline([("_", 0.2), ("a", 0.15), ("m", 0.03), ("a", 0.15), ("_", 0.2)])
    times = np.arange(0, 0.73, 1 / 30)
    controls = mouth_controls(phonemes, SR, times)
    in_m = (times > 0.33) & (times < 0.42)
    assert controls[in_m, PRESS].max() >= 0.9
    assert controls[in_m, JAW].min() <= 0.1
    assert controls[(times > 0.25) & (times < 0.32), JAW].max() > 0.6


def test_mouth_rests_in_silence_and_rounds_for_oo():
    phonemes = _timeline([("_", 0.5), ("u", 0.2), ("_", 0.5)])
    times = np.arange(0, 1.2, 1 / 30)
    controls = mouth_controls(phonemes, SR, times)
    assert np.abs(controls[times < 0.3]).max() < 0.05
    assert np.abs(controls[times > 0.95]).max() < 0.05
    assert controls[(times > 0.55) & (times < 0.65), ROUND].min() > 0.7


def test_speech_is_placed_on_the_sample_clock():
    """A chunk scheduled at sample 1 s opens the mouth only after 1 s (less the 40 ms lead)."""
    phonemes = _timeline([("a", 0.5)])
    chunk = SpeechChunk(_voiced(phonemes[-1].end), SR, "a", phonemes)
    animator = Animator(30, SR)
    animator.add_speech(chunk, SR)
    jaw = np.array([animator.mouth_at(k)[JAW] for k in range(60)])
    assert np.all(jaw[:29] == 0) and jaw[29:44].min() > 0.5


def test_idle_blinks_at_a_conversational_rate_and_never_stops():
    idle = IdleMotion(seed=3)
    t = np.arange(0, 600, 1 / 30)
    closed = np.array([idle.at(x).blink > 0.9 for x in t])
    blinks = np.count_nonzero(closed[1:] & ~closed[:-1])
    assert 8 * 10 <= blinks <= 25 * 10  # 8-25 a minute over 10 minutes
    late = [idle.at(36000 + x) for x in np.arange(0, 20, 0.5)]  # ten hours in
    assert np.ptp([s.yaw for s in late]) > 1.0 and np.ptp([s.breath for s in late]) > 1.0
    assert any(s.blink > 0.9 for s in [idle.at(36000 + x) for x in np.arange(0, 30, 1 / 30)])


def test_idle_motion_is_a_pure_function_of_time():
    a, b = IdleMotion(seed=5), IdleMotion(seed=5)
    for x in (0.0, 12.34, 4000.0, 7.0):
        assert a.at(x) == b.at(x)


@pytest.mark.parametrize("size", [(854, 480), (1920, 1080), (480, 640)])
def test_frames_come_at_any_size_and_leave_the_background_untouched(config, size):
    avatar = load_portrait(config)
    renderer = Renderer(avatar.image, avatar.landmarks, size)
    animator = Animator(30, SR)
    phonemes = _timeline([("a", 0.3), ("u", 0.3)])
    animator.add_speech(SpeechChunk(_voiced(phonemes[-1].end), SR, "au", phonemes), 0)
    frame = renderer.render(animator.pose_at(5))
    assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
    x0, y0, x1, y1 = renderer.rig.roi
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], renderer.base[outside])
    assert np.abs(frame[y0:y1, x0:x1].astype(int) - renderer.base[y0:y1, x0:x1]).mean() > 0.5
