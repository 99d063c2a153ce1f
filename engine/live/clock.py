"""The live engine's one clock: audio samples produced. Video frames and audio blocks are cut from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleClock:
    """Frame k is shown at sample floor(k * sample_rate / fps), and block k is the audio from there to
    frame k+1's sample. Integer arithmetic, so blocks tile the clock exactly at any rate pair
    (22050/30 = 735 every time; 22050/24 alternates 918 and 919) and nothing drifts over a day."""

    sample_rate: int
    fps: int

    def frame_sample(self, frame: int) -> int:
        return frame * self.sample_rate // self.fps

    def block(self, frame: int) -> tuple[int, int]:
        """First sample of frame `frame`'s audio block and one past its last."""
        return self.frame_sample(frame), self.frame_sample(frame + 1)

    def first_frame_from(self, sample: int) -> int:
        """The first frame whose block starts at or after `sample`."""
        return -(-sample * self.fps // self.sample_rate)

    def seconds(self, sample: int) -> float:
        return sample / self.sample_rate
