"""A pyvirtualcam backend, registered as "nowhere", for the tests of the virtualcam output's voice."""

from __future__ import annotations

import numpy as np
import pyvirtualcam


class NowhereCamera:
    """pyvirtualcam's backend interface, registered as "nowhere"; the frames go nowhere. No virtual
    camera can run here (v4l2loopback is a kernel module, and there is no /dev/video device): the
    tests that use it are about the virtualcam output's voice."""

    def __init__(self, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "nowhere0"

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("nowhere", NowhereCamera)
