"""Times and intervals named in answer options (agent/rules/times.py)."""

from __future__ import annotations

import pytest

from videothought.agent.rules.times import Interval, read_interval


@pytest.mark.parametrize("text, start, end", [
    ("in minute 7", 360, 420), ("during the 7th minute", 360, 420), ("the seventh minute", 360, 420),
    ("minute number 3", 120, 180), ("in the first minute", 0, 60), ("between 1:00 and 2:30", 60, 150),
    ("from 20 to 30 seconds", 20, 30), ("0:20-0:30", 20, 30), ("within the first 3 minutes", 0, 180),
    ("before 2:00", 0, 120), ("after 5 minutes", 300, 600), ("the first half", 0, 300),
    ("the second half", 300, 600), ("the last third", 400, 600), ("the second quarter", 150, 300),
    ("at 1:05", 64, 66), ("around 65 seconds", 64, 66), ("in hour 1", 0, 3600),
])
def test_times_and_intervals_are_read(text, start, end):
    found = read_interval(text, duration_seconds=600)
    assert found is not None and (found.start, found.end) == (start, end), text


@pytest.mark.parametrize("text", ["collides with the red star", "3", "the red one", "stops", "twice", ""])
def test_texts_without_a_time_read_as_none(text):
    assert read_interval(text, duration_seconds=600) is None


def test_shares_need_the_duration_and_points_know_they_are_points():
    assert read_interval("the first half") is None
    assert read_interval("at 0:10").point and not read_interval("in minute 1").point
    assert Interval(60, 120).contains(60) and not Interval(60, 120).contains(120)
