"""Validators for the identifiers every input carries (DOMAIN.md "Identifiers").

Each validator returns the normalised value or raises ``InvalidIdentifier`` (a ``ValueError``)
whose message says exactly what is wrong. Messages never repeat the value itself: a resident ID
number is personal data and must not end up in logs or error bodies.

Time is an argument (``today``), never read here, so tests and the timer sweeps control it. The
marshmallow fields at the end are the only part that needs a third-party package; they are the
edge's way of using the same rules.

The USCC exception list. Real registries issued some codes that fail the check; city_admin
keeps the list of those the platform accepts (``/v1/admin/uscc-exceptions``, in the gateway's
database). One rule for every input: ``validate_uscc`` admits a listed code wherever it is
called while ``uscc_exceptions(codes)`` is in effect for the current request. The gateway
looks up the codes a request names (only those failing the check) and sets them for its edge
validation; it passes the same codes to the services in the RPC context
(``infra.bus.context``), whose workers set them again, so a service re-validating the same
fields admits exactly what the edge admitted, and nothing else: a caller that does not come
through the gateway (CLI, demo loader, tests) has no exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from marshmallow import ValidationError, fields

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# 3^(i-1) mod 31, as printed in GB 32100-2015.
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"
EQUIPMENT_CLASSES = {
    "1": "boiler",
    "2": "pressure_vessel",
    "3": "elevator",
    "4": "crane",
    "5": "passenger_ropeway",
    "6": "amusement_ride",
    "7": "pressure_piping_component",
    "8": "pressure_piping",
    "9": "in_plant_vehicle",
}
EARLIEST_YEAR = 1900
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))


class InvalidIdentifier(ValueError):
    """An identifier that breaks its format; ``reason`` says what is wrong, without the value."""

    def __init__(self, identifier: str, reason: str):
        self.identifier = identifier
        self.reason = reason
        super().__init__(f"{identifier}: {reason}")


def _text(value: object, identifier: str) -> str:
    if not isinstance(value, str):
        raise InvalidIdentifier(identifier, f"must be text, got {type(value).__name__}")
    return value.strip().upper()


def _length(value: str, expected: int | tuple[int, ...], identifier: str) -> None:
    allowed = (expected,) if isinstance(expected, int) else expected
    if len(value) not in allowed:
        wanted = " or ".join(str(n) for n in allowed)
        raise InvalidIdentifier(identifier, f"must be {wanted} characters long, got {len(value)}")


def _digits(value: str, start: int, end: int, identifier: str, what: str) -> None:
    """Positions ``start``..``end`` (1-based, inclusive) must be digits."""
    for position in range(start, end + 1):
        if not "0" <= value[position - 1] <= "9":
            raise InvalidIdentifier(
                identifier,
                f"character {value[position - 1]!r} at position {position} must be a digit "
                f"({what})",
            )


# --- unified social credit code -------------------------------------------------------------


def uscc_check_character(first17: str) -> str:
    """The check character (position 18) for the first 17 characters of a USCC."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


# The exception-list codes of the request being handled (a context variable: each greenthread,
# so each nameko worker, has its own).
_LISTED: ContextVar[frozenset[str]] = ContextVar("sesp_uscc_exceptions", default=frozenset())


def _normalised(codes: Iterable[str]) -> frozenset[str]:
    return frozenset(str(c).strip().upper() for c in codes)


@contextmanager
def uscc_exceptions(codes: Iterable[str]) -> Iterator[frozenset[str]]:
    """Within the block, ``validate_uscc`` (and so every ``USCCField``) admits these codes
    from the exception list as they are."""
    listed = _normalised(codes)
    token = _LISTED.set(listed)
    try:
        yield listed
    finally:
        _LISTED.reset(token)


def admit_uscc_exceptions(codes: Iterable[str]) -> None:
    """Set the exception-list codes for the rest of this greenthread (a worker's setup: it
    ends with the worker)."""
    _LISTED.set(_normalised(codes))


def listed_uscc_exceptions() -> frozenset[str]:
    """The exception-list codes in effect for the request being handled."""
    return _LISTED.get()


def uscc_fails_check(value: object) -> bool:
    """Whether ``value`` is text that only an exception could make a credit code."""
    if not isinstance(value, str):
        return False
    try:
        validate_uscc(value, admit_listed=False)
    except InvalidIdentifier:
        return True
    return False


def validate_uscc(value: object, exceptions: Iterable[str] = (), admit_listed: bool = True) -> str:
    """Validate a unified social credit code (GB 32100-2015); return it upper-cased.

    A code in ``exceptions``, or (``admit_listed``) on the exception list of the request being
    handled (``uscc_exceptions``), is accepted as it is: real registries issued some codes
    that fail the check.
    """
    code = _text(value, "unified social credit code")
    if code in _normalised(exceptions) or (admit_listed and code in _LISTED.get()):
        return code
    name = "unified social credit code"
    _length(code, 18, name)
    for position, char in enumerate(code, start=1):
        if char not in USCC_ALPHABET:
            raise InvalidIdentifier(
                name,
                f"character {char!r} at position {position} is not allowed "
                "(only digits and letters other than I, O, S, V, Z)",
            )
    _digits(code, 3, 8, name, "positions 3-8 are the region code")
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        raise InvalidIdentifier(name, f"check character expected {expected!r}, got {code[17]!r}")
    return code


