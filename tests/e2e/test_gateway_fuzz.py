"""Fuzzing the whole HTTP API from its own OpenAPI document, against real services.

The gateway runs in this process and every registered service as a real process (a stack on
PostgreSQL, the production database). Two fuzzers, one assertion: no response is a 5xx.

- **Schemathesis** (``test_fuzz``): every operation gets ``SESP_FUZZ_EXAMPLES`` generated
  requests (default 10, derandomized so a run is reproducible) that fit its schema and as many
  that break it, sent with a token of a role the operation allows; each response's status,
  content type and body must also match what the document declares.
- **Mutations** (``test_every_field_survives_hostile_values``): a request the operation takes
  (the authorization matrix's, on real objects, and every documented example), with each of
  its fields, query and path parameters in turn set to a value that once broke an input
  somewhere: integers past 32 and 64 bits, the first and last dates, timestamps whose offset
  pushes them out of the calendar, lone surrogates, digits that are not ASCII, NUL, the wrong
  JSON type. A mutated body the edge lets through is sent on a fresh object, so that it reaches
  the service's own code instead of a conflict with the previous request.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import quote

import eventlet
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from marshmallow import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.auth import CITY_ADMIN
from gateway.openapi import build_spec
from gateway.routing import ApiRoute, routes_of
from gateway.service import GatewayService
from infra import registry
from tests.e2e.test_gateway_matrix import CASES, CLOCK, Req, World, prepared_world

EXAMPLES = int(os.environ.get("SESP_FUZZ_EXAMPLES", "10"))
ROUTES = routes_of(GatewayService)
SPEC = build_spec(ROUTES)
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def world(module_stacks):
    """Every registered service on PostgreSQL (it refuses what SQLite stores: NUL in text,
    integers past 64 bits), the gateway in this process, the matrix's clock and objects."""
    stack = module_stacks(
        registry.names(),
        gateway=True,
        db="postgresql",
        # A generous public rate: the fuzzers are one client sending thousands of requests.
        gateway_config={"SESP_PUBLIC_RATE": "100000/s"},
        clock=CLOCK,
    )
    return prepared_world(stack)


@pytest.fixture(scope="module")
def tokens(world) -> dict[str, str]:
    """One in-scope token per role (the matrix world's codes and bureau)."""
    from gateway.auth import ROLES

    return {role: world.token(role) for role in ROLES}


def test_the_served_document_is_the_one_fuzzed(world):
    assert world.gw.client.get("/openapi.json").json() == SPEC


# --- schemathesis -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_fuzz(world, tokens, operation, mode):
    """Valid requests (positive) and requests that break the schema (negative) alike."""
    roles = operation.definition.raw.get("x-roles", ["public"])
    headers = {} if roles == ["public"] else {"Authorization": f"Bearer {tokens[roles[0]]}"}
    raw = operation.definition.raw
    if mode == GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
        pytest.skip("an operation without inputs has nothing to break")
    strategy = operation.as_strategy(generation_mode=mode)
    sent = Counter()

    @hypothesis.given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        sent["requests"] += 1
        case.call_and_validate(base_url=world.gw.url, headers=headers, checks=CHECKS)

    run()
    assert sent["requests"] > 0, "hypothesis generated no request: nothing was fuzzed"


# --- mutations ----------------------------------------------------------------------------------

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

# Values any field may receive, by what they once broke somewhere: integers past a 32- or
# 64-bit column, dates at both ends of the calendar, offsets that push a time out of it, text
# no store holds (a lone surrogate, NUL), digits that are not ASCII, the wrong JSON type.
HOSTILE: list[tuple[str, Any]] = [
    ("2^31", 2**31),
    ("2^63", 2**63),
    ("-2^63-1", -(2**63) - 1),
    ("10^30", 10**30),
    ("1e308", 1e308),
    ("a list", ["x"]),
    ("an object", {"a": 1}),
    ("null", None),
    ("first date", "0001-01-01"),
    ("last date", "9999-12-31"),
    ("first instant east", "0001-01-01T00:00:00+23:59"),
    ("last instant west", "9999-12-31T23:59:59-23:59"),
    ("lone surrogate", "\ud800"),
    ("fullwidth digits", "１２"),
    ("Arabic-Indic digits", "١٢"),
    ("superscript two", "²"),
    ("NUL", "\x00"),
    ("long", "x" * 5000),
]
# Query and path parameters are text: the same ideas, as text.
HOSTILE_TEXT: list[tuple[str, str]] = [
    ("2^31", str(2**31)),
    ("2^63", str(2**63)),
    ("-2^63-1", str(-(2**63) - 1)),
    ("10^30", "1" + "0" * 30),
    ("first date", "0001-01-01"),
    ("last date", "9999-12-31"),
    ("first instant east", "0001-01-01T00:00:00+23:59"),
    ("last instant west", "9999-12-31T23:59:59-23:59"),
    ("lone surrogate", "\ud800"),
    ("fullwidth digits", "１２"),
    ("Arabic-Indic digits", "١٢"),
    ("superscript two", "²"),
    ("NUL", "\x00"),
    ("long", "x" * 3000),
]
SENDERS = 4  # requests in flight at once: the gateway, the services and the tests share 2 cores


