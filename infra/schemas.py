"""The schema base of the gateway and every service (marshmallow).

- ``Strict``: command bodies; an unknown field is an error (422 on that field).
- ``Reply``: replies; fields beyond those named pass through, so adding a field to a response
  never breaks a client's schema check.
- ``flatten_errors``: one rule for field paths, everywhere: segments joined by dots, list
  items by their index (``applicant.uscc``, ``policies.3.ends_on``); a nested schema's own
  (``_schema``) messages belong to the nested field's path (``applicant``), and only the
  top-level schema's to ``_schema``.
- ``load``: load or raise the kernel's ``Invalid`` with those paths.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError

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
