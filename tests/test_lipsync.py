"""Lip sync proven by measurement: the face landmarker re-reads the mouth on rendered video and its
opening is cross-correlated with the loudness of the speech decoded from the same file (MASS, see
engine/analysis/lipsync.py). The same measurement must fail on a frozen mouth and on a mouth
shifted by 200 ms, rendered here through the same pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.analysis.lipsync import SPEECH_OPEN_MIN, measure_file
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.say import render_to_file

TEXT = "Hello chat, thanks for the follow! Today we are testing an AI co-host that speaks your messages out loud."
SIZE = (640, 360)
FPS = 30


@pytest.fixture(scope="module")
def speech(piper_voice):
    return list(piper_voice.stream(TEXT))


@pytest.fixture(scope="module")
def renderer(config):
    avatar = load_portrait(config)
    return Renderer(avatar.image, avatar.landmarks, SIZE)


def _render(path: Path, chunks, renderer: Renderer, **options) -> Path:
    return render_to_file(chunks, renderer, path, FPS, **options)


def test_rendered_mouth_opens_with_speech_rests_in_pauses_and_keeps_time(tmp_path, speech, renderer, face_model):
    report = measure_file(_render(tmp_path / "synced.mp4", speech, renderer), face_model)
    assert report.passed, report.failures
    assert report.speech_open >= SPEECH_OPEN_MIN
    assert report.pause_rest is not None and report.pause_rest < 0.03
    assert -40 <= report.lag_ms <= 40
    assert report.r >= 0.5


def test_frozen_mouth_fails_the_measurement(tmp_path, speech, renderer, face_model):
    report = measure_file(_render(tmp_path / "frozen.mp4", speech, renderer, animate_mouth=False), face_model)
    assert not report.passed
    assert report.speech_open < SPEECH_OPEN_MIN


def test_mouth_shifted_by_200_ms_fails_and_is_measured_late(tmp_path, speech, renderer, face_model):
    report = measure_file(_render(tmp_path / "late.mp4", speech, renderer, av_offset_ms=200), face_model)
    assert not report.passed
    assert 160 <= report.lag_ms <= 240


def test_audio_only_fallback_keeps_the_mouth_in_sync(tmp_path, speech, renderer, face_model):
    """A voice without phoneme timing: the face is driven from the sound alone."""
    untimed = [dataclasses.replace(chunk, phonemes=[]) for chunk in speech]
    report = measure_file(_render(tmp_path / "fallback.mp4", untimed, renderer), face_model)
    assert report.passed, report.failures