def variants_of(original: Any, text_only: bool = False) -> list[tuple[str, Any]]:
    """The hostile values, plus the original made hostile: its digits in other scripts (what
    ``\\d`` in a pattern lets through), a trailing newline (what ``$`` lets through)."""
    out = list(HOSTILE_TEXT if text_only else HOSTILE)
    if isinstance(original, str) and original:
        if any("0" <= c <= "9" for c in original):
            out += [
                ("its digits fullwidth", original.translate(FULLWIDTH)),
                ("its digits Arabic-Indic", original.translate(ARABIC_INDIC)),
                ("its last digit superscript", _last_digit(original)),
            ]
        out.append(("with a trailing newline", original + "\n"))
    elif not text_only and isinstance(original, int | float) and not isinstance(original, bool):
        out.append(("the number as text", str(original)))
    return out


def _last_digit(text: str) -> str:
    i = max(i for i, c in enumerate(text) if "0" <= c <= "9")
    return text[:i] + text[i].translate(SUPERSCRIPT) + text[i + 1 :]


def resolve(schema: dict | None, value: Any = None) -> dict:
    """A schema of the document with its ``$ref`` followed and, for a ``oneOf`` with a
    discriminator, the variant ``value`` names."""
    schema = schema or {}
    for _ in range(10):
        if "$ref" in schema:
            schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "oneOf" in schema and "discriminator" in schema:
            by = schema["discriminator"]
            target = by.get("mapping", {}).get((value or {}).get(by["propertyName"]) or "")
            schema = {"$ref": target} if target else {}
        else:
            return schema
    return schema


def field_paths(value: Any, schema: dict | None, prefix: tuple = ()) -> list[tuple]:
    """Every field path of a body: those it has and those its schema declares."""
    schema = resolve(schema, value)
    out: list[tuple] = []
    if isinstance(value, dict) or (value is None and schema.get("properties")):
        value = value or {}
        props = schema.get("properties") or {}
        for key in [*value, *(k for k in props if k not in value)]:
            out.append((*prefix, key))
            out += field_paths(value.get(key), props.get(key), (*prefix, key))
    elif isinstance(value, list) and value:
        out.append((*prefix, 0))
        out += field_paths(value[0], schema.get("items"), (*prefix, 0))
    return out


def with_value(body: Any, path: tuple, value: Any) -> Any:
    """A copy of ``body`` with ``value`` at ``path`` (missing objects on the way are made)."""
    body = copy.deepcopy(body) if body is not None else {}
    node = body
    for step, following in zip(path, path[1:], strict=False):
        if isinstance(step, int):
            node = node[step]
            continue
        if not isinstance(node.get(step), dict | list):
            node[step] = [{}] if isinstance(following, int) else {}
        node = node[step]
    if isinstance(path[-1], int) and not node:
        node.append(value)
    else:
        node[path[-1]] = value
    return body


