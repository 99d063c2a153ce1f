"""`cohost bench lipsync`: how well the mouth follows the voice, measured on rendered video.

Renders a few sentences with the configured avatar and voice through the live engine, unpaced, into
its file output (`cohost say`: what goes on air), re-detects the mouth on the video and
cross-correlates its opening with the speech loudness (MASS, engine/analysis/lipsync.py); then does
the same for the two controls that must fail: a frozen mouth and one 200 ms late.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path

from bench import save_json
from engine.analysis.controls import FrozenMouthRenderer
from engine.analysis.lipsync import measure_file
from engine.app.say import render_clip
from engine.cli_args import CliParser, parse_size
from engine.config import load_config
from engine.face.portrait import load_portrait
from engine.face.renderer import Renderer
from engine.models import resolve
from engine.voice import load_voice

TEXT = (
    "Hello chat, thanks for the follow! Today we are testing an AI co-host that speaks your "
    "messages out loud. Let me know what you think of the new voice."
)
# case: (renderer class, A/V offset in ms)
CASES = {"synced": (Renderer, 0.0), "frozen mouth": (FrozenMouthRenderer, 0.0), "mouth 200 ms late": (Renderer, 200.0)}


def run(size: tuple[int, int], fps: int) -> dict:
    config = load_config()
    avatar = load_portrait(config)
    face_model = resolve("face_landmarker", config.models).files["model"]
    voice = load_voice(config.voice, config.models)
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, (renderer_class, av_offset_ms) in CASES.items():
                renderer = renderer_class(avatar.image, avatar.landmarks, size)
                clip = render_clip(TEXT, renderer, voice, Path(tmp) / "clip.mp4", fps=fps, av_offset_ms=av_offset_ms)
                report = measure_file(clip.path, face_model)
                results[name] = {**asdict(report), "passed": report.passed}
    finally:
        voice.close()
    return {
        "benchmark": "lipsync",
        "voice": config.voice.backend,
        "size": f"{size[0]}x{size[1]}",
        "fps": fps,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench lipsync", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=(640, 360), metavar="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    report = run(args.size, args.fps)
    print(f"{'case':<18} {'lag ms':>7} {'r':>6} {'conf':>6} {'opens':>6} {'rest':>6}  verdict")
    for name, r in report["results"].items():
        rest = "-" if r["pause_rest"] is None else f"{r['pause_rest']:.3f}"
        verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"])
        print(
            f"{name:<18} {r['lag_ms']:>+7.1f} {r['r']:>6.2f} {r['conf']:>6.2f} {r['speech_open']:>6.3f} {rest:>6}  {verdict}"
        )
    save_json(args.json, report)
    return 0
