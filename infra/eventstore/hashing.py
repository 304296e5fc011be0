"""The per-stream hash chain: each event's hash covers the previous hash and its own content."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


class _NotPlainJSON(Exception):
    pass


def _refuse(obj: Any) -> Any:
    raise _NotPlainJSON


# Built once (``json.dumps`` with options builds an encoder per call): the same output.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
_PLAIN = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_refuse
)


def canonical(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept."""
    return _CANONICAL.encode(obj)


def plain_canonical(obj: Any) -> str | None:
    """``canonical(obj)`` at the C encoder's speed, or None when ``obj`` holds anything that is
    not plain JSON (a ``Personal`` value, a date): the caller then takes the slow path."""
    try:
        return _PLAIN.encode(obj)
    except _NotPlainJSON:
        return None


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """Hash of one stored event row (data and meta as stored, i.e. personal fields encrypted)."""
    content = canonical(
        {
            "event_id": row["event_id"],
            "stream_id": row["stream_id"],
            "version": row["version"],
            "type": row["type"],
            "schema_version": row["schema_version"],
            "data": row["data"],
            "meta": row["meta"],
            "occurred_at": _ts(row["occurred_at"]),
            "recorded_at": _ts(row["recorded_at"]),
        }
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def _ts(value: Any) -> str:
    # Both backends give back naive UTC datetimes with microseconds; normalise the text.
    return value.isoformat(timespec="microseconds") if hasattr(value, "isoformat") else str(value)
