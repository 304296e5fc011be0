"""Pages of a list: ``?limit=`` and an opaque ``?cursor=`` that a client cannot forge.

A cursor is the position of the last item of a page (the list's sort key, as a JSON list)
signed with a key of the deployment (HMAC-SHA256, derived from the gateway's master key), so
a cursor that was not handed out by this API, or was altered, is refused as 422 on ``cursor``
before any service sees it: a service only ever receives positions it produced itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, validate

from infra.errors import Invalid

_SIGNATURE_BYTES = 16
_NOT_OURS = {"cursor": ["not a cursor from this API"]}
_key: bytes | None = None


class PageQuery(Schema):
    """``?limit=`` (default 50, max 500) and an opaque ``?cursor=``."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=validate.Length(max=500))


def _signing_key() -> bytes:
    global _key
    if _key is None:
        from infra.keys import master_key

        _key = hashlib.sha256(b"sesp-page-cursor:" + master_key("gateway")).digest()
    return _key


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def encode_cursor(position: list[Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), default=str).encode("utf-8")
    signature = hmac.new(_signing_key(), raw, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return f"{_b64(raw)}.{_b64(signature)}"


def decode_cursor(cursor: str, size: int | None = None) -> list[Any]:
    """The position a cursor encodes (a list of ``size`` values when given); a cursor that
    is not ours, or was altered, is ``Invalid`` on ``cursor`` (422)."""
    try:
        body, _, signature = cursor.partition(".")
        raw = _unb64(body)
        expected = hmac.new(_signing_key(), raw, hashlib.sha256).digest()[:_SIGNATURE_BYTES]
        if not hmac.compare_digest(_unb64(signature), expected):
            raise ValueError("bad signature")
        position = json.loads(raw)
    except (ValueError, UnicodeError):
        raise Invalid("invalid cursor", _NOT_OURS) from None
    if not isinstance(position, list) or (size is not None and len(position) != size):
        raise Invalid("invalid cursor", _NOT_OURS)
    return position


def page_of(items: list, limit: int, position_of: Callable[[Any], list[Any]]) -> dict[str, Any]:
    """``{"items", "next_cursor"}`` from ``limit + 1`` fetched items."""
    more = len(items) > limit
    items = items[:limit]
    return {
        "items": items,
        "next_cursor": encode_cursor(position_of(items[-1])) if more and items else None,
    }
