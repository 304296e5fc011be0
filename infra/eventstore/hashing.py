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


def _c_encoder(default: Any, fallback: json.JSONEncoder) -> Any:
    """What ``fallback.encode`` runs, built once: ``JSONEncoder.encode`` builds its C encoder
    anew on every call, which cost more than encoding an event's data. Without the check for
    circular references (which needs a table per call): plain data has none, and one would
    end in ``RecursionError`` instead of ``ValueError``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the encoder as it is
        return fallback.encode
    encode = make(None, default, _quote, None, ":", ",", True, False, True)

    def encoded(obj: Any) -> str:
        return "".join(encode(obj, 0))

    return encoded


# How ``canonical`` writes a string (``ensure_ascii=False``): the encoder's own C function.
_quote = json.encoder.encode_basestring
_canonical = _c_encoder(str, _CANONICAL)
_plain = _c_encoder(_refuse, _PLAIN)


def canonical(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept."""
    return _canonical(obj)


def plain_canonical(obj: Any) -> str | None:
    """``canonical(obj)``, or None when ``obj`` holds anything that is not plain JSON (a
    ``Personal`` value, a date): the caller then takes the slow path."""
    try:
        return _plain(obj)
    except _NotPlainJSON:
        return None


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """Hash of one stored event row (data and meta as stored, i.e. personal fields encrypted)."""
    return link_hash(
        prev_hash,
        row["event_id"],
        row["stream_id"],
        row["version"],
        row["type"],
        row["schema_version"],
        row["data"],
        row["meta"],
        _ts(row["occurred_at"]),
        _ts(row["recorded_at"]),
    )


def link_hash(
    prev_hash: str,
    event_id: Any,
    stream_id: Any,
    version: Any,
    type_: Any,
    schema_version: Any,
    data: Any,
    meta: Any,
    occurred_at: str,
    recorded_at: str,
) -> str:
    """``event_hash`` from the row's values, the times as ``_ts`` writes them.

    The hashed text is the canonical JSON of the nine fields (keys sorted). With the types an
    event row has (text and integers) it is written here directly, in that order: the same
    text as ``canonical`` of the dict, without building and sorting one per event.
    """
    if (
        type(version) is int
        and type(schema_version) is int
        and type(event_id) is str
        and type(stream_id) is str
        and type(type_) is str
        and type(data) is str
        and type(meta) is str
    ):
        content = (
            f'{{"data":{_quote(data)},"event_id":{_quote(event_id)},"meta":{_quote(meta)},'
            f'"occurred_at":{_quote(occurred_at)},"recorded_at":{_quote(recorded_at)},'
            f'"schema_version":{schema_version},"stream_id":{_quote(stream_id)},'
            f'"type":{_quote(type_)},"version":{version}}}'
        )
    else:
        content = canonical(
            {
                "event_id": event_id,
                "stream_id": stream_id,
                "version": version,
                "type": type_,
                "schema_version": schema_version,
                "data": data,
                "meta": meta,
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
            }
        )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def _ts(value: Any) -> str:
    # Both backends give back naive UTC datetimes with microseconds; normalise the text.
    return value.isoformat(timespec="microseconds") if hasattr(value, "isoformat") else str(value)
