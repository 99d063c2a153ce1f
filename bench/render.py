"""`cohost bench render`: milliseconds per frame while the co-host speaks.

Renders the default avatar through the real animator, driven by a phoneme timeline that cycles
through every viseme at a fast speaking rate (12 phonemes/s, mouth interior drawn), once with
OpenCV held to one thread and once with its default thread count. Encoding is not included.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from bench import save_json
from engine.cli_args import CliParser, parse_size
from engine.config import load_config
from engine.errors import CohostError
from engine.face.animator import Animator
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.voice.base import SpeechChunk, TimedPhoneme

SAMPLE_RATE = 22050
PHONEMES_PER_S = 12
# One IPA symbol per viseme, so the timeline visits every mouth shape.
_CYCLE = ["p", "a", "f", "e", "θ", "i", "t", "o", "k", "u", "ʃ", "æ", "s", "ɪ", "n", "ɔ", "ɹ", "ʊ", "_"]
DEFAULT_SIZES = ((1280, 720), (1920, 1080))


def speaking_chunk(seconds: float) -> SpeechChunk:
    step = SAMPLE_RATE // PHONEMES_PER_S
    n = int(seconds * PHONEMES_PER_S)
    phonemes = [TimedPhoneme(_CYCLE[i % len(_CYCLE)], i * step, (i + 1) * step) for i in range(n)]
    # A voiced buzz, so the jaw opens as it would for real speech (loudness scales it).
    buzz = (8000 * np.sin(2 * np.pi * 220 * np.arange(n * step) / SAMPLE_RATE)).astype(np.int16)
    return SpeechChunk(buzz, SAMPLE_RATE, "bench", phonemes)


def time_frames(renderer: Renderer, frames: int, warmup: int = 20) -> np.ndarray:
    fps = 30
    animator = Animator(fps, SAMPLE_RATE)
    animator.add_speech(speaking_chunk((frames + warmup) / fps + 1), 0)
    out = renderer.base.copy()
    times = []
    for k in range(frames + warmup):
        pose = animator.pose_at(k)
        start = time.perf_counter()
        renderer.render_into(out, pose)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times[warmup:])


def run(sizes: tuple[tuple[int, int], ...], frames: int) -> dict:
    avatar = load_portrait(load_config())
    default_threads = cv2.getNumThreads()
    results = []
    for width, height in sizes:
        start = time.perf_counter()
        renderer = Renderer(avatar.image, avatar.landmarks, (width, height))
        setup_s = time.perf_counter() - start
        for threads in (1, default_threads):
            cv2.setNumThreads(threads)
            ms = time_frames(renderer, frames)
            results.append({
                "size": f"{width}x{height}", "opencv_threads": threads, "frames": frames,
                "median_ms": round(float(np.median(ms)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
                "max_ms": round(float(ms.max()), 3), "rig_setup_s": round(setup_s, 3),
            })  # fmt: skip
    cv2.setNumThreads(default_threads)
    return {"benchmark": "render", "avatar": str(avatar.path), "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench render", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=parse_size, action="append", metavar="WxH", help="repeatable; default 1280x720 and 1920x1080"
    )
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    if args.frames < 10:
        raise CohostError("--frames must be at least 10")
    report = run(tuple(args.size or DEFAULT_SIZES), args.frames)
    print(f"{'size':>10} {'threads':>7} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for r in report["results"]:
        print(
            f"{r['size']:>10} {r['opencv_threads']:>7} {r['median_ms']:>10.2f} {r['p95_ms']:>8.2f} {r['max_ms']:>8.2f}"
        )
    save_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
