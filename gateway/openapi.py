"""The OpenAPI 3.1 document, generated with apispec from the routes and their marshmallow
schemas. Every route's declared responses are listed, plus the errors the framework itself may
answer for it (401/403 for protected routes, 400/413/415/422 where a body is read, 429 on the
public API and the site's form submissions; where a service is called, the statuses of the
domain errors (404, 409, 422) and 502/503/504), all as ``application/problem+json`` (a site
form's route answers them as HTML pages).

For newcomers (``gateway.guide``): every request body carries named working examples; a body
whose field changes shape with another (an application's ``subject`` by ``kind``) is a
``oneOf`` with a discriminator, one object per value; every field that takes a bureau or a
district code lists the codes with their names (``infra.places``), as the introduction does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from gateway.guide import VARIANTS, examples_for
from gateway.problems import PROBLEM_JSON, PROBLEM_TYPES
from gateway.schemas import ProblemSchema
from infra.places import BUREAU_NAMES, DISTRICT_NAMES, place_of

API_VERSION = "1.0.0"
DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No content",
    304: "Not modified",
    400: "Malformed request or JSON",
    401: "Missing, unknown or revoked token",
    403: "Role or scope does not allow this",
    404: "Not found",
    409: (
        "Conflict with the object's state, a lost race, a request still in progress, or a "
        "replayed Idempotency-Key whose response held a secret shown once"
    ),
    410: "A replayed Idempotency-Key whose stored response named a person since erased",
    412: "If-Match names another version",
    413: "Body over the limit",
    415: "Body is not application/json",
    422: "Schema or rule violation; errors by field path",
    429: "Rate limit; see Retry-After",
    502: "A service failed",
    503: "A service is not running",
    504: "A service did not answer in time",
}


def _schema_name(schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    name = name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name
    partial = getattr(schema, "partial", None) if not isinstance(schema, type) else None
    return name + ("Partial" if partial else "")


def error_statuses(route) -> set[int]:
    codes = set(route.errors)
    if not route.public:
        codes |= {401, 403}
    if route.http_method in ("POST", "PUT", "PATCH"):
        codes |= {400, 413, 415, 422}
    if route.http_method == "POST":
        # Idempotency-Key in progress, secret shown once / response erased / reused
        codes |= {409, 410, 422}
    if route.query_schema is not None:
        codes.add(422)
    if route.param_names:
        codes.add(404)
    if route.if_match_header:
        codes |= {412, 400}
    if route.rate_limited:
        codes.add(429)
    if route.calls_services:
        # Any domain error a service raises is mapped here, whatever the route.
        codes |= {404, 409, 422, 502, 503, 504}
    return codes - set(route.responses)


def _parameters(route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in route.param_names:
        schema = route.path_params.get(name, {"type": "string", "minLength": 1})
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    if route.query_schema is not None:
        params.append({"in": "query", "schema": route.query_schema})
    if route.http_method == "POST":
        params.append(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "description": "Retry-safe POST: the first response is replayed for 24 h "
                               "(a new token's secret never is: 409).",
                "schema": {"type": "string", "minLength": 1, "maxLength": 64,
                           "pattern": "^[!-~]+$"},
            }
        )  # fmt: skip
    if route.if_match_header:
        params.append(
            {
                "in": "header",
                "name": "If-Match",
                "required": False,
                "description": 'The version the command expects, as "<version>".',
                "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
            }
        )
    return params


def _response(route, status: int, declared: Any) -> dict[str, Any]:
    """A declared response: a schema (class or instance), None (no body), or options
    ``{"schema", "description", "content_type"}`` (e.g. HTML or CSV)."""
    if isinstance(declared, dict):
        description = declared.get("description") or DESCRIPTIONS.get(status, "")
        schema = declared.get("schema")
        content_type = declared.get("content_type", route.content_type)
    else:
        description, schema = DESCRIPTIONS.get(status, ""), declared
        content_type = route.content_type
    out: dict[str, Any] = {"description": description}
    if status in (204, 304) or (schema is None and content_type == "application/json"):
        return out
    schema = schema if schema is not None else {"type": "string"}
    out["content"] = {content_type: {"schema": schema}}
    return out


def operation(route) -> dict[str, Any]:
    roles = "public" if route.public else ", ".join(route.roles)
    description = route.description or route.summary
    op: dict[str, Any] = {
        "operationId": route.operation_id,
        "tags": [route.tag],
        "summary": route.summary,
        "description": f"{description}\n\nRoles: {roles}.",
        "x-roles": list(route.roles) if not route.public else ["public"],
        "security": [] if route.public else [{"bearer": []}],
        "parameters": _parameters(route),
        "responses": {},
    }
    if route.scope:
        op["x-scope"] = route.scope
        op["x-out-of-scope-status"] = route.out_of_scope
    if route.body_schema is not None:
        media: dict[str, Any] = {"schema": route.body_schema}
        examples = examples_for(route.body_schema)
        if examples:
            media["examples"] = {
                name: {"summary": e.summary, "value": e.value} for name, e in examples.items()
            }
        op["requestBody"] = {"required": True, "content": {route.body_media: media}}
    for status, declared in sorted(route.responses.items()):
        op["responses"][str(status)] = _response(route, status, declared)
    # A site form's route answers its problems as pages (routing's ``problem_page``).
    error_media = (
        {"text/html": {"schema": {"type": "string"}}}
        if route.problem_page is not None
        else {PROBLEM_JSON: {"schema": "Problem"}}
    )
    for status in sorted(error_statuses(route)):
        op["responses"][str(status)] = {
            "description": DESCRIPTIONS.get(status, ""),
            "content": error_media,
        }
    return op


def build_spec(routes: Iterable) -> dict[str, Any]:
    spec = APISpec(
        title="SESP: Special Equipment Safety Platform",
        version=API_VERSION,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_name)],
        info={
            "description": (
                "The regulator's platform for special-equipment licensing, maintenance "
                "credit, the public blacklist and elevator insurance. Errors are "
                "application/problem+json (RFC 9457); problem types: "
                + ", ".join(sorted(PROBLEM_TYPES))
                + "."
                + places_text()
            )
        },
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    for variants in VARIANTS:
        for cls in dict.fromkeys(variants.schemas.values()):
            spec.components.schema(_schema_name(cls), schema=cls)
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "An API token"}
    )
    by_path: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.http_method)):
        by_path.setdefault(route.path, {})[route.http_method.lower()] = operation(route)
        tags[route.tag] = None
    for path in sorted(by_path):
        spec.path(path=path, operations=by_path[path])
    out = spec.to_dict()
    out["tags"] = [{"name": t} for t in tags]
    schemas = out["components"]["schemas"]
    for variants in VARIANTS:
        _describe_variants(schemas, variants)
    _name_places(out)
    return out


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _describe_variants(schemas: dict[str, Any], variants) -> None:
    """Replace the component of ``variants.schema`` by one object per value of its
    discriminator, each with the field's own schema (``oneOf``; OpenAPI's ``discriminator``)."""
    name = _schema_name(variants.schema)
    base = schemas.get(name)
    if base is None:  # no route of this gateway takes it
        return
    mapping = {}
    for value, cls in variants.schemas.items():
        properties = dict(base["properties"])
        properties[variants.by] = {**properties[variants.by], "enum": [value]}
        properties[variants.field] = {"$ref": _ref(_schema_name(cls))}
        variant_name = f"{name}.{value}"
        schemas[variant_name] = {
            **base,
            "title": variants.titles.get(value, value),
            "properties": properties,
        }
        mapping[value] = _ref(variant_name)
    for reply in variants.shown_by:
        shown = schemas.get(_schema_name(reply), {}).get("properties", {}).get(variants.field)
        if shown is not None:
            shapes = ", ".join(f"{v}: {_schema_name(c)}" for v, c in variants.schemas.items())
            shown["description"] = (
                f"as given, in the shape its `{variants.by}` takes: see the request body "
                f"{name} ({shapes})"
            )
    schemas[name] = {
        "description": f"`{variants.field}` depends on `{variants.by}`: "
        + "; ".join(f"`{v}`: {variants.titles.get(v, v)}" for v in mapping)
        + ".",
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": variants.by, "mapping": mapping},
    }


def places_text() -> str:
    """Every bureau and district code with its names, as the API's introduction lists them."""
    rows = []
    for code, (bureau_zh, bureau_en) in BUREAU_NAMES.items():
        zh, en = place_of(code)
        rows.append(f"| `{code}` | {zh} {en} | {bureau_zh} {bureau_en} |")
    return (
        "\n\n## Bureaus and districts\n\nA district is named by its code (GB/T 2260); a "
        "bureau by `SH` (the city bureau), `FTZ` (the Free Trade Zone branch) or the code of "
        "the district it supervises.\n\n| code | place | bureau |\n| --- | --- | --- |\n"
        + "\n".join(rows)
    )


def _place_names(codes: list[Any]) -> str:
    names = []
    for code in codes:
        zh, en = DISTRICT_NAMES.get(code) or BUREAU_NAMES[code]
        names.append(f"{code} {zh} ({en})")
    return "; ".join(names)


def _name_places(node: Any) -> None:
    """Give every enum of bureau or district codes in the document the names of its codes."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if (
            isinstance(enum, list)
            and len(enum) > 1
            and all(isinstance(c, str) and c in BUREAU_NAMES for c in enum)
        ):
            named = _place_names(enum)
            node["description"] = (
                f"{node['description']} ({named})" if node.get("description") else named
            )
        for value in node.values():
            _name_places(value)
    elif isinstance(node, list):
        for value in node:
            _name_places(value)
