"""load_brain: the backend [brain] names, with the scripted brain behind every LLM."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from engine.brain.base import BrainError
from engine.brain.fallback import FallbackBrain
from engine.brain.load import load_brain
from engine.brain.local import LocalBrain
from engine.brain.openai import OpenAIBrain
from engine.brain.scripted import ScriptedBrain
from tests.harness.llama import requires_llama_cpp


def with_backend(config, backend: str, **brain):  # type: ignore[no-untyped-def]
    return dataclasses.replace(config, brain=dataclasses.replace(config.brain, backend=backend, **brain))


def test_scripted_backend_is_the_scripted_brain_alone(config) -> None:
    assert isinstance(load_brain(with_backend(config, "scripted")), ScriptedBrain)


def test_openai_backend_falls_back_to_the_scripted_brain(config) -> None:
    brain = load_brain(with_backend(config, "openai", first_token_timeout_s=2.5))
    assert isinstance(brain, FallbackBrain)
    assert isinstance(brain.primary, OpenAIBrain) and isinstance(brain.fallback, ScriptedBrain)
    assert (brain.name, brain.first_token_timeout_s) == ("openai", 2.5)


@requires_llama_cpp
def test_local_backend_loads_the_bundled_model_behind_a_fallback(config) -> None:
    brain = load_brain(with_backend(config, "local"))
    try:
        assert isinstance(brain, FallbackBrain) and isinstance(brain.primary, LocalBrain)
        assert brain.name == "local"
    finally:
        brain.close()


def test_local_backend_without_llama_cpp_fails_at_load(config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(BrainError, match="python3 install.py --llm"):
        load_brain(with_backend(config, "local"))


def test_api_key_never_shows_in_the_brain_or_its_config(config) -> None:
    brain = load_brain(with_backend(config, "openai", api_key="sk-secret-999"))
    assert "sk-secret-999" not in repr(brain.primary.__dict__)  # type: ignore[attr-defined]
