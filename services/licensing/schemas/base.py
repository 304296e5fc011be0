"""Shared fields and helpers: the injectable clock, identifiers, loading with paths."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
)

from infra.bus.dependencies import Clock
from infra.errors import Invalid
from infra.identifiers import (
    InvalidIdentifier,
    USCCField,
)
from services.licensing.domain.common import (
    CHINA_STANDARD_TIME,
    DISTRICTS,
    SCOPE_ACTIVITIES,
    SCOPE_CLASSES,
    local_date,
)

BUREAUS = ("SH", "FTZ", *DISTRICTS)
SCOPE_ITEM = re.compile(rf"^({'|'.join(SCOPE_CLASSES)}):({'|'.join(SCOPE_ACTIVITIES)})$")
TEXT = validate.Length(min=1, max=2000)
NAME = validate.Length(min=1, max=200)


def clock_today() -> date:
    """Today in China Standard Time by the injectable clock (``SESP_CLOCK_FILE`` in tests)."""
    return local_date(Clock().now())


def uscc_exceptions() -> list[str]:
    """Codes real registries issued although they fail the check (administrator-maintained)."""
    raw = os.environ.get("SESP_USCC_EXCEPTIONS", "")
    return [c.strip().upper() for c in raw.split(",") if c.strip()]


def Uscc(**kw) -> USCCField:  # noqa: N802  (a field factory reads like a field class)
    return USCCField(exceptions=uscc_exceptions, **kw)


class IsoDate(fields.Date):
    """A date validated as a date, kept as ISO text (the data travels as JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


class AsOf(fields.Field):
    """A point in time for ``as_of`` reads: a date (the end of that day, China time) or an
    RFC 3339 timestamp with an offset. Loaded as ISO text in UTC."""

    default_error_messages = {
        "invalid": "a date (YYYY-MM-DD) or a timestamp with an offset (RFC 3339)",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                moment = datetime.combine(day, time.max, CHINA_STANDARD_TIME)
            else:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:
            raise self.make_error("invalid")
        return moment.astimezone(UTC).isoformat()


class AsOfQuery(Schema):
    as_of = AsOf(metadata={"description": "the object as it stood then (events up to it)"})


class NotFuture(validate.Validator):
    def __call__(self, value: str) -> str:
        if date.fromisoformat(value) > clock_today():
            raise ValidationError("must not be in the future")
        return value


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Reply(Schema):
    class Meta:
        unknown = INCLUDE


# --- helpers --------------------------------------------------------------------------------


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages keyed by dotted field path."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = str(key) if not prefix else f"{prefix}.{key}"
            if key == "_schema" and prefix:
                path = prefix
            for k, v in flatten_errors(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    elif isinstance(messages, list | tuple):
        for item in messages:
            for k, v in flatten_errors(item, prefix).items():
                out.setdefault(k, []).extend(v)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def load(schema: type[Schema] | Schema, data: Any, what: str = "request") -> dict:
    """Load ``data`` or raise ``infra.errors.Invalid`` with errors by field path."""
    instance = schema() if isinstance(schema, type) else schema
    try:
        return instance.load({} if data is None else data)
    except ValidationError as exc:
        raise Invalid(f"invalid {what}", flatten_errors(exc.messages)) from None
    except InvalidIdentifier as exc:  # pragma: no cover - fields turn these into messages
        raise Invalid(f"invalid {what}", {"_schema": [str(exc)]}) from None
