"""Shared fields of the licensing schemas: identifiers, dates kept as ISO text, ``as_of``.

The schema base (``Strict``, ``Reply``, ``load`` and the field-path rule) is the kit's,
``infra.schemas``; today's date is ``infra.clock.today()``: this module reaches neither the
bus nor the event store.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from marshmallow import Schema, ValidationError, fields, validate

from infra.clock import CHINA_STANDARD_TIME, today
from infra.identifiers import USCCField, listed_uscc_exceptions
from infra.schemas import Date, Timestamp
from services.licensing.domain.common import SCOPE_ACTIVITIES, SCOPE_CLASSES

SCOPE_ITEM = re.compile(rf"^({'|'.join(SCOPE_CLASSES)}):({'|'.join(SCOPE_ACTIVITIES)})$")
TEXT = validate.Length(min=1, max=2000)
NAME = validate.Length(min=1, max=200)


def uscc_exceptions() -> frozenset[str]:
    """The codes of the USCC exception list this request names (the kit applies them to every
    credit code it validates; see ``infra.identifiers``)."""
    return listed_uscc_exceptions()


def Uscc(**kw) -> USCCField:  # noqa: N802  (a field factory reads like a field class)
    return USCCField(**kw)


class IsoDate(Date):
    """A date validated as a date the platform can compute with (the kit's ``Date``: years
    1900-2199), kept as ISO text (the data travels as JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


class AsOf(fields.Field):
    """A point in time for ``as_of`` reads: a date (the end of that day, China time) or an
    RFC 3339 timestamp with an offset, within the kit's bounds (``Date``, ``Timestamp``), so
    the conversion cannot overflow. Loaded as ISO text in UTC."""

    default_error_messages = {
        "invalid": "a date (YYYY-MM-DD) or a timestamp with an offset (RFC 3339)",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if len(value) == 10:
            day = Date()._deserialize(value, attr, data, **kwargs)
            moment = datetime.combine(day, time.max, CHINA_STANDARD_TIME)
        else:
            moment = Timestamp()._deserialize(value, attr, data, **kwargs)
        return moment.astimezone(UTC).isoformat()


class AsOfQuery(Schema):
    as_of = AsOf(metadata={"description": "the object as it stood then (events up to it)"})


class NotFuture(validate.Validator):
    def __call__(self, value: str) -> str:
        if date.fromisoformat(value) > today():
            raise ValidationError("must not be in the future")
        return value
