"""Chat or the streamer telling the co-host it talks too fast ("讲得太快了", "slow down"): a fixed
trigger, not the brain's guess, so it works with every brain and costs nothing. The co-host then
says its last answer again, slower, and keeps the slower pace for what follows."""

from __future__ import annotations

import re

SLOWER = 0.85  # each complaint: this times the pace (the engine keeps it at 0.5 or more)

# Speech verbs with "fast", or "slower" with a speech verb: "这车太快了" (the car is too fast) or
# "slow down, the boss is coming" about the game are not about the co-host's voice.
_ZH = re.compile(r"(讲|说|念|读|语速)(得|的|话)?(太|有点|好|真|也太)快|(讲|说|念)慢(一)?点|慢(一)?点(讲|说|念)")
_EN = re.compile(
    r"\b((talk|speak|read)(ing|s)?\s+(way\s+|so\s+|too\s+|a\s+bit\s+)*(too\s+)?fast"
    r"|(talk|speak|read)\s+slower|slow\s+down\s+(your\s+)?(talking|speaking|speech|voice)"
    r"|too\s+fast\s+to\s+(follow|understand))\b",
    re.IGNORECASE,
)


def asks_to_slow_down(text: str) -> bool:
    return bool(_ZH.search(text) or _EN.search(text))
