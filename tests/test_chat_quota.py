"""The YouTube quota budget: poll spacing from the units left and the time left, the count that resets
at midnight Pacific time, and the count a restart reads back from its file. The clock is injected."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from engine.chat.quota import PACIFIC, QuotaBudget, pacific_day, poll_interval_s, seconds_to_reset


def pacific(*when: int) -> float:
    return datetime(*when, tzinfo=PACIFIC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_poll_interval_spreads_the_polls_left_over_the_time_left():
    assert poll_interval_s(10_000, 4 * 3600) == 7.2  # Google's default quota over a 4-hour stream
    assert poll_interval_s(1004, 1000) == 5.0  # 200 whole polls; the 4 units over buy none
    assert poll_interval_s(4, 1000) == 0.0  # not one poll left: nothing to spread
    assert poll_interval_s(10_000, -60) == 0.0  # the stream ran over its planned hours


def test_seconds_to_reset_follow_daylight_saving():
    assert seconds_to_reset(pacific(2024, 5, 4, 22, 0)) == 2 * 3600
    assert seconds_to_reset(pacific(2024, 3, 10, 0, 30)) == 22.5 * 3600  # 2 am skips to 3 am
    assert seconds_to_reset(pacific(2024, 11, 3, 0, 30)) == 24.5 * 3600  # 2 am comes twice


def test_budget_lasts_the_stream_or_until_the_reset_whichever_is_sooner(tmp_path: Path):
    clock = Clock(pacific(2024, 5, 4, 12, 0))
    quota = QuotaBudget(tmp_path / "quota.json", 10_000, 4 * 3600, clock)
    assert quota.interval_s() == 7.2
    assert quota.charge(5000)
    assert quota.interval_s() == 14.4  # half the units for the same four hours
    clock.now += 3600
    assert quota.interval_s() == 10.8  # three hours left
    late = QuotaBudget(tmp_path / "late.json", 10_000, 4 * 3600, Clock(pacific(2024, 5, 4, 22, 0)))
    assert late.interval_s() == 3.6  # a fresh quota at midnight: 2000 polls for 2 hours


def test_charge_refuses_units_that_do_not_fit(tmp_path: Path):
    quota = QuotaBudget(tmp_path / "quota.json", 12, 3600, Clock(pacific(2024, 5, 4, 12, 0)))
    assert quota.charge(5) and quota.charge(5)
    assert not quota.charge(5)
    assert (quota.spent(), quota.left()) == (10, 2)


def test_count_resets_at_midnight_pacific_not_utc(tmp_path: Path):
    clock = Clock(pacific(2024, 5, 4, 16, 59, 50))  # 23:59:50 UTC
    quota = QuotaBudget(tmp_path / "quota.json", 10_000, 4 * 3600, clock)
    assert quota.charge(100)
    clock.now += 20  # midnight UTC has passed
    assert quota.spent() == 100
    clock.now = pacific(2024, 5, 4, 23, 59, 50)
    assert quota.spent() == 100
    clock.now += 20
    assert (quota.spent(), quota.left()) == (0, 10_000)
    assert quota.charge(5)
    assert json.loads((tmp_path / "quota.json").read_text()) == {"day": "2024-05-05", "spent": 5}


def test_a_restart_reads_todays_count_from_the_file(tmp_path: Path):
    path, clock = tmp_path / "state" / "quota.json", Clock(pacific(2024, 5, 4, 12, 0))
    first = QuotaBudget(path, 10_000, 4 * 3600, clock)
    assert first.charge(1) and first.charge(50) and first.charge(5)
    again = QuotaBudget(path, 10_000, 4 * 3600, clock)
    assert again.spent() == 56
    clock.now = pacific(2024, 5, 5, 0, 0, 1)
    assert QuotaBudget(path, 10_000, 4 * 3600, clock).spent() == 0  # the file's count is yesterday's
    assert [p.name for p in path.parent.iterdir()] == ["quota.json"]  # no temporary file left behind


@pytest.mark.parametrize("saved", ["{not json", "[]", '{"day": "2024-05-04", "spent": "many"}',
                                   '{"day": "2024-05-04", "spent": -5}'])  # fmt: skip
def test_a_damaged_file_counts_as_nothing_spent(tmp_path: Path, saved: str):
    path = tmp_path / "quota.json"
    path.write_text(saved)
    quota = QuotaBudget(path, 10_000, 4 * 3600, Clock(pacific(2024, 5, 4, 12, 0)))
    assert quota.spent() == 0
    assert quota.charge(5)
    assert json.loads(path.read_text()) == {"day": "2024-05-04", "spent": 5}


def test_an_unwritable_file_warns_once_and_keeps_counting(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    (tmp_path / "file").write_text("")
    quota = QuotaBudget(tmp_path / "file" / "quota.json", 10_000, 4 * 3600, Clock(pacific(2024, 5, 4, 12, 0)))
    assert quota.charge(5) and quota.charge(5)
    assert quota.spent() == 10
    assert caplog.text.count("cannot save the YouTube quota count") == 1


def test_pacific_day_is_the_day_in_los_angeles():
    assert str(pacific_day(datetime.fromisoformat("2024-05-05T06:59:59+00:00").timestamp())) == "2024-05-04"
    assert str(pacific_day(datetime.fromisoformat("2024-05-05T07:00:00+00:00").timestamp())) == "2024-05-05"
