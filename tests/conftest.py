"""Shared fixtures. Every test runs offline, with its own model cache and no user config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["COHOST_OFFLINE"] = "1"  # models never download in tests

# The harness's fixtures (obs, pulse, rtmp, llama, fake_server), found by name in every test module.
pytest_plugins = ["tests.harness.fixtures", "tests.harness.llama", "tests.harness.web"]


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["COHOST_MODEL_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))  # the question queue


@pytest.fixture(scope="session")
def config(isolated_home: None):
    from engine.config import load_config

    return load_config()


@pytest.fixture(scope="session")
def face_model(config) -> Path:
    from engine.models import resolve

    return resolve("face_landmarker", config.models).files["model"]


@pytest.fixture(scope="session")
def piper_voice(config):
    from engine.voice import load_voice

    voice = load_voice(config.voice, config.models)
    yield voice
    voice.close()