def label_of(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "(body)"


def documented_examples(route: ApiRoute) -> list[Any]:
    """The example bodies the document gives for an operation."""
    op = SPEC["paths"][route.path][route.http_method.lower()]
    media = op.get("requestBody", {}).get("content", {}).get(route.body_media, {})
    return [e["value"] for e in media.get("examples", {}).values()]


def _encode(text: str) -> str:
    # A lone surrogate has no UTF-8: send the bytes a careless client would (CESU-8).
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


class Target:
    """One operation, its token and its base requests; sends mutated copies of them."""

    def __init__(self, world: World, tokens: dict[str, str], route: ApiRoute):
        self.world, self.route = world, route
        self.case = CASES.get(route.operation_id)
        self.role = (
            None if route.public else (CITY_ADMIN if CITY_ADMIN in route.roles else route.roles[0])
        )
        self.token = tokens[self.role] if self.role else None
        self.base = self.case.ok(world, self.role) if self.case else Req()
        self.sent = 0

    def fresh(self) -> Req:
        """A new request on a new object (a command the edge let through changes it)."""
        return self.case.ok(self.world, self.role) if self.case else self.base

    def url(self, path: dict[str, str], params: dict[str, Any]) -> str:
        url = self.route.path
        for name in self.route.param_names:
            url = url.replace("{" + name + "}", _encode(str(path.get(name, "fuzz-placeholder"))))
        if params:
            url += "?" + "&".join(f"{_encode(k)}={_encode(str(v))}" for k, v in params.items())
        return url

    def send(self, path: dict, params: dict, body: Any = None):
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        content = None
        if self.route.http_method in ("POST", "PUT", "PATCH") and self.route.form:
            # A site form's fields: text as it is, anything else as its JSON text.
            fields = body if isinstance(body, dict) else {"_": body}
            content = "&".join(
                f"{_encode(str(k))}={_encode(v if isinstance(v, str) else json.dumps(v))}"
                for k, v in fields.items()
            ).encode("ascii")
            headers["Content-Type"] = self.route.body_media
        elif self.route.http_method in ("POST", "PUT", "PATCH"):
            content = json.dumps({} if body is None else body).encode("ascii")
            headers["Content-Type"] = "application/json"
        self.sent += 1
        return self.world.gw.client.request(
            self.route.http_method, self.url(path, params), content=content, headers=headers
        )

    def passes_edge(self, body: Any) -> bool:
        """Whether the gateway's own schema lets the body through (as it will in the server)."""
        try:
            self.route.body_schema.load(body)
        except ValidationError:
            return False
        return True

    def planned(self) -> list[tuple[str, Any]]:
        """(what is changed, a function sending the request) for every mutation. A field path
        is mutated once, in the first base request that has it: the examples add the shapes
        (an application's kinds, optional fields) the matrix's request lacks."""
        route, base = self.route, self.base
        bodies = [base.json] if route.body_schema is not None else []
        bodies += [e for e in documented_examples(route) if e != base.json]
        plan: list[tuple[str, Any]] = []
        done: set[tuple] = set()
        for body in bodies:
            op = SPEC["paths"][route.path][route.http_method.lower()]
            schema = op["requestBody"]["content"][route.body_media]["schema"]
            for path in field_paths(body, schema):
                if path in done:
                    continue
                done.add(path)
                for name, value in variants_of(_get(body, path)):
                    mutated = with_value(body, path, value)
                    plan.append((f"body {label_of(path)} = {name}", partial(self._body, mutated)))
        query_fields = list(route.query_schema.fields) if route.query_schema else []
        body = bodies[0] if bodies else None
        for param in query_fields:
            for name, value in variants_of(base.params.get(param), text_only=True):
                params = {**base.params, param: value}
                plan.append(
                    (f"query {param} = {name}", partial(self.send, base.path, params, body))
                )
        for param in route.param_names:
            for name, value in variants_of(base.path.get(param), text_only=True):
                path = {**base.path, param: value}
                plan.append((f"path {param} = {name}", partial(self.send, path, base.params, body)))
        return plan

    def _body(self, mutated: Any):
        # A body the edge lets through goes to a fresh object: on the base one it would meet
        # the state the previous request left (a 409) before any of the service's own code.
        through = self.route.param_names and self.passes_edge(mutated)
        req = self.fresh() if through else self.base
        return self.send(req.path, req.params, mutated)

    def mutations(self) -> Iterator[tuple[str, Any]]:
        """(what was changed, response) for every mutation, ``SENDERS`` at a time."""
        plan = self.planned()
        pool = eventlet.GreenPool(SENDERS)
        responses = pool.imap(lambda item: item[1](), plan)
        for (what, _), response in zip(plan, responses, strict=True):
            yield what, response


def _get(body: Any, path: tuple) -> Any:
    node = body
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


FUZZED = [r for r in ROUTES if r.body_schema is not None or r.query_schema or r.param_names]


@pytest.mark.parametrize("route", FUZZED, ids=[f"{r.http_method} {r.path}" for r in FUZZED])
def test_every_field_survives_hostile_values(world, tokens, route, record_property):
    target = Target(world, tokens, route)
    failures = [
        f"{what}: {response.status_code} {response.text[:300]}"
        for what, response in target.mutations()
        if response.status_code >= 500
    ]
    record_property("mutated_requests", target.sent)
    assert target.sent > 0, "no mutation was sent: the operation was not fuzzed"
    assert not failures, f"{len(failures)} of {target.sent} requests answered 5xx:\n" + "\n".join(
        failures
    )
