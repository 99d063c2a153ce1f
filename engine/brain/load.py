"""Builds the brain that [brain] backend names."""

from __future__ import annotations

from engine.brain.base import Brain
from engine.brain.fallback import FallbackBrain
from engine.brain.local import LocalBrain
from engine.brain.openai import OpenAIBrain
from engine.brain.scripted import ScriptedBrain
from engine.config import Config

BACKENDS = ("openai", "local", "scripted")


def load_brain(config: Config) -> Brain:
    """ "scripted" alone, or an LLM backend with the scripted brain answering whenever the LLM fails or is
    silent for [brain] first_token_timeout_s.

    Raises CohostError for a bad FAQ file, and for "local" BrainError when
    llama-cpp-python is missing or the model does not load (MissingModel when there is no model file):
    the caller decides whether to stop or to go on with ScriptedBrain alone.
    """
    brain, persona = config.brain, config.persona
    scripted = ScriptedBrain(persona)
    if brain.backend == "scripted":
        return scripted
    if brain.backend == "openai":
        primary: Brain = OpenAIBrain(brain, persona)
    else:  # "local", the last backend [brain] backend may name
        primary = LocalBrain(brain, persona, config.models)
    return FallbackBrain(primary, scripted, brain.first_token_timeout_s)
