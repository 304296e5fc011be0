"""The domain base every service builds on: events, commands, aggregates, refusals.

Pure: standard library only, so a service's domain modules stay pure too.

- ``Event`` and ``Command`` are frozen keyword-only dataclasses. An event's ``to_data`` is
  plain JSON (dates as ISO text, decimals as text, nested dataclasses as objects) and
  ``from_data`` rebuilds it from its type hints: no service writes a converter by hand.
- An ``Aggregate`` *decides* (``decide(command, now) -> [events]``, checks the rules, changes
  nothing) and *applies* (``apply(event)``, folds a fact into state, never checks). Replay
  runs only ``apply``.
- Refusals (``Invalid``, ``NotKnown``, ``RuleConflict``, ``Stale``) are the domain's words;
  the repository translates them once into the kernel's errors (HTTP statuses at the gateway).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, TypedDict

SYSTEM_ACTOR = "system"

# --- refusals -------------------------------------------------------------------------------


class Refused(Exception):
    """Base of the domain's refusals; ``detail`` is what the caller reads."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class RuleConflict(Refused):
    """The command is not allowed in the object's current state (HTTP 409)."""


class Stale(RuleConflict):
    """The command carries an older revision of the object than the one recorded (HTTP 409)."""


class NotKnown(Refused):
    """The command names an object that does not exist (HTTP 404)."""


class Invalid(Refused):
    """A command field breaks a rule (HTTP 422); ``errors`` is keyed by field path."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        self.errors = {field: [message]}
        super().__init__(f"{field}: {message}")


# --- stored-data conversion -------------------------------------------------------------------
# Converters are worked out once per class and per type hint (``functools.cache``): a bulk of
# events (an insurer's batch: thousands of nested terms) pays a dictionary look-up per value,
# not a walk over the type's fields and hints.

_PLAIN = frozenset({str, int, float, bool, type(None)})


def encode(value: Any) -> Any:
    """``value`` as plain JSON-able data."""
    cls = type(value)
    if cls in _PLAIN:
        return value
    # Class objects hash by identity; mypy checks type[Any] against Hashable through the
    # instances' __hash__ and rejects it.
    return _encoder(cls)(value)  # type: ignore[arg-type]


def _encode_items(value: Any) -> list[Any]:
    # Plain items are taken as they are, without a call each: most of an event is plain.
    return [v if type(v) in _PLAIN else encode(v) for v in value]


def _encode_mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(k): encode(v) for k, v in value.items()}


@functools.cache
def _encoder(cls: type) -> Callable[[Any], Any]:
    """How to encode a non-plain value of class ``cls``."""
    if cls is list or cls is tuple:
        return _encode_items
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))

        def encode_fields(value: Any) -> dict[str, Any]:
            out = {}
            for name in names:
                v = getattr(value, name)
                out[name] = v if type(v) in _PLAIN else encode(v)
            return out

        return encode_fields
    if issubclass(cls, datetime | date):
        return cls.isoformat
    if issubclass(cls, Decimal):
        return str
    if issubclass(cls, Mapping):
        return _encode_mapping
    if issubclass(cls, list | tuple):
        return _encode_items
    return _as_stored


def decode(hint: Any, value: Any) -> Any:
    """Stored data back into the type ``hint`` names (the inverse of ``encode``)."""
    if value is None:
        return None
    return _decoder(hint)(value)


def _as_stored(value: Any) -> Any:
    return value


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if convert is _as_stored:
        return convert
    return lambda value: None if value is None else convert(value)


@functools.cache
def _decoder(hint: Any) -> Callable[[Any], Any]:
    """How to turn a stored non-null value into the type ``hint`` names."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        # ``X | None`` decodes as X; a union of several types is stored as it came.
        return _decoder(inner[0]) if len(inner) == 1 else _as_stored
    if hint is datetime:
        return datetime.fromisoformat
    if hint is date:
        return date.fromisoformat
    if hint is Decimal:
        return Decimal
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return functools.partial(from_data, hint)
    if origin is tuple or origin is list:
        item = _or_none(_decoder(typing.get_args(hint)[0]))
        if item is _as_stored:
            return origin
        return lambda value: origin(item(v) for v in value)
    if origin is dict:
        # Keys are stored as text: a date (or other decodable) key comes back as its type.
        key_hint, value_hint = typing.get_args(hint)
        key = int if key_hint is int else _or_none(_decoder(key_hint))
        item = _or_none(_decoder(value_hint))
        return lambda value: {key(k): item(v) for k, v in value.items()}
    if hint is dict:
        return dict
    return _as_stored


@functools.cache
def _field_decoders(cls: type) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Each field's name and converter (``None``: the stored value is the value)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        convert = _or_none(_decoder(hints[f.name]))
        out.append((f.name, None if convert is _as_stored else convert))
    return tuple(out)


def from_data(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass ``cls`` from stored data; fields missing from ``data`` take their defaults."""
    kwargs = {}
    for name, convert in _field_decoders(cls):
        if name in data:
            value = data[name]
            kwargs[name] = value if convert is None else convert(value)
    return cls(**kwargs)


# --- commands and events --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Command:
    """An instruction to an aggregate; ``actor`` is who gives it."""

    actor: str


class Stamp(TypedDict):
    """When and by whom: the fields every event starts with (``Event(**stamp, ...)``)."""

    at: datetime
    actor: str


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of the events; ``at`` is when it happened, ``actor`` who did it."""

    at: datetime
    actor: str

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_data(self) -> dict[str, Any]:
        """The event as plain JSON-able data (dates and times as ISO strings)."""
        data: dict[str, Any] = encode(self)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> typing.Self:
        return from_data(cls, data)


def event_types(*classes: type[Event]) -> dict[str, type[Event]]:
    """``{"PolicyEnrolled": PolicyEnrolled, ...}``: how a stored type name finds its class."""
    return {c.__name__: c for c in classes}


class Aggregate:
    """What the repository needs of an aggregate: a ``version`` (events applied so far),
    ``decide`` and ``apply``. Subclasses are usually dataclasses with ``version: int = 0``."""

    version: int
    kind_name: ClassVar[str] = "object"

    @property
    def exists(self) -> bool:
        return self.version > 0

    def decide(self, command: Command, now: datetime) -> list[Event]:
        raise NotImplementedError

    def apply(self, event: Event) -> None:
        raise NotImplementedError

    def fold(self, events: Iterable[Event]) -> typing.Self:
        for event in events:
            self.apply(event)
        return self


# --- ids ------------------------------------------------------------------------------------

ID_NAMESPACE = uuid.UUID("6b1f3c52-3e0e-4a8e-9a53-0d7c2b8f1a10")


def derived_id(*parts: Any) -> str:
    """A deterministic UUID from ``parts``: the same fact (or the same command's n-th event)
    noticed twice is stored once."""
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(str(p) for p in parts)))


# --- field checks commands share -------------------------------------------------------------


@typing.overload
def text(value: Any, path: str, *, required: Literal[True] = ...) -> str: ...


@typing.overload
def text(value: Any, path: str, *, required: Literal[False]) -> str | None: ...


def text(value: Any, path: str, *, required: bool = True) -> str | None:
    """Non-empty text, stripped; ``Invalid`` on ``path`` otherwise."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(path, "must be non-empty text")
    return value.strip()


def as_date(value: Any, path: str) -> date:
    """A date from a ``date`` or ISO text; ``Invalid`` on ``path`` otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(path, "must be a date YYYY-MM-DD") from None
