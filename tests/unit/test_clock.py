"""The development clock (shared/clock.py): refused outside development mode,
and in it, event times follow the offset its file holds while the real time
(the PKI's, the retention locks') does not."""

import os
from datetime import timedelta

import pytest

from shared import clock
from shared.envelope import Actor, new_event, utc_now
from shared.settings import DevelopmentOnly


@pytest.fixture(autouse=True)
def real_time_after():
    yield
    clock.reset()


def test_the_dev_clock_is_refused_outside_development_mode(tmp_path):
    path = tmp_path / "clock"
    clock.write_offset(str(path), timedelta(days=-30))
    for config in ({"DEV_CLOCK_FILE": str(path)},
                   {"DEV_CLOCK_FILE": str(path), "DEV_MODE": "false"}):
        with pytest.raises(DevelopmentOnly) as refused:
            clock.configure(config)
        assert "DEV_CLOCK_FILE" in str(refused.value)
        assert "allowed only in development mode" in str(refused.value)
        assert clock.offset() == timedelta(0)  # nothing moved
        assert abs(utc_now() - clock.real_now()) < timedelta(seconds=5)


def test_without_the_setting_the_clock_is_the_real_one():
    assert clock.configure({"DEV_MODE": "1"}) is False
    assert clock.configure({"DEV_CLOCK_FILE": "  "}) is False  # blank: not set
    assert clock.offset() == timedelta(0)


def test_in_development_mode_event_times_follow_the_file(tmp_path):
    path = tmp_path / "clock"
    assert clock.configure({"DEV_CLOCK_FILE": str(path), "DEV_MODE": "1"}) is True
    assert clock.offset() == timedelta(0)  # no file yet
    clock.write_offset(str(path), timedelta(days=-35, hours=-3))
    event = new_event("Happened", {}, actor=Actor("a", "000.00.00.H41", "clerk"),
                      producer="docs", stream_id="s")
    back = clock.real_now() - event.occurred_at
    assert timedelta(days=35, hours=3) <= back < timedelta(days=35, hours=3, seconds=5)
    clock.write_offset(str(path), timedelta(days=-7))  # read again once changed
    assert clock.offset() == timedelta(days=-7)
    before, moved = clock.real_now(), clock.now()
    assert timedelta(days=7) - timedelta(seconds=5) < before - moved <= timedelta(days=7)
    os.remove(path)
    assert clock.offset() == timedelta(0)


@pytest.mark.parametrize("text, problem", [
    ("abc", "the offset in seconds"), ("nan", "the offset in seconds"),
    ("60", "back in time"), (str(-367 * 86400), "at most 366 days"),
])
def test_a_bad_offset_is_refused_naming_the_setting(tmp_path, text, problem):
    path = tmp_path / "clock"
    path.write_text(text)
    with pytest.raises(ValueError) as refused:
        clock.configure({"DEV_CLOCK_FILE": str(path), "DEV_MODE": "1"})
    assert f"DEV_CLOCK_FILE {path}" in str(refused.value) and problem in str(refused.value)
    with pytest.raises(ValueError):
        clock.write_offset(str(path), timedelta(days=1))  # the writer keeps the same bounds


def test_retention_dates_stay_on_the_real_time(tmp_path):
    path = tmp_path / "clock"
    clock.configure({"DEV_CLOCK_FILE": str(path), "DEV_MODE": "1"})
    clock.write_offset(str(path), timedelta(days=-300))
    before = clock.real_now()
    until = clock.retained_until(1)  # a day's lock: never set in the past
    assert before + timedelta(days=1) <= until < before + timedelta(days=1, seconds=5)
