"""The schema base of the gateway and every service (marshmallow).

- ``Strict``: command bodies; an unknown field is an error (422 on that field).
- ``Reply``: replies; fields beyond those named pass through, so adding a field to a response
  never breaks a client's schema check.
- ``flatten_errors``: one rule for field paths, everywhere: segments joined by dots, list
  items by their index (``applicant.uscc``, ``policies.3.ends_on``); a nested schema's own
  (``_schema``) messages belong to the nested field's path (``applicant``), and only the
  top-level schema's to ``_schema``.
- ``load``: load or raise the kernel's ``Invalid`` with those paths.
- ``Pattern``: a pattern the whole text must match (marshmallow's ``Regexp`` matches a prefix,
  and its ``$`` lets a trailing newline through: ``"93.00\n"`` was money).
- ``Date`` and ``Timestamp``: the date and time fields of every input. They refuse (on their own
  field) what the platform cannot compute with: years outside ``EARLIEST_YEAR`` to
  ``LATEST_YEAR`` (``9999-12-31`` plus a day, or ``0001-01-01`` in UTC, overflow Python's
  dates deep in a service) and offsets no time zone has (beyond +-14:00).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, overload

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate

from infra.errors import Invalid


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Reply(Schema):
    class Meta:
        unknown = INCLUDE


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed by dotted field path (see the module's rule)."""
    out: dict[str, list[str]] = {}

    def add(path: str, values: list[str]) -> None:
        out.setdefault(path or "_schema", []).extend(values)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "_schema":
                    walk(inner, path)
                else:
                    walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple) and all(isinstance(m, str) for m in value):
            add(path, list(value))
        elif isinstance(value, list | tuple):
            for i, inner in enumerate(value):
                walk(inner, f"{path}.{i}" if path else str(i))
        else:
            add(path, [str(value)])

    walk(messages, prefix)
    return out


def load(schema: type[Schema] | Schema, data: Any, what: str = "request") -> dict:
    """Load ``data`` or raise ``infra.errors.Invalid`` with errors by field path."""
    instance = schema() if isinstance(schema, type) else schema
    try:
        return instance.load({} if data is None else data)
    except ValidationError as exc:
        raise Invalid(f"invalid {what}", flatten_errors(exc.messages)) from None


class Pattern(validate.Regexp):
    """``validate.Regexp`` on the whole text. Write patterns as ECMA-262 understands them too
    (``[0-9]``, not ``\\d``, which also takes other scripts' digits; ``$``, not ``\\Z``): the
    OpenAPI document carries them."""

    @overload
    def __call__(self, value: str) -> str: ...
    @overload
    def __call__(self, value: bytes) -> bytes: ...
    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# --- dates and times ------------------------------------------------------------------------

# Far enough for every date a record names (a unit made in 1900, a validity in 2199), near
# enough that adding years, days and offsets to one never leaves Python's calendar.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
# The offsets time zones use lie between UTC-12:00 and UTC+14:00.
LARGEST_OFFSET = timedelta(hours=14)


def within_reach(day: date) -> bool:
    """Whether the platform computes with ``day`` (its year is within the bounds)."""
    return EARLIEST_YEAR <= day.year <= LATEST_YEAR


class Date(fields.Date):
    """A calendar date (``YYYY-MM-DD``) of a year from ``EARLIEST_YEAR`` to ``LATEST_YEAR``."""

    default_error_messages = {
        "invalid": "Not a valid date: use YYYY-MM-DD (e.g. 2014-10-01).",
        "out_of_reach": f"must be a date from {EARLIEST_YEAR}-01-01 to {LATEST_YEAR}-12-31",
    }

    def _deserialize(self, value, attr, data, **kwargs) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not within_reach(day):
            raise self.make_error("out_of_reach")
        return day


class Timestamp(fields.Field):
    """An RFC 3339 timestamp with its offset (``Z`` for UTC), loaded as an aware datetime: a
    year from ``EARLIEST_YEAR`` to ``LATEST_YEAR``, an offset within +-14:00."""

    default_error_messages = {
        "invalid": "must be a timestamp with an offset (RFC 3339, e.g. 2014-10-01T09:30:00+08:00)",
        "out_of_reach": (
            f"must be a time from {EARLIEST_YEAR} to {LATEST_YEAR} with an offset of at most "
            "+-14:00"
        ),
    }

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None
        offset = moment.utcoffset()
        if offset is None:
            raise self.make_error("invalid")
        if abs(offset) > LARGEST_OFFSET or not within_reach(moment.date()):
            raise self.make_error("out_of_reach")
        return moment
