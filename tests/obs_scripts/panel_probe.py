"""Loaded into the test OBS beside obs_script/cohost_obs.py: a hotkey that opens the co-host script's
panel the way Tools → Scripts does (script_properties), clicks its Refresh status button, and logs
the status line the panel then shows. OBS has no request that reads a script's panel, so this is how
a headless test sees it. Standard library and obspython only, like the script it looks at."""

import cohost_obs  # the module OBS already loaded (same interpreter), not a second copy
import obspython as obs


def _show_panel(pressed: bool) -> None:
    if not pressed:
        return
    props = cohost_obs.script_properties()
    redraw = obs.obs_property_button_clicked(obs.obs_properties_get(props, "refresh"), None)
    status = obs.obs_property_description(obs.obs_properties_get(props, "status"))
    obs.script_log(obs.LOG_INFO, f"panel (redraw={redraw}): {status}")
    obs.obs_properties_destroy(props)


def script_load(settings: object) -> None:
    obs.obs_hotkey_register_frontend("cohost_test.show_panel", "test: show the co-host panel", _show_panel)
