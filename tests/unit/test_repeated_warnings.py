"""A warning repeated while an outage lasts is logged once, then at most once a minute with
the count of those not logged (``infra.bus.outages.Repeats``)."""

from __future__ import annotations

from infra.bus.outages import Repeats, unlogged_note


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_is_logged_then_one_a_minute_saying_how_many_were_not():
    clock = Clock()
    repeats = Repeats(every=60, clock=clock)
    logged = []
    for second in range(0, 185, 5):  # a retry every 5 s for a little over 3 minutes
        clock.now = second
        unlogged = repeats.note()
        if unlogged is not None:
            logged.append((second, unlogged))
    assert logged == [(0, 0), (60, 11), (120, 11), (180, 11)]
    assert repeats.count == 37


def test_a_new_outage_after_the_end_is_logged_at_once():
    clock = Clock()
    repeats = Repeats(every=60, clock=clock)
    assert repeats.note() == 0
    clock.now = 10
    assert repeats.note() is None
    assert repeats.end() == 2
    assert repeats.end() == 0  # nothing began since
    clock.now = 20
    assert repeats.note() == 0


def test_the_note_says_how_many_went_unlogged():
    assert unlogged_note(0) == ""
    assert unlogged_note(11) == "; 11 more like it since the last such line"
