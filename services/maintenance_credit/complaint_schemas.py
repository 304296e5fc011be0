"""Complaint input schemas (validated at the gateway and again in the service).

``what``, ``contact`` and ``reason`` are free text from outside: bounded in length, and
refused when they hold NUL or other control characters (line breaks and tabs excepted) or
text no UTF-8 can carry (lone surrogates). Nothing here is ever echoed into HTML: the API
answers JSON, and a refusal names the field, never the value.
"""

from __future__ import annotations

import re

from marshmallow import ValidationError, fields, validate

from infra.identifiers import EquipmentCodeField
from infra.schemas import Pattern, Strict, Timestamp
from services.maintenance_credit.complaint import MAX_CONTACT, MAX_REASON, MAX_WHAT, OUTCOMES

# The reference a passenger follows a complaint by: "C-" and 26 base32 letters (130 random
# bits, of which 128 are used).
REFERENCE = Pattern(r"^C-[A-Z2-7]{26}$", error="a complaint reference, e.g. C-7K3Q...")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain_text(value: str) -> None:
    """Text a person typed: no control characters but line breaks and tabs, valid Unicode."""
    if _CONTROL.search(value):
        raise ValidationError("must not contain NUL or other control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("must be valid Unicode text") from None
    if not value.strip():
        raise ValidationError("must be non-empty text")


class ComplaintIn(Strict):
    """``POST /v1/public/complaints``: from the elevator's page."""

    equipment_code = EquipmentCodeField(required=True)
    what = fields.String(required=True, validate=[validate.Length(min=1, max=MAX_WHAT), plain_text])
    occurred_at = Timestamp(required=True)
    contact = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=MAX_CONTACT), plain_text],
        metadata={"description": "how to reach the passenger (personal data; optional)"},
    )


class ComplaintDecisionIn(Strict):
    """``POST /v1/complaints/{id}/decide``."""

    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    reason = fields.String(
        required=True, validate=[validate.Length(min=1, max=MAX_REASON), plain_text]
    )


class ComplaintQuery(Strict):
    """``GET /v1/complaints`` filters (besides the page)."""

    status = fields.String(validate=validate.OneOf(["received", *OUTCOMES]))
