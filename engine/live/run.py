"""`cohost live`: the engine, its outputs, OBS control and the control API, until Ctrl-C.

OBS control sits beside the engine, not in it: the engine only emits events, which fan out to the
OBS bridge (subtitles, question overlay, ducking) and to the API's event stream.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from engine.api.auth import ensure_token
from engine.api.server import ControlApi
from engine.config import Config
from engine.live.engine import LiveEngine
from engine.live.events import Event, EventSink
from engine.obs.voice_sync import sync_virtualcam_voice
from engine.output import make_outputs
from engine.secrets import install_log_redaction, register_config_secrets

LOG = logging.getLogger("cohost.live")
OBS_CONNECT_TIMEOUT_S = 20.0


class FanOut:
    """One EventSink feeding several; a failing sink is logged, never allowed to stop the engine."""

    def __init__(self) -> None:
        self.sinks: list[EventSink] = []

    def __call__(self, event: Event) -> None:
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception:
                LOG.exception("event %s not delivered to %r", event.kind, sink)


def run_live(config: Config, config_path: Path | None, *, use_obs: bool = True) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    register_config_secrets(config)
    token = ensure_token(config, config_path)

    controller = bridge = None
    if use_obs:
        from engine.obs.bridge import ObsBridge
        from engine.obs.controller import ObsController

        controller = ObsController.from_config(config)
        controller.connect(timeout=OBS_CONNECT_TIMEOUT_S)

    fan_out = FanOut()
    engine = LiveEngine(config, make_outputs(config), sink=fan_out)
    api = ControlApi(engine, config.api.host, config.api.port, token)
    stop = threading.Event()
    try:
        engine.open()  # before the run: the virtualcam voice's latency is known once its device is open
        sync_virtualcam_voice(controller, engine.outputs, config.obs.voice_source, engine.fps)
        if controller is not None:
            bridge = ObsBridge(controller)
            fan_out.sinks.append(bridge)
        api.start()
        fan_out.sinks.append(api.publish)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        where = f"OBS at {controller.address}" if controller is not None else "no OBS"
        print(
            f"cohost live: {engine.width}x{engine.height} at {engine.fps} fps into {', '.join(config.live.outputs)}; "
            f"{where}; control API {api.url} (token in your config). Ctrl-C stops.",
            flush=True,
        )
        engine.run(stop)
    finally:
        api.stop()
        if bridge is not None:
            bridge.close()
        if controller is not None:
            controller.close()
        engine.close()
    print("cohost live: stopped", flush=True)
    return 0
