import pytest

from engine.language import detect_language, script

ZH_EN = ("zh", "en")
ALL = ("zh", "en", "ja", "ko")


@pytest.mark.parametrize("text", ["今天玩什么游戏？", "主播晚上好", "好的呀"])
def test_chinese_line_is_zh(text):
    assert detect_language(text, ZH_EN, "en") == "zh"


@pytest.mark.parametrize("text", ["What are we playing today?", "lol", "don't stop"])
def test_english_line_is_en(text):
    assert detect_language(text, ZH_EN, "zh") == "en"


@pytest.mark.parametrize("text", ["我超喜欢iPhone", "我用OBS直播", "今天用OBS和Streamlabs直播"])
def test_chinese_line_with_english_brands_is_zh(text):
    assert detect_language(text, ZH_EN, "en") == "zh"


@pytest.mark.parametrize("text", ["I really love 火锅 so much", "Can you say 你好 again?"])
def test_english_line_with_one_chinese_word_is_en(text):
    assert detect_language(text, ZH_EN, "zh") == "en"


@pytest.mark.parametrize("default", ["zh", "en"])
def test_evenly_mixed_line_gets_the_default(default):
    assert detect_language("hi 你好", ZH_EN, default) == default


@pytest.mark.parametrize("text", ["😀🔥👍", "12345 !!!", "", "ok", "好", "@somebody https://twitch.tv/somebody"])
def test_short_or_scriptless_line_gets_the_default(text):
    assert detect_language(text, ZH_EN, "en") == "en"
    assert detect_language(text, ZH_EN, "zh") == "zh"


def test_links_and_mentions_do_not_count_as_english():
    assert detect_language("@streamer_name 看看 https://www.example.com/some/long/path 好吗", ZH_EN, "en") == "zh"


def test_kana_make_a_line_japanese_only_when_ja_is_configured():
    line = "今日はいい天気ですね"
    assert detect_language(line, ALL, "en") == "ja"
    assert detect_language(line, ZH_EN, "en") == "en"  # its kana belong to no configured language


def test_hangul_is_korean():
    assert detect_language("안녕하세요 여러분", ALL, "en") == "ko"


def test_a_script_whose_language_is_not_configured_gives_the_default():
    assert detect_language("What are we playing today?", ("zh",), "zh") == "zh"


@pytest.mark.parametrize(
    "char, name",
    [("a", "latin"), ("é", "latin"), ("Ｏ", "latin"), ("中", "han"), ("〇", "han"), ("の", "kana"),
     ("한", "hangul"), ("1", None), ("，", None), ("😀", None), ("×", None)],
)  # fmt: skip
def test_script_of_a_character(char, name):
    assert script(char) == name
