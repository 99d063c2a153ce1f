"""`cohost say`: text to an MP4 of the voice and the lip-synced face, rendered by the live engine
itself, unpaced (`realtime=False`) into a file output: what goes on air is what the file holds, and
what the lip-sync test and `cohost bench lipsync` measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.app.build import build_renderer, speaking_voice
from engine.config import Config
from engine.errors import CohostError
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.live.engine import LiveEngine
from engine.live.events import Event, EventKind
from engine.output.base import KEY_COLOR
from engine.output.file import FileOutput
from engine.voice.base import VoiceBackend
from engine.voice.text import normalise

LEAD_IN_S = 0.3  # idle before the first word, so a player shows the face before it speaks
TAIL_S = 0.5
# The clock gives up on a line after this much clock time per character of text (speech takes
# ~0.07 s a character): a voice that hangs ends the clip instead of filling it with idle frames.
LIMIT_S_PER_CHAR = 0.5
LIMIT_MIN_S = 10.0


@dataclass
class Clip:
    path: Path
    seconds: float  # the whole clip, lead-in and tail included
    frames: int
    first_audio_s: float  # from the line being said to its first sound on the clock (wall time)
    render_ms_p50: float


@dataclass
class SayResult:
    clip: Clip
    timings: dict[str, float] = field(default_factory=dict)  # seconds
    warnings: list[str] = field(default_factory=list)


def render_clip(
    text: str,
    renderer: Renderer,
    voice: VoiceBackend,
    path: Path,
    *,
    fps: int,
    av_offset_ms: float = 0.0,
    key_color: tuple[int, int, int] = KEY_COLOR,
) -> Clip:
    """One line through an unpaced live engine into `path` (overwritten): LEAD_IN_S of idle face,
    the line until its last sound and mouth frame, then TAIL_S; a transparent background over
    `key_color`. CohostError when nothing is heard."""
    heard: list[float] = []
    dropped: list[Event] = []

    def watch(event: Event) -> None:
        if event.kind is EventKind.SPEAKING_STARTED and not heard:
            heard.append(time.perf_counter())
        elif event.kind is EventKind.DROPPED:
            dropped.append(event)

    output = FileOutput(path, keep_existing=False, key_color=key_color)
    limit_frames = round(max(LIMIT_MIN_S, LIMIT_S_PER_CHAR * len(text)) * fps)
    with LiveEngine(renderer, voice, [output], fps=fps, av_offset_ms=av_offset_ms, sink=watch,
                    realtime=False) as engine:  # fmt: skip
        engine.run_frames(round(LEAD_IN_S * fps))
        said = time.perf_counter()
        engine.say(text)
        engine.run_until_quiet(limit_frames)
        engine.run_frames(round(TAIL_S * fps))
        status = engine.status()
    if dropped or not heard:
        raise CohostError("the voice produced no speech for this text")
    return Clip(output.path, status.clock_s, status.frames, heard[0] - said, status.render_ms_p50)


def say(
    text: str,
    config: Config,
    out: Path,
    *,
    photo: str | None = None,
    size: tuple[int, int] | None = None,
    fps: int | None = None,
) -> SayResult:
    if not normalise(text):
        raise CohostError("nothing to say: the text has no speakable words")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    avatar = load_portrait(config, photo)
    renderer = build_renderer(config, avatar, size)
    timings["face_setup"] = time.perf_counter() - started

    mark = time.perf_counter()
    voice = speaking_voice(config)
    timings["voice_load"] = time.perf_counter() - mark
    mark = time.perf_counter()
    try:
        clip = render_clip(
            text, renderer, voice, out, fps=fps or config.render.fps, av_offset_ms=config.render.av_offset_ms,
            key_color=config.live.key_color.rgb,
        )  # fmt: skip
    finally:
        voice.close()
    timings["speak_and_encode"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return SayResult(clip, timings, avatar.warnings)
