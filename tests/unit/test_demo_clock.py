"""The demo's clock (``infra.demo``) and the runner's choice of it (``infra.runner``): the
past is loaded only into an empty data directory, under a clock file of its own that ends
empty (real time)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from infra.clock import CHINA_STANDARD_TIME, Clock
from infra.demo import DemoClock, history_start
from infra.runner import demo_plan


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (date(2026, 12, 1), date(2025, 1, 2)),
        (date(2026, 4, 1), date(2025, 1, 2)),
        (date(2026, 3, 31), date(2024, 1, 2)),
        (date(2027, 1, 5), date(2025, 1, 2)),
    ],
)
def test_the_history_starts_early_enough_for_a_whole_evaluated_year_behind(today, start):
    assert history_start(today).date() == start
    assert history_start(today).tzinfo == CHINA_STANDARD_TIME


def test_every_process_reads_the_demo_clock_until_it_is_emptied(tmp_path, monkeypatch):
    path = tmp_path / "demo-clock"
    path.write_text("")
    monkeypatch.setenv("SESP_CLOCK_FILE", str(path))
    clock = DemoClock(path, movable=True)
    clock.set(clock.start)
    assert Clock().now() == clock.start == clock.now()
    later = clock.start + timedelta(days=40)
    assert clock.set(later) == later and Clock().today() == later.date()
    assert clock.set(clock.start) == later  # never back
    real = datetime.now(CHINA_STANDARD_TIME)
    assert clock.set(real + timedelta(days=3)) <= real  # never beyond real time
    clock.resume()
    assert path.read_text() == "" and not clock.movable
    assert abs(Clock().now() - datetime.now(CHINA_STANDARD_TIME)) < timedelta(seconds=5)


def test_a_demo_without_a_clock_of_its_own_stays_at_real_time(tmp_path):
    clock = DemoClock(None, movable=True)
    assert not clock.movable
    before = datetime.now(CHINA_STANDARD_TIME)
    assert clock.set(clock.start) >= before


def test_the_runner_gives_the_demo_a_clock_only_for_an_empty_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("SESP_CLOCK_FILE", raising=False)
    monkeypatch.setenv("SESP_DEMO", "1")
    fresh, clock = demo_plan(tmp_path)
    assert fresh and clock == tmp_path / "demo-clock" and clock.read_text() == ""
    (tmp_path / "licensing.db").write_bytes(b"")
    assert demo_plan(tmp_path) == (False, None)  # a later start: real time, no demo


def test_no_demo_clock_when_the_operator_names_one_or_turns_the_demo_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SESP_DEMO", "1")
    monkeypatch.setenv("SESP_CLOCK_FILE", str(tmp_path / "mine"))
    assert demo_plan(tmp_path) == (True, None)
    monkeypatch.delenv("SESP_CLOCK_FILE")
    monkeypatch.setenv("SESP_DEMO", "0")
    assert demo_plan(tmp_path) == (False, None)
