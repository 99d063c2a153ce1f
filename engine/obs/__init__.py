"""OBS control over obs-websocket v5: the co-host's sources, subtitles, question overlay and ducking
(controller.py), the live engine's events shown in OBS (bridge.py)."""

from engine.obs.client import ObsRequestFailed, ObsUnavailable
from engine.obs.controller import ObsController
from engine.obs.sources import ObsSetup

__all__ = ["ObsController", "ObsRequestFailed", "ObsSetup", "ObsUnavailable"]
