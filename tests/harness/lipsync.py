"""Lip-sync clips as tests/test_lipsync.py measures them, for any voice and text: rendered by the
live engine, unpaced, into its file output (`cohost say`), at the size and rate MASS expects."""

from __future__ import annotations

from pathlib import Path

from engine.app.say import render_clip
from engine.face.renderer import Renderer
from engine.voice.base import VoiceBackend

SIZE = (640, 360)
FPS = 30


def render(path: Path, text: str, renderer: Renderer, voice: VoiceBackend, av_offset_ms: float = 0.0) -> Path:
    return render_clip(text, renderer, voice, path, fps=FPS, av_offset_ms=av_offset_ms).path
