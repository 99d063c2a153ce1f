"""`cohost say`'s clip, rendered by the live engine unpaced into a file: the idle lead-in, the whole
line (every sentence the real piper voice produced, with the engine's pauses between them), the
tail; a voice that produces nothing is one clear error, not an empty clip."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from engine.app.say import LEAD_IN_S, TAIL_S, render_clip
from engine.errors import CohostError
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.live.track import SENTENCE_GAP_S
from engine.media.decode import read_audio
from engine.voice.base import SpeechChunk
from tests.harness.voices import Tapped

SIZE = (320, 180)
FPS = 30
TEXT = "Hello chat. Thanks for the follow! See you next time."


class Mute(Tapped):
    """A voice that finds nothing to say (as piper does for text it cannot pronounce)."""

    def stream(self, text: str, continued: bool = False, speed: float = 1.0) -> Iterator[SpeechChunk]:
        return iter(())


def _loud(samples: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.abs(samples) > 0.02)


@pytest.fixture(scope="module")
def renderer(config) -> Renderer:
    avatar = load_portrait(config)
    return Renderer(avatar.image, avatar.landmarks, SIZE)


def test_the_clip_is_the_lead_in_the_whole_line_and_the_tail(tmp_path, renderer, piper_voice):
    voice = Tapped(piper_voice, owns=False)
    clip = render_clip(TEXT, renderer, voice, tmp_path / "say.mp4", fps=FPS)

    assert len(voice.chunks) == 3  # one chunk per sentence
    speech_s = sum(chunk.duration for chunk in voice.chunks) + SENTENCE_GAP_S * (len(voice.chunks) - 1)
    # Speech starts a couple of frames after the lead-in (the mouth's anticipation), so the clip is
    # at least lead-in + speech + tail, and only those frames longer.
    assert LEAD_IN_S + speech_s + TAIL_S <= clip.seconds <= LEAD_IN_S + speech_s + TAIL_S + 0.2
    assert clip.frames == round(clip.seconds * FPS)

    audio = read_audio(clip.path)
    first, last = (audio.start + _loud(audio.samples)[[0, -1]] / audio.sample_rate).tolist()
    # The voice's own quiet edges: before the first sentence's first sound, after the last's last.
    rate = voice.sample_rate
    quiet_before = _loud(voice.chunks[0].pcm / 32768)[0] / rate
    quiet_after = (len(voice.chunks[-1].pcm) - _loud(voice.chunks[-1].pcm / 32768)[-1]) / rate
    assert LEAD_IN_S <= first - quiet_before <= LEAD_IN_S + 0.2
    assert last + quiet_after <= clip.seconds - TAIL_S + 0.05  # the tail is silence
    assert last - first == pytest.approx(speech_s - quiet_before - quiet_after, abs=0.03)  # every sentence is there


def test_a_voice_that_produces_nothing_is_one_clear_error(tmp_path, renderer, piper_voice):
    with pytest.raises(CohostError, match="the voice produced no speech for this text"):
        render_clip(TEXT, renderer, Mute(piper_voice, owns=False), tmp_path / "nothing.mp4", fps=FPS)
