"""`cohost say`: text to an MP4 of the voice and the lip-synced face, on one sample clock."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.config import Config
from engine.errors import CohostError
from engine.face.animator import Animator
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.live.track import SENTENCE_GAP_S
from engine.media.mp4 import Mp4Writer
from engine.voice import load_voice
from engine.voice.base import SpeechChunk
from engine.voice.text import normalise

LEAD_IN_S = 0.3  # idle before the first word, so a player shows the face before it speaks
TAIL_S = 0.5
HOLD_BACK_S = 0.1  # frames wait this long for audio, so a negative A/V offset can still lead


@dataclass
class SayResult:
    path: Path
    audio_seconds: float
    frames: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds, or ms where named *_ms
    warnings: list[str] = field(default_factory=list)


def render_speech(
    chunks: Iterable[SpeechChunk],
    renderer: Renderer,
    writer: Mp4Writer,
    *,
    av_offset_ms: float = 0.0,
    animate_mouth: bool = True,
    on_frame_ms: Callable[[float], None] | None = None,
) -> int:
    """Writes speech and the matching frames as each chunk arrives; returns the samples written.

    `animate_mouth=False` leaves the mouth at rest (idle motion only): a control that lip-sync
    tests render to prove their measurement can fail.
    """
    sr, fps = writer.sample_rate, writer.fps
    animator = Animator(fps, sr, av_offset_ms=av_offset_ms)
    frame_buffer = renderer.base.copy()
    clock = 0
    frame = 0

    def audio(pcm: np.ndarray) -> None:
        nonlocal clock
        writer.write_audio(pcm)
        clock += len(pcm)

    def frames_until(seconds: float) -> None:
        nonlocal frame
        while frame / fps < seconds:
            start = time.perf_counter()
            renderer.render_into(frame_buffer, animator.pose_at(frame))
            if on_frame_ms:
                on_frame_ms((time.perf_counter() - start) * 1000)
            writer.write_frame(frame_buffer)
            frame += 1

    audio(np.zeros(int(LEAD_IN_S * sr), np.int16))
    for i, chunk in enumerate(chunks):
        if chunk.sample_rate != sr:
            raise CohostError(f"voice changed sample rate mid-speech ({chunk.sample_rate} Hz, expected {sr} Hz)")
        if i:
            audio(np.zeros(int(SENTENCE_GAP_S * sr), np.int16))
        if animate_mouth:
            animator.add_speech(chunk, clock)
        audio(chunk.pcm)
        frames_until(clock / sr - HOLD_BACK_S)
        animator.forget_before(frame)
    audio(np.zeros(int(TAIL_S * sr), np.int16))
    frames_until(clock / sr)
    return clock


def render_to_file(chunks: list[SpeechChunk], renderer: Renderer, path: Path, fps: int, **options) -> Path:
    """The chunks rendered to an MP4 at the renderer's size (options as for render_speech)."""
    with Mp4Writer(path, *renderer.size, fps, chunks[0].sample_rate) as writer:
        render_speech(chunks, renderer, writer, **options)
    return path


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
    width, height = size or (config.render.width, config.render.height)
    fps = fps or config.render.fps
    timings: dict[str, float] = {}
    started = time.perf_counter()

    avatar = load_portrait(config, photo)
    renderer = Renderer(avatar.image, avatar.landmarks, (width, height))
    timings["face_setup"] = time.perf_counter() - started

    mark = time.perf_counter()
    voice = load_voice(config.voice, config.models)
    timings["voice_load"] = time.perf_counter() - mark

    frame_ms: list[float] = []
    synth_start = time.perf_counter()
    first_chunk: list[float] = []

    def timed_chunks() -> Iterable[SpeechChunk]:
        for chunk in voice.stream(text):
            if not first_chunk:
                first_chunk.append(time.perf_counter() - synth_start)
            yield chunk

    try:
        with Mp4Writer(out, width, height, fps, voice.sample_rate) as writer:
            samples = render_speech(
                timed_chunks(), renderer, writer, av_offset_ms=config.render.av_offset_ms, on_frame_ms=frame_ms.append
            )
        frames = writer.frames_written
    finally:
        voice.close()
    if not first_chunk:
        raise CohostError("the voice produced no speech for this text")
    timings["first_audio"] = first_chunk[0]
    timings["speak_and_encode"] = time.perf_counter() - synth_start
    timings["render_ms_median"] = statistics.median(frame_ms)
    timings["total"] = time.perf_counter() - started
    return SayResult(out, samples / voice.sample_rate, frames, timings, avatar.warnings)
