"""Lines the voice of an output whose sound travels apart from its picture (`virtualcam`) up with
the picture in OBS.

The engine hands frame k and the sound that goes with it to the output at the same moment T; they
reach OBS by two roads:

- the picture, through the virtual camera, is on screen about one frame later. On Linux a
  v4l2loopback write is readable at once and OBS's v4l2 source stamps the frame ~T; on Windows and
  macOS OBS's Virtual Camera hands frames over on its frame interval (0..1 frame). Either way OBS
  then shows an async video frame about one canvas frame after sound of the same timestamp (measured
  on the Media Source: 36 ms at 30 fps, see [obs] avatar_sync_offset_ms). Estimate: one frame,
  ±half a frame.
- the voice waits in the output's buffer (its 80 ms prefill) and the device's own latency before it
  is played into the sink or cable; OBS's capture of that stamps it when played, ~T + latency_ms.

OBS adds an input's sync offset to its audio timestamps, so the offset that puts the voice back on its
frame is the picture's delay minus the voice's: negative (the voice is the later one), e.g.
33 - 100 = -67 ms. OBS takes -950..20000 ms and honours a negative offset by buffering more audio.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from engine.obs.controller import SYNC_OFFSET_MAX_MS, SYNC_OFFSET_MIN_MS, ObsController
from engine.output.base import Output

LOG = logging.getLogger(__name__)

PICTURE_DELAY_FRAMES = 1.0  # see the module doc


def voice_sync_offset_ms(voice_latency_ms: float, fps: float) -> int:
    """The sync offset for the voice's OBS input: picture delay minus voice delay, in whole ms, within
    what OBS accepts."""
    picture_ms = PICTURE_DELAY_FRAMES * 1000.0 / fps
    return max(SYNC_OFFSET_MIN_MS, min(SYNC_OFFSET_MAX_MS, round(picture_ms - voice_latency_ms)))


def sync_separate_voice(
    controller: ObsController | None, outputs: Sequence[Output], voice_source: str, fps: float
) -> int | None:
    """Once the outputs are open (the voice's latency is measured then): for the output whose sound
    travels apart from its picture (virtualcam), sets `voice_source`'s sync offset in OBS, kept across
    OBS restarts by the controller. Without OBS control or a voice_source, one info line says what to
    do. Returns the offset, None when no open output has a separate voice."""
    routes = [(output.name, route) for output in outputs if (route := output.audio_route()) is not None]
    if not routes:
        return None
    name, route = routes[0]
    offset = voice_sync_offset_ms(route.latency_ms, fps)
    late = f"voice {route.latency_ms:.0f} ms, picture ~{1000 / fps:.0f} ms from the engine to OBS"
    if controller is None:
        LOG.info(
            "%s: %s; set the Sync Offset of the OBS input capturing %r to %+d ms (OBS: Advanced Audio Properties)",
            name, late, route.device, offset,
        )  # fmt: skip
    elif not voice_source:
        LOG.info(
            "%s: set [obs] voice_source to the OBS input that captures the voice (%s) and its sync offset is "
            "kept at %+d ms (%s)",
            name, route.capture_hint, offset, late,
        )  # fmt: skip
    else:
        LOG.info("%s: %s; sync offset of OBS input %r: %+d ms", name, late, voice_source, offset)
        controller.set_audio_sync_offset(voice_source, offset)
    return offset
