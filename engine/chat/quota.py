"""The YouTube Data API's daily quota: units spent per Pacific day, kept on disk so a restart does not
forget them, and how far apart polls must be for what is left to last the stream."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from engine.files import write_private

log = logging.getLogger(__name__)

# What each call costs (developers.google.com/youtube/v3/determine_quota_cost).
POLL_UNITS = 5  # liveChatMessages.list
SEND_UNITS = 50  # liveChatMessages.insert
LOOKUP_UNITS = 1  # videos.list
PACIFIC = ZoneInfo("America/Los_Angeles")  # Google resets every quota at midnight Pacific time


def pacific_day(now: float) -> date:
    """The Pacific calendar day of the Unix time `now`: the day the quota is counted against."""
    return datetime.fromtimestamp(now, PACIFIC).date()


def seconds_to_reset(now: float) -> float:
    """Seconds from the Unix time `now` to the next midnight Pacific time (daylight saving included)."""
    midnight = datetime.combine(pacific_day(now) + timedelta(days=1), clock_time(0), PACIFIC)
    return midnight.timestamp() - now


def poll_interval_s(units_left: int, horizon_s: float) -> float:
    """How far apart polls must be for `units_left` to last `horizon_s` seconds. 0 when the horizon
    is over (the stream ran longer than planned) or not one poll is left (nothing to spread)."""
    polls = units_left // POLL_UNITS
    return max(horizon_s, 0.0) / polls if polls else 0.0


class QuotaBudget:
    """Units spent today against `daily_units`, saved in `path` after each charge, and the poll
    spacing that makes the rest last until the stream ends (`stream_s` from now) or the quota resets,
    whichever comes first. `clock` gives Unix time (tests move it)."""

    def __init__(self, path: Path, daily_units: int, stream_s: float,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._path, self.daily_units, self._clock = path, daily_units, clock
        self._ends_at = clock() + stream_s
        self._day = pacific_day(clock())
        self._spent = read_spent(path, self._day)
        self._save_failed = False

    def spent(self) -> int:
        """Units spent today (by this process and earlier ones)."""
        today = pacific_day(self._clock())
        if today != self._day:  # midnight Pacific passed: a fresh quota
            self._day, self._spent = today, 0
        return self._spent

    def left(self) -> int:
        return max(0, self.daily_units - self.spent())

    def interval_s(self) -> float:
        """The least spacing between polls that keeps the quota from running out before it is needed."""
        now = self._clock()
        return poll_interval_s(self.left(), min(self._ends_at - now, seconds_to_reset(now)))

    def charge(self, units: int) -> bool:
        """Counts `units` as spent and saves the count; False, counting nothing, when they do not fit
        in what is left today."""
        if units > self.left():
            return False
        self._spent += units
        try:
            write_spent(self._path, self._day, self._spent)
        except OSError as e:  # the count lives on in memory; only a restart would forget it
            if not self._save_failed:
                log.warning("cannot save the YouTube quota count in %s: %s", self._path, e.strerror or e)
            self._save_failed = True
        return True


def read_spent(path: Path, day: date) -> int:
    """The units saved for `day` in `path`; 0 when the file is missing, unreadable or of another day."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    if not isinstance(saved, dict) or saved.get("day") != day.isoformat():
        return 0
    spent = saved.get("spent")
    return spent if type(spent) is int and spent >= 0 else 0


def write_spent(path: Path, day: date, spent: int) -> None:
    """Saves `spent` for `day` in `path`, replacing the file whole: a crash mid-write leaves the old one."""
    write_private(path, json.dumps({"day": day.isoformat(), "spent": spent}))
