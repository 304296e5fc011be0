"""Quotes insurers declare: "I was asked to quote these elevators, until then".

A use case of ``InsuranceService.declare_quote``, kept apart from the nameko wiring. API.md
lets an insurer read the coverage and premium factors of the equipment it insures or is
asked to quote; a declared quote is how the second is known. It is recorded as an event
(``QuoteDeclared`` on ``quote-<insurer>-<id>``), so every access it opened can be traced to
who declared it and when, and it opens its elevators until ``valid_until`` (at most
``QUOTE_MAX_DAYS`` days ahead).

The quote's id derives from the request (its correlation id): an RPC delivered twice, or a
request retried with the same Idempotency-Key, records one quote.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from infra.clock import local_date
from infra.domain import derived_id
from infra.repository import Repository
from services.insurance.domain import DeclareQuote, Quote, quote_key
from services.insurance.schemas import load_quote


def declare(
    repo: Repository, now: datetime, insurer: str, equipment_codes: list[str], valid_until: str
) -> dict[str, Any]:
    """Record a quote request of ``insurer``; returns the quote as it is stored."""
    data = load_quote({"equipment_codes": equipment_codes, "valid_until": valid_until})
    request = repo.meta.get("correlation_id") or ""
    quote_id = derived_id("quote", insurer, request)
    key = quote_key(insurer, quote_id)
    quote = repo.load(Quote, key)
    if not quote.exists:  # a retried request finds its quote recorded: the same answer
        command = DeclareQuote(
            actor=repo.actor,
            insurer=insurer,
            quote_id=quote_id,
            equipment_codes=tuple(data["equipment_codes"]),
            valid_until=data["valid_until"],
            on=local_date(now),
        )
        repo.decide_and_save(key, quote, command, now, command_id=request or None)
    return view(quote)


def view(quote: Quote) -> dict[str, Any]:
    assert quote.declared_at is not None and isinstance(quote.valid_until, date)
    return {
        "id": quote.quote_id,
        "insurer": quote.insurer,
        "equipment_codes": list(quote.equipment_codes),
        "valid_until": quote.valid_until.isoformat(),
        "declared_at": quote.declared_at.isoformat(),
        "version": quote.version,
    }