# --- resident ID number ---------------------------------------------------------------------


def resident_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


def validate_resident_id(value: object, today: date | None = None) -> str:
    """Validate an 18-character resident ID number; return it with a trailing ``X`` upper-cased.

    Positions 7-14 must be a real date from 1900 on, and not after ``today`` when it is given.
    """
    name = "resident ID number"
    number = _text(value, name)
    _length(number, 18, name)
    _digits(number, 1, 17, name, "only the last character may be X")
    if not ("0" <= number[17] <= "9" or number[17] == "X"):
        raise InvalidIdentifier(
            name, f"character {number[17]!r} at position 18 must be a digit or X"
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdentifier(name, "positions 7-14 are not a calendar date (YYYYMMDD)") from None
    if born.year < EARLIEST_YEAR:
        raise InvalidIdentifier(name, f"birth year {born.year} is before {EARLIEST_YEAR}")
    if today is not None and born > today:
        raise InvalidIdentifier(name, f"birth date {born.isoformat()} is in the future")
    expected = resident_id_check_character(number[:17])
    if number[17] != expected:
        raise InvalidIdentifier(name, f"check character expected {expected!r}, got {number[17]!r}")
    return number


def birth_date_of(resident_id: str) -> date:
    """The birth date encoded in a (validated) resident ID number."""
    return date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))


# --- equipment code -------------------------------------------------------------------------


@dataclass(frozen=True)
class EquipmentCode:
    """A validated equipment code; ``legacy`` marks a 20-digit Shanghai registration code."""

    code: str
    legacy: bool
    equipment_class: str
    variety: str
    year: int


def parse_equipment_code(value: object, today: date) -> EquipmentCode:
    """Validate an 18-digit equipment code or a legacy 20-digit Shanghai code.

    18 digits: 4 variety (first digit the class, 1-9), 5 maker, 4 year of manufacture, 5 sequence.
    20 digits: 4 class, 6 region, YYYYMM, 4 sequence. Years run from 1900 to ``today``.
    """
    name = "equipment code"
    code = _text(value, name)
    _length(code, (18, 20), name)
    _digits(code, 1, len(code), name, "an equipment code has digits only")
    if code[0] not in EQUIPMENT_CLASSES:
        raise InvalidIdentifier(
            name, f"character {code[0]!r} at position 1 must be an equipment class 1-9"
        )
    legacy = len(code) == 20
    year = int(code[10:14]) if legacy else int(code[9:13])
    year_positions = "11-14" if legacy else "10-13"
    if year < EARLIEST_YEAR:
        raise InvalidIdentifier(
            name, f"year of manufacture {year} (positions {year_positions}) is before 1900"
        )
    if year > today.year:
        raise InvalidIdentifier(
            name, f"year of manufacture {year} (positions {year_positions}) is in the future"
        )
    if legacy:
        month = int(code[14:16])
        if not 1 <= month <= 12:
            raise InvalidIdentifier(name, f"month {code[14:16]} (positions 15-16) is not 01-12")
        if (year, month) > (today.year, today.month):
            raise InvalidIdentifier(name, f"registration month {year}-{month:02d} is in the future")
    return EquipmentCode(
        code=code,
        legacy=legacy,
        equipment_class=EQUIPMENT_CLASSES[code[0]],
        variety=code[:4],
        year=year,
    )


def validate_equipment_code(value: object, today: date) -> str:
    """Validate an equipment code (18 digits, or a legacy 20-digit alias); return it."""
    return parse_equipment_code(value, today).code


# --- marshmallow fields (the edge) ----------------------------------------------------------


def china_today() -> date:
    """Today's date in China Standard Time: the default clock of the fields below."""
    return datetime.now(CHINA_STANDARD_TIME).date()


class _IdentifierField(fields.String):
    def _validate_identifier(self, value: str) -> str:
        raise NotImplementedError

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return self._validate_identifier(text)
        except InvalidIdentifier as exc:
            raise ValidationError(str(exc)) from exc


class USCCField(_IdentifierField):
    """A unified social credit code. The request's exception list (``uscc_exceptions``)
    applies; ``exceptions`` adds codes of its own (a list, or a callable returning one)."""

    def __init__(self, *, exceptions: Iterable[str] | Callable[[], Iterable[str]] = (), **kw):
        super().__init__(**kw)
        self.exceptions = exceptions

    def _validate_identifier(self, value: str) -> str:
        known_bad = self.exceptions() if callable(self.exceptions) else self.exceptions
        return validate_uscc(value, known_bad)


class ResidentIdField(_IdentifierField):
    """A resident ID number. ``today`` is a clock callable (default: China Standard Time)."""

    def __init__(self, *, today: Callable[[], date] = china_today, **kw):
        super().__init__(**kw)
        self.today = today

    def _validate_identifier(self, value: str) -> str:
        return validate_resident_id(value, self.today())


class EquipmentCodeField(_IdentifierField):
    """An equipment code (or legacy alias). ``today`` is a clock callable."""

    def __init__(self, *, today: Callable[[], date] = china_today, **kw):
        super().__init__(**kw)
        self.today = today

    def _validate_identifier(self, value: str) -> str:
        return validate_equipment_code(value, self.today())
