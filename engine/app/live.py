"""`cohost live`: the engine, its outputs, OBS control and the control API, until Ctrl-C.

OBS control sits beside the engine, not in it: the engine only emits events, which fan out to the
OBS bridge (subtitles, question overlay, ducking), to the API's event stream and to the conversation
(chat sources → moderation → queue → brain → the engine's voice).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from engine.api.auth import ensure_token
from engine.api.server import ControlApi
from engine.app.build import live_engine, with_played
from engine.config import Config
from engine.live.engine import LiveEngine
from engine.live.events import FanOut
from engine.obs.voice_sync import sync_separate_voice
from engine.output import make_outputs
from engine.secrets import install_log_redaction, register_config_secrets

OBS_CONNECT_TIMEOUT_S = 20.0


def run_live(config: Config, config_path: Path | None, *, use_obs: bool = True) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    register_config_secrets(config)
    token = ensure_token(config, config_path)

    controller = None
    if use_obs:
        from engine.obs.controller import ObsController

        controller = ObsController.from_config(config)
        controller.connect(timeout=OBS_CONNECT_TIMEOUT_S)

    from engine.app.session import conversation_session
    from engine.chat.sources import make_sources

    fan_out = FanOut()
    played = with_played(config, fan_out)
    outputs = make_outputs(config) + ([played] if played else [])
    try:
        with live_engine(config, outputs, sink=fan_out) as engine:
            with conversation_session(config, engine, fan_out, make_sources(config), played=played) as conversation:
                api = ControlApi(conversation, config.api.host, config.api.port, token)
                _run(config, engine, api, controller, fan_out)
    finally:
        if controller is not None:
            controller.close()
    print("cohost live: stopped", flush=True)
    return 0


def _run(config: Config, engine: LiveEngine, api: ControlApi, controller: Any, fan_out: FanOut) -> None:
    bridge = None
    stop = threading.Event()
    try:
        engine.open()  # before the run: the virtualcam voice's latency is known once its device is open
        sync_separate_voice(controller, engine.outputs, config.obs.voice_source, engine.fps)
        if controller is not None:
            from engine.obs.bridge import ObsBridge

            bridge = ObsBridge(controller, heard_caption=config.hearing.enabled)
            fan_out.sinks.append(bridge)
        api.start()
        fan_out.sinks.append(api.publish)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        where = f"OBS at {controller.address}" if controller is not None else "no OBS"
        chat = ", ".join(config.chat.sources) or "the API bridge only"
        print(
            f"cohost live: {engine.width}x{engine.height} at {engine.fps} fps into {', '.join(config.live.outputs)}; "
            f"{where}; chat from {chat}; brain {config.brain.backend}; control API {api.url} "
            "(token in your config). Ctrl-C stops.",
            flush=True,
        )
        engine.run(stop)
    finally:
        api.stop()
        if bridge is not None:
            bridge.close()
