"""A bilingual co-host ([persona] languages = ["en", "zh"]): each viewer is answered in the language
of their message, with that language's voice (espeak-ng's English here, as in every conversation
test, and the offline Chinese voice), and the same face. What was said is checked in the sound
itself: Whisper base (multilingual) hears each answer back."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from engine.app.hearing import heard_languages
from engine.chat.message import ChatMessage
from engine.hearing.asr import load_transcriber
from engine.hearing.audio_in import Resampler
from engine.language import detect_language
from engine.output.base import Output
from tests.harness.live import Heard, small_conversation


class Sound(Output):
    """Keeps the engine's sound, from the clock's first sample."""

    name = "sound"

    def __init__(self) -> None:
        self.rate = 0
        self._blocks: list[np.ndarray] = []
        self._lock = threading.Lock()

    def open(self, width: int, height: int, fps: int, sample_rate: int) -> None:
        self.rate = sample_rate

    def write(self, frame: np.ndarray, pcm: np.ndarray, sample: int) -> None:
        with self._lock:
            self._blocks.append(pcm.copy())

    def close(self) -> None:
        pass

    def between(self, start: int, end: int) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._blocks)[start:end]


def test_an_english_and_a_chinese_question_get_answers_in_their_own_language_and_voice(config):
    bilingual = dataclasses.replace(config, persona=dataclasses.replace(config.persona, languages=["en", "zh"]))
    heard, sound = Heard(), Sound()
    with small_conversation(bilingual, outputs=[sound]) as conversation:
        conversation.sinks.append(heard)
        assert conversation.receive(ChatMessage("twitch", "ann", "Nova, who are you?", user_id="ann")) == "queued"
        heard.wait("speaking_ended", 1, timeout=60)
        assert conversation.receive(ChatMessage("bilibili", "li", "Nova，你是谁？", user_id="li")) == "queued"
        heard.wait("speaking_ended", 2, timeout=60)
    started, ended = heard.of("speaking_started"), heard.of("speaking_ended")
    answers = [e.text for e in ended]
    assert [detect_language(text, ["en", "zh"], "") for text in answers] == ["en", "zh"], answers

    hearing = dataclasses.replace(bilingual.hearing, model="base", language="auto")
    whisper = load_transcriber(hearing, bilingual.models, [])
    spoken = [
        whisper.transcribe(Resampler(sound.rate)(_floats(sound.between(s.sample, e.sample))))
        for s, e in zip(started, ended)
    ]
    assert [detect_language(text, ["en", "zh"], "") for text in spoken] == ["en", "zh"], spoken


def _floats(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768


def test_hearing_follows_the_languages_the_co_host_answers_in(config):
    def heard(language: str, languages: list[str]) -> tuple[str, str]:
        persona = dataclasses.replace(config.persona, language=language, languages=languages)
        hearing = heard_languages(dataclasses.replace(config, persona=persona))
        return hearing.model, hearing.language

    assert heard("en", []) == ("tiny.en", "en")
    assert heard("en", ["en", "zh"]) == ("base", "auto")
    assert heard("zh", []) == ("base", "zh")
    chosen = dataclasses.replace(config.hearing, model="base", language="zh")
    assert heard_languages(dataclasses.replace(config, hearing=chosen)) == chosen  # a model chosen stays
