"""Ducking: chosen audio inputs go down by a set number of dB while the co-host speaks and come back
to exactly the level the user had.

Levels are handled as OBS's volume multipliers (what it stores), so a restore is exact. The levels
to restore are also kept in OBS's profile (obs-websocket persistent data), so that if the engine dies
mid-sentence, its next start puts the user's levels back: a crash never leaves the game audio ducked.
"""

from __future__ import annotations

import logging
import math
import threading

from engine.obs.client import ObsRequestFailed
from engine.obs.sources import Request

LOG = logging.getLogger(__name__)

PERSIST_REALM = "OBS_WEBSOCKET_DATA_REALM_PROFILE"
PERSIST_SLOT = "obs-cohost-ducked"


class Ducker:
    def __init__(self, sources: tuple[str, ...], duck_db: float):
        self.sources = sources
        self.factor = 10.0 ** (duck_db / 20.0)
        self._levels: dict[str, tuple[float, float]] = {}  # source → (user's multiplier, ducked multiplier)
        self._lock = threading.Lock()

    def apply(self, request: Request, want: bool) -> None:
        """Ducks (want=True) or restores. Also called after every (re)connect with the state the engine
        wants: restoring with nothing ducked by this run puts back what an earlier run left ducked."""
        with self._lock:
            if want:
                if not self._levels:
                    self._duck(request)
                return
            levels = self._levels or self._saved(request)
            if levels:
                _restore(request, levels)
                self._levels = {}
                request("SetPersistentData", {"realm": PERSIST_REALM, "slotName": PERSIST_SLOT, "slotValue": {}})

    def _duck(self, request: Request) -> None:
        levels: dict[str, tuple[float, float]] = {}
        for source in self.sources:
            try:
                before = float(request("GetInputVolume", {"inputName": source})["inputVolumeMul"])
            except ObsRequestFailed as e:  # no such input, or one without audio: nothing to duck
                LOG.debug("not ducking %r: %s", source, e.comment)
                continue
            levels[source] = (before, before * self.factor)
        # Saved before any level changes: a crash in between leaves nothing unrestorable.
        request(
            "SetPersistentData",
            {
                "realm": PERSIST_REALM,
                "slotName": PERSIST_SLOT,
                "slotValue": {name: list(pair) for name, pair in levels.items()},
            },
        )
        self._levels = levels
        for source, (_, ducked) in levels.items():
            request("SetInputVolume", {"inputName": source, "inputVolumeMul": ducked})

    @staticmethod
    def _saved(request: Request) -> dict[str, tuple[float, float]]:
        saved = request("GetPersistentData", {"realm": PERSIST_REALM, "slotName": PERSIST_SLOT})["slotValue"] or {}
        if saved:
            LOG.info("restoring audio levels that an earlier run left ducked")
        return {name: (float(pair[0]), float(pair[1])) for name, pair in saved.items()}


def _restore(request: Request, levels: dict[str, tuple[float, float]]) -> None:
    for source, (before, ducked) in levels.items():
        try:
            now = float(request("GetInputVolume", {"inputName": source})["inputVolumeMul"])
        except ObsRequestFailed as e:
            LOG.debug("not restoring %r: %s", source, e.comment)
            continue
        # OBS keeps a float: compare loosely. A level that moved meanwhile is the user's choice: kept.
        if math.isclose(now, ducked, rel_tol=1e-4, abs_tol=1e-7):
            request("SetInputVolume", {"inputName": source, "inputVolumeMul": before})
        else:
            LOG.info("%r was changed while ducked; leaving it at the new level", source)
