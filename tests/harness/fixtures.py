"""pytest fixtures over the harness: one service per test module (OBS is heavy on a 2-core machine).

tests/conftest.py registers this module as a pytest plugin, so a test asks for them by name.

`obs` is a headless OBS with obs-websocket on a free port, password OBS_PASSWORD, its audio on the
module's `pulse` server. A module that needs other OBS options (scripts, no password) builds its own
ObsProcess in a module-scoped fixture of its own, the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .obs import ObsProcess
from .process import free_port
from .pulse import PulseServer
from .rtmp import RtmpServer

OBS_PASSWORD = "harness-ws-password"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    with PulseServer(tmp_path_factory.mktemp("pulse")) as server:
        yield server


@pytest.fixture(scope="module")
def rtmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtmpServer]:
    with RtmpServer(tmp_path_factory.mktemp("rtmp")) as server:
        yield server


@pytest.fixture(scope="module")
def obs(tmp_path_factory: pytest.TempPathFactory, pulse: PulseServer) -> Iterator[ObsProcess]:
    with ObsProcess(tmp_path_factory.mktemp("obs-home"), free_port(), password=OBS_PASSWORD, env=pulse.env) as process:
        yield process
