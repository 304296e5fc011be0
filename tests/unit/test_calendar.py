"""Working days: official schedule from chinesecalendar, override files, provisional years."""

import json
from datetime import date, timedelta

import pytest

from services.licensing.calendar import (
    HOLIDAYS_DIR_ENV,
    HolidayDataError,
    WorkingCalendar,
    configured_directories,
    load_overrides,
)


@pytest.fixture
def calendar():
    return WorkingCalendar()


def write_year(directory, year, holidays=(), workdays=()):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{year}.json"
    path.write_text(json.dumps({"holidays": list(holidays), "workdays": list(workdays)}))
    return path


def test_make_up_saturday_after_national_day_2014_is_a_working_day(calendar):
    assert date(2014, 10, 11).weekday() == 5
    assert calendar.is_working_day(date(2014, 10, 11))


def test_national_day_and_ordinary_weekends_are_not_working_days(calendar):
    assert not calendar.is_working_day(date(2014, 10, 1))
    assert not calendar.is_working_day(date(2014, 10, 6))  # a Monday inside the holiday
    assert not calendar.is_working_day(date(2014, 10, 12))  # an ordinary Sunday
    assert calendar.is_working_day(date(2014, 10, 8))


def test_five_working_days_from_29_september_2014_cross_the_national_day_week(calendar):
    # Official 2014 schedule (State Council notice, Dec 2013): 1-7 October off; Sunday
    # 28 September and Saturday 11 October are make-up working days. Counting starts the day
    # after Monday 29 September: Tue 30 Sep = 1; 1-7 Oct holiday; Wed 8 Oct = 2, Thu 9 = 3,
    # Fri 10 = 4, Sat 11 Oct (make-up day) = 5. So the fifth working day is 11 October 2014.
    result = calendar.add_working_days(date(2014, 9, 29), 5)
    assert result.date == date(2014, 10, 11)
    assert result.provisional is False


def test_deadline_day_itself_is_on_time_and_the_day_after_is_late(calendar):
    start = date(2014, 9, 29)
    due = calendar.add_working_days(start, 5).date
    assert calendar.working_days_between(start, due).days == 5  # acting on the due day: on time
    assert calendar.working_days_between(start, due + timedelta(days=1)).days == 5
    # The next working day after the due date is the sixth: late.
    late = calendar.add_working_days(start, 6).date
    assert late == date(2014, 10, 13)
    assert calendar.working_days_between(start, late).days == 6


def test_spring_festival_2015(calendar):
    # Official 2015 schedule: 18-24 February off; Sunday 15 February and Saturday 28 February
    # are working days. From Friday 13 February: Sun 15 = 1, Mon 16 = 2, Tue 17 = 3, holiday,
    # Wed 25 = 4, Thu 26 = 5.
    assert calendar.is_working_day(date(2015, 2, 15))
    assert not calendar.is_working_day(date(2015, 2, 24))
    assert calendar.is_working_day(date(2015, 2, 28))
    assert calendar.add_working_days(date(2015, 2, 13), 5).date == date(2015, 2, 26)


def test_counting_starts_the_day_after_start(calendar):
    friday = date(2014, 11, 14)
    assert calendar.add_working_days(friday, 1).date == date(2014, 11, 17)
    assert calendar.add_working_days(friday, 0).date == friday


def test_negative_working_days_are_refused(calendar):
    with pytest.raises(ValueError):
        calendar.add_working_days(date(2014, 11, 14), -1)


def test_working_days_between_is_negative_backwards(calendar):
    count = calendar.working_days_between(date(2014, 10, 13), date(2014, 9, 29))
    assert count.days == -6


def test_a_year_nobody_configured_counts_weekdays_less_the_fixed_holidays_and_is_provisional(
    calendar,
):
    # 1 January 2027 is a Friday: a statutory holiday whatever the year's schedule says.
    assert calendar.is_provisional(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 1, 2))
    assert calendar.is_working_day(date(2027, 1, 4))
    # 31 Dec = 1, (1 Jan holiday, weekend), 4 Jan = 2, 5 = 3, 6 = 4, 7 = 5.
    result = calendar.add_working_days(date(2026, 12, 30), 5)
    assert result.date == date(2027, 1, 7)
    assert result.provisional is True
    assert calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 7)).provisional


