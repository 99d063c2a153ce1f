"""A colour given as "#rrggbb" in the config, parsed once at load into the forms its users need."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = re.compile(r"#?([0-9a-fA-F]{2})([0-9a-fA-F]{2})([0-9a-fA-F]{2})")


@dataclass(frozen=True)
class Colour:
    red: int
    green: int
    blue: int

    # How the config check names what a value must look like ("must be a string like ...").
    described = 'a string like "#00ff00"'

    @classmethod
    def from_toml(cls, text: str) -> Colour:
        """'#00ff00' (or '00FF00'); ValueError for anything else."""
        match = _HEX.fullmatch(text.strip())
        if not match:
            raise ValueError(f"not a colour: {text!r}")
        return cls(*(int(part, 16) for part in match.groups()))

    @property
    def rgb(self) -> tuple[int, int, int]:
        return self.red, self.green, self.blue

    @property
    def obs_abgr(self) -> int:
        """The 0xAABBGGRR integer OBS's colour properties hold (opaque)."""
        return 0xFF000000 | (self.blue << 16) | (self.green << 8) | self.red
