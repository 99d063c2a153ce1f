"""Test harness: real services started on free loopback ports in temporary directories.

- ObsProcess: a headless OBS Studio (own Xvfb, own HOME, obs-websocket on), with ObsClient to talk to it;
- RtmpServer: nginx with the rtmp module, recording every stream it receives (what viewers would get);
- PulseServer: a headless PulseAudio daemon with the project's null sinks and virtual microphone.

Each is a plain class with start()/stop() and `with` support, usable from any test runner; pytest
fixtures built on them are in tests/harness/fixtures.py. Every process is started in its own process
group and stopped by its id.
"""

from .obs import ObsClient, ObsProcess, ObsRequestError, ObsScript
from .process import free_port
from .pulse import PulseServer
from .rtmp import RtmpServer

__all__ = ["ObsClient", "ObsProcess", "ObsRequestError", "ObsScript", "PulseServer", "RtmpServer", "free_port"]
