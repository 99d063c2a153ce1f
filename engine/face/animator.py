"""The animator: speech scheduled on the audio clock plus the idle layer, turned into a pose per frame.

Time is counted in audio samples. A chunk of speech is placed at the sample where its audio starts,
and frame k shows what is heard at sample k * sample_rate / fps, so picture and sound share one
clock and cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.face.audio_mouth import loudness, mouth_controls_from_audio
from engine.face.idle import IdleMotion
from engine.face.renderer import Pose
from engine.face.rig import BASES, B
from engine.face.visemes import JAW, MOUTH_CONTROLS, PRESS, ROUND, TONGUE, TUCK, UPPER, WIDE, mouth_controls
from engine.voice.base import SpeechChunk

# Mouth control -> rig basis (the tongue is drawn, not warped).
_MOUTH_TO_BASIS = [(JAW, B["jaw"]), (ROUND, B["round"]), (WIDE, B["wide"]), (PRESS, B["press"]),
                   (TUCK, B["tuck"]), (UPPER, B["upper"])]  # fmt: skip
MOUTH_BASES = tuple(basis for _, basis in _MOUTH_TO_BASIS)
NOD_DEGREES = 1.5  # the head dips a little with open vowels, as people's heads do when they talk
BROW_WITH_SPEECH = 0.25
# Lips move before the sound they shape (audio lags the lips by 20-70 ms in natural speech,
# Schwartz & Savariaux 2014), so the mouth runs this far ahead of the audio clock.
ANTICIPATION_S = 0.04
JAW_FLOOR = 0.3  # share of a viseme's jaw opening kept in its quietest moment


@dataclass
class _Scheduled:
    first_frame: int
    controls: np.ndarray  # (frames, len(MOUTH_CONTROLS))


class Animator:
    def __init__(self, fps: float, sample_rate: int, *, av_offset_ms: float = 0.0, seed: int = 7) -> None:
        self.fps = fps
        self.sample_rate = sample_rate
        self.offset_s = av_offset_ms / 1000.0
        self.idle = IdleMotion(seed)
        self._speech: list[_Scheduled] = []

    def frame_time(self, frame: int) -> float:
        return frame / self.fps

    def add_speech(self, chunk: SpeechChunk, start_sample: int) -> None:
        """Schedules a chunk whose first sample plays at `start_sample` on the clock."""
        if chunk.sample_rate != self.sample_rate:
            raise ValueError(f"chunk at {chunk.sample_rate} Hz on a {self.sample_rate} Hz clock")
        start = start_sample / self.sample_rate + self.offset_s - ANTICIPATION_S
        end = start + chunk.duration
        first = int(np.ceil(start * self.fps))
        last = int(np.floor(end * self.fps))
        if last < first:
            return
        times = np.arange(first, last + 1) / self.fps - start
        if chunk.phonemes:
            controls = mouth_controls(chunk.phonemes, chunk.sample_rate, times)
            # Louder syllables open wider: the phoneme sets the shape, the voice its size.
            controls[:, JAW] *= JAW_FLOOR + (1 - JAW_FLOOR) * loudness(chunk.pcm, chunk.sample_rate, times)
        else:
            controls = mouth_controls_from_audio(chunk.pcm, chunk.sample_rate, times)
        self._speech.append(_Scheduled(first, controls))

    def forget_before(self, frame: int) -> None:
        """Drops speech that has been fully shown (a live engine calls this as it goes)."""
        self._speech = [s for s in self._speech if s.first_frame + len(s.controls) > frame]

    def mouth_at(self, frame: int) -> np.ndarray:
        for s in self._speech:
            i = frame - s.first_frame
            if 0 <= i < len(s.controls):
                return s.controls[i]
        return np.zeros(len(MOUTH_CONTROLS), dtype=np.float32)

    def pose_at(self, frame: int) -> Pose:
        t = self.frame_time(frame)
        mouth = self.mouth_at(frame)
        idle = self.idle.at(t)
        w = np.zeros(len(BASES), dtype=np.float32)
        for control, basis in _MOUTH_TO_BASIS:
            w[basis] = mouth[control]
        w[B["yaw"]] = idle.yaw
        w[B["pitch"]] = idle.pitch + NOD_DEGREES * mouth[JAW]
        w[B["roll"]] = idle.roll
        w[B["breath"]] = idle.breath
        w[B["gaze_x"]] = idle.gaze_x
        w[B["gaze_y"]] = idle.gaze_y
        w[B["brow"]] = idle.brow + BROW_WITH_SPEECH * max(0.0, float(mouth[JAW]) - 0.6)
        return Pose(weights=w, tongue=float(mouth[TONGUE]), blink=(idle.blink, idle.blink))
