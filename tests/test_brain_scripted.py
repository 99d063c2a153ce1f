"""ScriptedBrain: thanks, greetings, FAQ answers and honest non-answers, in English and Chinese."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.brain.base import BrainRequest
from engine.brain.scripted import ScriptedBrain, load_script
from engine.brain.sentences import SentenceSplitter
from engine.chat.message import ChatMessage
from engine.errors import CohostError
from engine.moderation.text import TextFilter


@pytest.fixture(scope="module")
def nova(config) -> ScriptedBrain:  # type: ignore[no-untyped-def]
    return ScriptedBrain(dataclasses.replace(config.persona, name="Nova", language="en", faq_file=""))


@pytest.fixture(scope="module")
def xiaoyu(config) -> ScriptedBrain:  # type: ignore[no-untyped-def]
    return ScriptedBrain(dataclasses.replace(config.persona, name="小雨", language="zh", faq_file=""))


def chat(text: str, user: str = "ana", **fields: object) -> ChatMessage:
    return ChatMessage("twitch", user, text, **fields)  # type: ignore[arg-type]


def test_gift_is_thanked_by_name_and_gift(nova: ScriptedBrain) -> None:
    thanks = nova.answer(chat("Rocket x2", kind="gift"))
    assert thanks == "Thank you so much for the Rocket x2, ana! That's really kind."


def test_superchat_is_thanked_with_its_amount_and_its_question_answered(nova: ScriptedBrain) -> None:
    answer = nova.answer(chat("who are you?", kind="superchat", amount=5.0, currency="USD"))
    assert answer.startswith("Thank you for the 5 USD, ana!")
    assert "I'm Nova, the AI co-host" in answer


def test_bits_in_a_chat_message_are_thanked_too(nova: ScriptedBrain) -> None:
    assert "100 bits, bob" in nova.answer(chat("cheer100 go go", user="bob", amount=100.0, currency="bits"))


def test_new_member_is_welcomed_by_name(nova: ScriptedBrain) -> None:
    assert "bob" in nova.answer(chat("", user="bob", kind="member"))


@pytest.mark.parametrize("text", ["hi", "Hello Nova!", "hey everyone", "good morning @Nova"])
def test_greeting_gets_a_greeting_with_the_viewers_name(nova: ScriptedBrain, text: str) -> None:
    assert nova.answer(chat(text)) in [g.format(user="ana", name="Nova") for g in nova.scripts["en"].greetings]


@pytest.mark.parametrize("text", ["who r u?", "Who are yuo", "wht is ur name", "WHAT IS YOUR NAME NOVA"])
def test_faq_question_is_found_despite_typos_and_shorthand(nova: ScriptedBrain, text: str) -> None:
    assert nova.answer(chat(text)) == "I'm Nova, the AI co-host of this stream. I read chat and answer out loud."


@pytest.mark.parametrize("text", ["how old are you", "how tall are you", "what is your favourite name"])
def test_a_question_with_a_word_the_faq_lacks_is_not_taken_for_a_faq_question(nova: ScriptedBrain, text: str) -> None:
    assert nova.answer(chat(text)) in [n.format(user="ana") for n in nova.scripts["en"].non_answers]


def test_filler_words_do_not_stop_a_faq_match(nova: ScriptedBrain) -> None:
    assert nova.answer(chat("how are you today")) == nova.answer(chat("how are you"))


def test_greeting_with_a_question_answers_the_question(nova: ScriptedBrain) -> None:
    assert nova.answer(chat("hi, are you an AI?")).startswith("Yes, I'm an AI, ana.")


def test_unknown_question_gets_an_honest_non_answer_naming_the_viewer(nova: ScriptedBrain) -> None:
    answer = nova.answer(chat("What is the capital of France?"))
    assert answer in [n.format(user="ana") for n in nova.scripts["en"].non_answers]


def test_answers_are_the_same_in_every_process(config) -> None:
    """str hashes differ between processes; the scripted choice must not."""
    code = (
        "from engine.config import load_config; from engine.brain.scripted import ScriptedBrain;"
        "from engine.chat.message import ChatMessage;"
        "b = ScriptedBrain(load_config().persona);"
        "print([b.answer(ChatMessage('twitch', u, t)) for u in ('ana', 'bob', 'cy') for t in ('hi', 'why?')])"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(runs) == 1


def test_chinese_persona_answers_in_chinese(xiaoyu: ScriptedBrain) -> None:
    assert xiaoyu.answer(ChatMessage("bilibili", "小明", "你是谁？")).startswith("我是小雨，这个直播间的AI主播助手")
    assert xiaoyu.answer(ChatMessage("bilibili", "小明", "辣条", kind="gift")) == "谢谢小明送的辣条！太感谢了。"
    assert "小明" in xiaoyu.answer(ChatMessage("bilibili", "小明", "你好"))
    assert "小明" in xiaoyu.answer(ChatMessage("bilibili", "小明", "今天吃什么"))


def test_stream_yields_word_by_word_and_splits_into_the_answers_sentences(nova: ScriptedBrain) -> None:
    message = chat("are you an ai")
    pieces = list(nova.stream(BrainRequest(message), threading.Event()))
    assert len(pieces) == len(nova.answer(message).split())
    splitter = SentenceSplitter()
    sentences = [s for piece in pieces for s in splitter.feed(piece)] + splitter.flush()
    assert sentences == [
        "Yes, I'm an AI, ana.", "A computer program with a synthesized voice and an animated face, not a person.",
    ]  # fmt: skip


def test_stream_stops_at_cancel(nova: ScriptedBrain) -> None:
    cancel = threading.Event()
    stream = nova.stream(BrainRequest(chat("how do you work?")), cancel)
    assert next(stream)
    cancel.set()
    assert list(stream) == []


def test_own_faq_file_replaces_the_builtin_questions(config, tmp_path: Path) -> None:
    faq = tmp_path / "faq.toml"
    faq.write_text(
        'greetings = ["Yo {user}!"]\n'
        '[[faq]]\nquestion = "when do you stream"\nanswer = "Every Friday at eight, {user}."\n',
        encoding="utf-8",
    )
    brain = ScriptedBrain(dataclasses.replace(config.persona, faq_file=str(faq)))
    assert brain.answer(chat("When do u stream?")) == "Every Friday at eight, ana."
    assert brain.answer(chat("hello")) == "Yo ana!"
    assert brain.answer(chat("who are you")) in [n.format(user="ana") for n in brain.scripts["en"].non_answers]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[[faq]]\nquestion = 'x'\n", "faq entry 1 needs question (or questions) and answer strings"),
        ("greetings = 'hi'\n", "greetings must be a non-empty list of strings"),
        ("thanks_gift = 'Thanks {viewer}'\n", "'Thanks {viewer}' has a placeholder other than {user}, {name}"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("[[faq\n", "is not valid TOML"),
    ],
)
def test_bad_faq_file_is_a_one_line_error_naming_the_file(config, tmp_path: Path, content: str, problem: str) -> None:
    faq = tmp_path / "my-faq.toml"
    faq.write_text(content, encoding="utf-8")
    with pytest.raises(CohostError) as caught:
        ScriptedBrain(dataclasses.replace(config.persona, faq_file=str(faq)))
    assert str(faq) in str(caught.value) and problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_faq_file_is_named(config, tmp_path: Path) -> None:
    with pytest.raises(CohostError, match=f"cannot read FAQ file {tmp_path / 'none.toml'}: No such file"):
        ScriptedBrain(dataclasses.replace(config.persona, faq_file=str(tmp_path / "none.toml")))


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_line_the_scripted_brain_can_say_passes_the_output_filter(config, language: str) -> None:
    """The scripted brain answers whenever the LLM fails: if moderation refused one of its own lines
    (a non-answer read as self-harm, say), the co-host would fall silent exactly then."""
    script = load_script(language)
    values = {"user": "viewer7", "name": "Nova", "gift": "rose", "amount": "5 USD"}
    lines = [*script.greetings, script.thanks_gift, script.thanks_superchat, script.thanks_member,
             *script.non_answers, *(entry.answer for entry in script.faq)]  # fmt: skip
    text_filter = TextFilter(config.moderation, None, names=["Nova"])
    refused = []
    for line in lines:
        splitter = SentenceSplitter()
        for sentence in [*splitter.feed(line.format(**values)), *splitter.flush()]:
            verdict = text_filter.check_output(sentence)
            if not verdict.ok:
                refused.append(f"{sentence!r}: {verdict.reason}")
    assert not refused, refused
