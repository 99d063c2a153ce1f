"""The co-host's sources in OBS, set up idempotently: run it on every (re)connect and each source
exists exactly once. What exists is never re-created or moved (the user may have restyled or placed
it); what is missing is created and placed; the avatar's stream address and key colour follow the
config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.colour import Colour

LOG = logging.getLogger(__name__)

AVATAR = "Co-host avatar"  # not "Co-host": scenes and sources share one namespace in OBS, and that is the scene
PLUGIN_AVATAR = "Co-host avatar (plugin)"  # the obs-cohost plugin's source, fed by the `plugin` output
PLUGIN_KIND = "cohost_source"
SUBTITLES = "Co-host subtitles"
QUESTION = "Co-host question"
HEARD = "Co-host hears"  # the streamer's words as the co-host hears them ([hearing] enabled)
KEY_FILTER = "Co-host key"

# OBS_ALIGN_* flags of a scene item's anchor: centre is 0.
_ALIGN_TOP, _ALIGN_BOTTOM, _ALIGN_TOP_LEFT = 4, 8, 5

Request = Callable[..., dict[str, Any]]  # request(name, data=None) -> response data


@dataclass(frozen=True)
class ObsSetup:
    """What the controller keeps in OBS.

    avatar_url: what the avatar Media Source plays (the engine's loopback MPEG-TS); None = no Media
        Source avatar (e.g. the co-host reaches OBS through the plugin or a virtual camera instead).
    plugin_socket: the socket the plugin's avatar source reads (the `plugin` output); None = none.
    key_color: the colour to key out of the avatar with OBS's chroma key (background = "key"); None = no key.
    duck_sources, duck_db: audio inputs turned down by duck_db while the co-host speaks.
    heard_caption: a caption of what the co-host hears the streamer say (partials as they change).
    avatar_sync_offset_ms: the avatar's audio sync offset, set when the source is created (later
        changes made in OBS's Advanced Audio Properties are the user's and are kept).
    """

    avatar_url: str | None = None
    plugin_socket: str | None = None
    avatar_sync_offset_ms: float = 0.0
    key_color: Colour | None = None
    heard_caption: bool = False
    duck_sources: tuple[str, ...] = ()
    duck_db: float = -12.0


SUBTITLES_ONLY = ObsSetup()  # the text sources, no avatar, no ducking


@dataclass
class SetupReport:
    scene: str
    text_kind: str
    created: list[str] = field(default_factory=list)  # sources (or filters) this run added
    missing: list[str] = field(default_factory=list)  # input kinds wanted that OBS lacks (the plugin's)


def text_kind(platform: str) -> str:
    """The text source of OBS on this platform (GetVersion's `platform`): GDI+ on Windows, FreeType 2
    on macOS and Linux (`platform` is the distribution's id there, e.g. "debian")."""
    return "text_gdiplus_v2" if platform == "windows" else "text_ft2_source_v2"


# OBS plays a stream from the first packet its startup probe read, so the probe's ~20 H.264 frames
# (for the frame rate) stay as ~0.7 s of delay. `ffmpeg_options = "fpsprobesize=8"` halved the
# render-to-OBS latency (876/915 -> 452/454 ms median, `cohost bench obs`), but the lip-sync lag on
# the RTMP recording then spread over -23..+41 ms in 11 runs, against -2..+35 ms in 10 without it:
# not set until that spread is understood.
def avatar_settings(url: str) -> dict[str, Any]:
    """A Media Source reading a live loopback MPEG-TS stream: not a file, small buffer, restart when
    shown (so that it picks the stream up again after the engine restarts)."""
    return {
        "is_local_file": False,
        "input": url,
        "input_format": "mpegts",
        "buffering_mb": 1,
        "restart_on_activate": True,
        "close_when_inactive": False,
        "clear_on_media_end": False,
        "reconnect_delay_sec": 1,
        "hw_decode": False,
    }


def plugin_settings(socket: str) -> dict[str, Any]:
    """The plugin's source reading the engine's socket; it keeps the last picture while the engine
    restarts."""
    return {"socket": socket, "buffer_ms": 40, "keep_last_frame": True}  # the plugin's defaults, made explicit


def text_settings(kind: str, width: int, height: int, valign: str) -> dict[str, Any]:
    """Readable caption styling for a canvas width x height, empty text, wrapped at 80 % of the width."""
    size = max(24, height // 16)
    wrap = int(width * 0.8)
    if kind == "text_gdiplus_v2":
        return {
            "text": "",
            "font": {"face": "Arial", "size": size, "style": "Bold", "flags": 1},
            "outline": True,
            "outline_size": max(2, size // 12),
            "outline_color": 0xFF000000,
            "extents": True,
            "extents_cx": wrap,
            "extents_cy": size * 3,
            "extents_wrap": True,
            "align": "center",
            "valign": valign,
        }
    return {
        "text": "",
        "font": {"face": "Sans Serif", "size": size, "style": "Bold", "flags": 1},
        "outline": True,
        "drop_shadow": True,
        "word_wrap": True,
        "custom_width": wrap,
    }


def ensure_scene(request: Request, scene: str) -> str:
    """The scene's name, created when missing; "" means the current program scene."""
    if not scene:
        return str(request("GetCurrentProgramScene")["currentProgramSceneName"])
    names = {s["sceneName"] for s in request("GetSceneList")["scenes"]}
    if scene not in names:
        request("CreateScene", {"sceneName": scene})
        LOG.info("created scene %r in OBS", scene)
    return scene


def ensure_sources(request: Request, scene: str, setup: ObsSetup, platform: str) -> SetupReport:
    """Makes the co-host's sources exist exactly once in `scene` (see the module doc)."""
    report = SetupReport(scene=ensure_scene(request, scene), text_kind=text_kind(platform))
    video = request("GetVideoSettings")
    width, height = int(video["baseWidth"]), int(video["baseHeight"])
    inputs = {i["inputName"]: i["inputKind"] for i in request("GetInputList")["inputs"]}
    in_scene = {i["sourceName"] for i in request("GetSceneItemList", {"sceneName": report.scene})["sceneItems"]}

    def ensure(name: str, kind: str, settings: dict[str, Any], transform: dict[str, Any]) -> bool:
        if name not in inputs:
            item = request(
                "CreateInput",
                {
                    "sceneName": report.scene,
                    "inputName": name,
                    "inputKind": kind,
                    "inputSettings": settings,
                    "sceneItemEnabled": True,
                },
            )
        elif name not in in_scene:  # the input lives on (another scene) but was removed from ours
            item = request("CreateSceneItem", {"sceneName": report.scene, "sourceName": name})
        else:
            if inputs[name] != kind:
                LOG.warning("OBS source %r is a %s, not the %s obs-cohost expects", name, inputs[name], kind)
            return False
        request(
            "SetSceneItemTransform",
            {"sceneName": report.scene, "sceneItemId": item["sceneItemId"], "sceneItemTransform": transform},
        )
        report.created.append(name)
        return name not in inputs

    full_canvas = {
        "positionX": 0.0,
        "positionY": 0.0,
        "alignment": _ALIGN_TOP_LEFT,
        "boundsType": "OBS_BOUNDS_SCALE_INNER",
        "boundsWidth": float(width),
        "boundsHeight": float(height),
        "boundsAlignment": 0,
    }
    if setup.plugin_socket is not None:
        kinds = set(request("GetInputKindList", {"unversioned": True})["inputKinds"])
        if PLUGIN_KIND in kinds:
            ensure(PLUGIN_AVATAR, PLUGIN_KIND, plugin_settings(setup.plugin_socket), full_canvas)
            if setup.avatar_url is None and AVATAR in in_scene:
                _hide(request, report.scene, AVATAR)  # a Media Source from before the plugin: nothing feeds it now
            _follow_settings(request, PLUGIN_AVATAR, plugin_settings(setup.plugin_socket), ("socket",))
            _ensure_key(request, PLUGIN_AVATAR, setup.key_color, report)
        else:
            report.missing.append(PLUGIN_KIND)
    if setup.avatar_url is not None:
        created = ensure(AVATAR, "ffmpeg_source", avatar_settings(setup.avatar_url), full_canvas)
        if created and setup.avatar_sync_offset_ms:
            request(
                "SetInputAudioSyncOffset",
                {"inputName": AVATAR, "inputAudioSyncOffset": round(setup.avatar_sync_offset_ms)},
            )
        # Any settings change restarts a Media Source (a visible hiccup on every reconnect).
        _follow_settings(request, AVATAR, avatar_settings(setup.avatar_url), ("is_local_file", "input", "input_format"))
        _ensure_key(request, AVATAR, setup.key_color, report)
    margin = height / 24
    ensure(
        SUBTITLES,
        report.text_kind,
        text_settings(report.text_kind, width, height, "bottom"),
        {"positionX": width / 2, "positionY": height - margin, "alignment": _ALIGN_BOTTOM},
    )
    ensure(
        QUESTION,
        report.text_kind,
        text_settings(report.text_kind, width, height, "top"),
        {"positionX": width / 2, "positionY": margin, "alignment": _ALIGN_TOP},
    )
    if setup.heard_caption:  # above the subtitles, by about two lines of them
        ensure(
            HEARD,
            report.text_kind,
            text_settings(report.text_kind, width, height, "bottom"),
            {"positionX": width / 2, "positionY": height - margin - height / 6, "alignment": _ALIGN_BOTTOM},
        )
    return report


def _hide(request: Request, scene: str, name: str) -> None:
    item = request("GetSceneItemId", {"sceneName": scene, "sourceName": name})["sceneItemId"]
    if request("GetSceneItemEnabled", {"sceneName": scene, "sceneItemId": item})["sceneItemEnabled"]:
        request("SetSceneItemEnabled", {"sceneName": scene, "sceneItemId": item, "sceneItemEnabled": False})
        LOG.info("hid %r in scene %r: the co-host comes through the plugin's source now", name, scene)


def _follow_settings(request: Request, name: str, wanted: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Points an existing source at what the config says; untouched when it already does (the user's
    other changes to it are kept)."""
    current = request("GetInputSettings", {"inputName": name})["inputSettings"]
    if any(current.get(key) != wanted[key] for key in keys):
        request("SetInputSettings", {"inputName": name, "inputSettings": wanted})


def _ensure_key(request: Request, source: str, key_color: Colour | None, report: SetupReport) -> None:
    """The chroma-key filter on an avatar source: added once, following the configured colour, and
    disabled (not deleted: the user may have tuned it) when the photo's own background is wanted."""
    filters = {f["filterName"] for f in request("GetSourceFilterList", {"sourceName": source})["filters"]}
    if key_color is None:
        if KEY_FILTER in filters:
            request("SetSourceFilterEnabled", {"sourceName": source, "filterName": KEY_FILTER, "filterEnabled": False})
        return
    settings = {"key_color_type": "custom", "key_color": key_color.obs_abgr}
    if KEY_FILTER in filters:
        request("SetSourceFilterSettings", {"sourceName": source, "filterName": KEY_FILTER, "filterSettings": settings})
        request("SetSourceFilterEnabled", {"sourceName": source, "filterName": KEY_FILTER, "filterEnabled": True})
    else:
        request(
            "CreateSourceFilter",
            {
                "sourceName": source,
                "filterName": KEY_FILTER,
                "filterKind": "chroma_key_filter_v2",
                "filterSettings": settings,
            },
        )
        report.created.append(KEY_FILTER)
