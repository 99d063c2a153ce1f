"""Lip sync proven by measurement: the face landmarker re-reads the mouth on rendered video and its
opening is cross-correlated with the loudness of the speech decoded from the same file (MASS, see
engine/analysis/lipsync.py). Every clip is rendered by the live engine, unpaced, into its file output
(`cohost say`): what is measured is what goes on air. The same measurement must fail on a frozen
mouth and on a mouth shifted by 200 ms."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.analysis.controls import FrozenMouthRenderer
from engine.analysis.lipsync import SPEECH_OPEN_MIN, measure_file
from engine.app.say import render_clip
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.voice.base import SpeechChunk, VoiceBackend

TEXT = "Hello chat, thanks for the follow! Today we are testing an AI co-host that speaks your messages out loud."
SIZE = (640, 360)
FPS = 30


class Untimed:
    """The real voice with its phoneme timing thrown away: a voice that gives only sound."""

    def __init__(self, voice: VoiceBackend) -> None:
        self._voice = voice
        self.name, self.sample_rate = voice.name, voice.sample_rate

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        for chunk in self._voice.stream(text, continued, speed):
            yield dataclasses.replace(chunk, phonemes=[])

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def portrait(config):
    return load_portrait(config)


@pytest.fixture(scope="module")
def renderer(portrait):
    return Renderer(portrait.image, portrait.landmarks, SIZE)


def _render(path: Path, renderer: Renderer, voice: VoiceBackend, av_offset_ms: float = 0.0) -> Path:
    return render_clip(TEXT, renderer, voice, path, fps=FPS, av_offset_ms=av_offset_ms).path


def test_rendered_mouth_opens_with_speech_rests_in_pauses_and_keeps_time(tmp_path, renderer, piper_voice, face_model):
    report = measure_file(_render(tmp_path / "synced.mp4", renderer, piper_voice), face_model)
    assert report.passed, report.failures
    assert report.speech_open >= SPEECH_OPEN_MIN
    assert report.pause_rest is not None and report.pause_rest < 0.03
    assert -40 <= report.lag_ms <= 40
    assert report.r >= 0.5


def test_frozen_mouth_fails_the_measurement(tmp_path, portrait, piper_voice, face_model):
    frozen = FrozenMouthRenderer(portrait.image, portrait.landmarks, SIZE)
    report = measure_file(_render(tmp_path / "frozen.mp4", frozen, piper_voice), face_model)
    assert not report.passed
    assert report.speech_open < SPEECH_OPEN_MIN


def test_mouth_shifted_by_200_ms_fails_and_is_measured_late(tmp_path, renderer, piper_voice, face_model):
    report = measure_file(_render(tmp_path / "late.mp4", renderer, piper_voice, av_offset_ms=200), face_model)
    assert not report.passed
    assert 160 <= report.lag_ms <= 240


def test_mouth_shifted_200_ms_early_fails_and_is_measured_early(tmp_path, renderer, piper_voice, face_model):
    """A negative offset moves the mouth ahead of its sound: the engine places the speech later by
    as much, so the early mouth frames are rendered (not skipped) and the shift shows in full."""
    report = measure_file(_render(tmp_path / "early.mp4", renderer, piper_voice, av_offset_ms=-200), face_model)
    assert not report.passed
    assert -240 <= report.lag_ms <= -160


def test_audio_only_fallback_keeps_the_mouth_in_sync(tmp_path, renderer, piper_voice, face_model):
    """A voice without phoneme timing: the face is driven from the sound alone."""
    report = measure_file(_render(tmp_path / "fallback.mp4", renderer, Untimed(piper_voice)), face_model)
    assert report.passed, report.failures