# The holidays fixed by date in the State Council's rules on public holidays (as amended with
# effect from 2025: Labour Day is 1 and 2 May), weekdays of years no schedule covers.
FIXED_HOLIDAYS = [
    date(2027, 1, 1),
    date(2029, 5, 1),
    date(2029, 5, 2),
    date(2027, 10, 1),
    date(2030, 10, 2),
    date(2030, 10, 3),
]


@pytest.mark.parametrize("day", FIXED_HOLIDAYS, ids=str)
def test_an_unconfigured_year_knows_the_holidays_fixed_by_date(calendar, day):
    assert day.weekday() < 5 and calendar.is_provisional(day)
    assert not calendar.is_working_day(day)
    assert calendar.is_working_day(
        day + timedelta(days=7) if day.weekday() < 4 else day - timedelta(days=7)
    )


def test_an_override_file_may_still_declare_a_fixed_holiday_a_working_day(tmp_path):
    write_year(tmp_path, 2027, workdays=["2027-10-01"])
    calendar = WorkingCalendar.from_directories([tmp_path])
    assert calendar.is_working_day(date(2027, 10, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))  # unlisted: still the fixed holiday


def test_a_result_inside_a_known_year_is_not_provisional(calendar):
    assert not calendar.add_working_days(date(2026, 12, 1), 5).provisional
    assert not calendar.is_provisional(date(2004, 1, 1))
    assert calendar.is_provisional(date(2003, 12, 31))


def test_an_override_file_wins_over_the_package(tmp_path):
    write_year(tmp_path, 2014, holidays=["2014-10-11"], workdays=["2014-10-06"])
    calendar = WorkingCalendar.from_directories([tmp_path])
    assert not calendar.is_working_day(date(2014, 10, 11))
    assert calendar.is_working_day(date(2014, 10, 6))
    assert not calendar.is_working_day(date(2014, 10, 1))  # unlisted: the package decides


def test_an_override_file_configures_a_new_year(tmp_path):
    write_year(tmp_path, 2027, holidays=["2027-01-01"], workdays=["2027-01-02"])
    calendar = WorkingCalendar.from_directories([tmp_path])
    assert not calendar.is_provisional(date(2027, 1, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 2))
    assert not calendar.is_working_day(date(2027, 1, 3))  # unlisted Sunday
    result = calendar.add_working_days(date(2026, 12, 31), 2)
    assert result == type(result)(date(2027, 1, 4), False)


def test_a_later_directory_wins_date_by_date(tmp_path):
    write_year(tmp_path / "a", 2027, holidays=["2027-01-01", "2027-01-04"])
    write_year(tmp_path / "b", 2027, workdays=["2027-01-04"])
    calendar = WorkingCalendar.from_directories([tmp_path / "a", tmp_path / "b"])
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 4))


def test_the_environment_adds_a_holiday_directory(tmp_path):
    write_year(tmp_path, 2027, holidays=["2027-01-01"])
    environ = {HOLIDAYS_DIR_ENV: str(tmp_path)}
    assert configured_directories(environ)[-1] == tmp_path
    calendar = WorkingCalendar.from_environment(environ)
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert not WorkingCalendar.from_environment({}).is_configured(2027)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("2027.json", {"holidays": ["2028-01-01"]}, "is not in 2027"),
        ("2027.json", {"holidays": ["2027-02-30"]}, "is not a date"),
        ("2027.json", {"holiday": []}, "unknown keys"),
        ("2027.json", {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}, "both"),
        ("next.json", {}, "must be the year"),
    ],
)
def test_a_broken_override_file_is_reported_by_name(tmp_path, name, content, message):
    (tmp_path / name).write_text(json.dumps(content))
    with pytest.raises(HolidayDataError, match=message):
        load_overrides([tmp_path])


def test_a_missing_configured_directory_is_an_error(tmp_path):
    with pytest.raises(HolidayDataError, match="does not exist"):
        load_overrides([tmp_path / "nowhere"])


def test_the_shipped_data_files_load():
    # Only official schedules are shipped; the loader must accept all of them.
    WorkingCalendar.from_environment({})
