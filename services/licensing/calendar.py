"""Working days for statutory time limits (工作日): official holidays and make-up working days.

Sources, weakest first:
1. weekends (Saturday, Sunday) and the holidays fixed by date in the State Council's rules on
   public holidays (全国年节及纪念日放假办法): 1 January, 1 May (and 2 May from 2025, when the
   amended rules took effect), 1-3 October - all that is known about a year nobody has
   configured (the lunar holidays and the make-up working days come with each year's schedule);
2. the ``chinesecalendar`` package, which knows the State Council's schedule for the years it
   ships (2004-2026 in 1.11.0) and raises ``NotImplementedError`` for the others;
3. override files ``<year>.json`` = ``{"holidays": [...], "workdays": [...]}`` (ISO dates of that
   year), shipped in ``services/licensing/holidays/`` and extended by configuration: the
   directories in ``SESP_HOLIDAYS_DIR`` (several separated by ``os.pathsep``; later wins).
   A date listed in a file wins over the package; a year with a file counts as configured.

A result that touched a day of an unconfigured year is *provisional*: the caller must show it as
such (API, logs) and recompute once the year's schedule is published, never treat it as final.

Convention (Administrative Licensing Law, and how counting periods works in Chinese law): the day
of the event does not count; ``add_working_days(start, n)`` is the n-th working day after
``start``. A deadline is met by acting on that day itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

SHIPPED_HOLIDAYS = Path(__file__).parent / "holidays"
HOLIDAYS_DIR_ENV = "SESP_HOLIDAYS_DIR"
_ONE_DAY = timedelta(days=1)
# (month, day) of the holidays fixed by date, and the year the amended rules added 2 May.
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)})
SECOND_LABOUR_DAY_FROM = 2025


def fixed_holiday(day: date) -> bool:
    """Whether ``day`` is a statutory holiday by its date alone, whatever the year's schedule."""
    if (day.month, day.day) in FIXED_HOLIDAYS:
        return True
    return (day.month, day.day) == (5, 2) and day.year >= SECOND_LABOUR_DAY_FROM


class HolidayDataError(ValueError):
    """An override file or directory that cannot be used; the message names the file."""


@dataclass(frozen=True)
class YearOverride:
    """The dates of one year whose status an override file fixes."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def layered_under(self, later: YearOverride) -> YearOverride:
        """This year's dates with ``later``'s dates winning where they disagree."""
        return YearOverride(
            holidays=(self.holidays - later.workdays) | later.holidays,
            workdays=(self.workdays - later.holidays) | later.workdays,
        )


@dataclass(frozen=True)
class WorkingDayResult:
    """A date computed in working days; ``provisional`` if an unconfigured year was involved."""

    date: date
    provisional: bool


@dataclass(frozen=True)
class WorkingDayCount:
    """A number of working days; ``provisional`` if an unconfigured year was involved."""

    days: int
    provisional: bool


def _parse_dates(path: Path, key: str, values: object, year: int) -> frozenset[date]:
    if not isinstance(values, list):
        raise HolidayDataError(f"{path.name}: {key!r} must be a list of ISO dates")
    dates = set()
    for value in values:
        try:
            day = date.fromisoformat(value)
        except (TypeError, ValueError):
            raise HolidayDataError(f"{path.name}: {value!r} in {key!r} is not a date") from None
        if day.year != year:
            raise HolidayDataError(f"{path.name}: {value} in {key!r} is not in {year}")
        dates.add(day)
    return frozenset(dates)


def load_holiday_file(path: Path) -> tuple[int, YearOverride]:
    """Read one ``<year>.json`` override file."""
    if not (path.stem.isdigit() and len(path.stem) == 4):
        raise HolidayDataError(f"{path.name}: the file name must be the year, e.g. 2027.json")
    year = int(path.stem)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HolidayDataError(f"{path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise HolidayDataError(f"{path.name}: expected an object with holidays and workdays")
    unknown = set(data) - {"holidays", "workdays", "source", "note"}
    if unknown:
        raise HolidayDataError(f"{path.name}: unknown keys {sorted(unknown)}")
    holidays = _parse_dates(path, "holidays", data.get("holidays", []), year)
    workdays = _parse_dates(path, "workdays", data.get("workdays", []), year)
    both = holidays & workdays
    if both:
        listed = ", ".join(sorted(d.isoformat() for d in both))
        raise HolidayDataError(f"{path.name}: listed both as holiday and workday: {listed}")
    return year, YearOverride(holidays, workdays)


def load_overrides(directories: Iterable[Path]) -> dict[int, YearOverride]:
    """All override files of ``directories``; for the same date, a later directory wins."""
    merged: dict[int, YearOverride] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            raise HolidayDataError(f"holiday directory {directory} does not exist")
        for path in sorted(directory.glob("*.json")):
            year, override = load_holiday_file(path)
            merged[year] = merged.get(year, YearOverride()).layered_under(override)
    return merged


def configured_directories(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The shipped data directory, then those named by ``SESP_HOLIDAYS_DIR``."""
    environ = os.environ if environ is None else environ
    extra = [Path(p) for p in environ.get(HOLIDAYS_DIR_ENV, "").split(os.pathsep) if p]
    return [SHIPPED_HOLIDAYS, *extra]


@dataclass
class WorkingCalendar:
    """Answers which days are working days; see the module docstring for the sources."""

    overrides: Mapping[int, YearOverride] = field(default_factory=dict)
    _package_years: dict[int, bool] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_directories(cls, directories: Iterable[Path]) -> WorkingCalendar:
        return cls(load_overrides(directories))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> WorkingCalendar:
        """The calendar a process uses: shipped files plus ``SESP_HOLIDAYS_DIR``."""
        return cls.from_directories(configured_directories(environ))

    def _package_knows(self, year: int) -> bool:
        if year not in self._package_years:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                self._package_years[year] = True
            except NotImplementedError:
                self._package_years[year] = False
        return self._package_years[year]

    def is_configured(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known (package or override file)."""
        return year in self.overrides or self._package_knows(year)

    def is_provisional(self, day: date) -> bool:
        """True for a day whose status is a guess from weekends only."""
        return not self.is_configured(day.year)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (for a year the package does not know: Monday to
        Friday but the holidays fixed by date, unless an override file says otherwise)."""
        override = self.overrides.get(day.year)
        if override is not None:
            if day in override.holidays:
                return False
            if day in override.workdays:
                return True
        if self._package_knows(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5 and not fixed_holiday(day)

    def add_working_days(self, start: date, n: int) -> WorkingDayResult:
        """The n-th working day after ``start`` (``start`` itself never counts; n=0: start)."""
        if n < 0:
            raise ValueError("n must not be negative")
        day, counted, provisional = start, 0, False
        while counted < n:
            day += _ONE_DAY
            provisional = provisional or self.is_provisional(day)
            if self.is_working_day(day):
                counted += 1
        return WorkingDayResult(day, provisional)

    def working_days_between(self, a: date, b: date) -> WorkingDayCount:
        """Working days d with a < d <= b (so ``add_working_days(a, n)`` is n days after a);
        negative when b is before a."""
        if b < a:
            count = self.working_days_between(b, a)
            return WorkingDayCount(-count.days, count.provisional)
        days, provisional, day = 0, False, a
        while day < b:
            day += _ONE_DAY
            provisional = provisional or self.is_provisional(day)
            days += self.is_working_day(day)
        return WorkingDayCount(days, provisional)
