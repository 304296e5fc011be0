"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis).

The gateway runs in this process and every registered service as a real process (a stack).
Every operation gets ``SESP_FUZZ_EXAMPLES`` generated requests (default 10, derandomized so a
run is reproducible) that fit its schema and as many that break it, sent with a token of a
role the operation allows. No response may be a 5xx, and each one's status, content type and
body must match what the document declares.
"""

from __future__ import annotations

import os
from collections import Counter

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.auth import BUREAU_OFFICER, USCC_ROLES
from gateway.openapi import build_spec
from gateway.routing import routes_of
from gateway.service import GatewayService
from infra import registry

EXAMPLES = int(os.environ.get("SESP_FUZZ_EXAMPLES", "10"))
SPEC = build_spec(routes_of(GatewayService))
SCHEMA = schemathesis.openapi.from_dict(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
SENT: Counter = Counter()
USCC = "91350200776049653A"


@pytest.fixture(scope="module")
def stack(module_stacks):
    return module_stacks(
        registry.names(),
        gateway=True,
        # A generous public rate: the fuzzer is one client sending hundreds of requests.
        gateway_config={"SESP_PUBLIC_RATE": "1000/s"},
        clock=None,
    )


@pytest.fixture(scope="module")
def tokens(stack):
    out = {}
    for role in ("city_admin", BUREAU_OFFICER, *USCC_ROLES):
        if role == BUREAU_OFFICER:
            out[role] = stack.token(role, bureau="310115")
        elif role in USCC_ROLES:
            out[role] = stack.token(role, uscc=USCC)
        else:
            out[role] = stack.token(role)
    return out


def test_the_served_document_is_the_one_fuzzed(stack):
    assert stack.client().get("/openapi.json").json() == SPEC


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_fuzz(stack, tokens, operation, mode, record_property):
    """Valid requests (positive) and requests that break the schema (negative) alike."""
    roles = operation.definition.raw.get("x-roles", ["public"])
    headers = {} if roles == ["public"] else {"Authorization": f"Bearer {tokens[roles[0]]}"}
    raw = operation.definition.raw
    if mode == GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
        pytest.skip("an operation without inputs has nothing to break")
    strategy = operation.as_strategy(generation_mode=mode)

    @hypothesis.given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        SENT[(operation.label, mode.value)] += 1
        case.call_and_validate(base_url=stack.url, headers=headers, checks=CHECKS)

    run()
    record_property("fuzz_requests", SENT[(operation.label, mode.value)])


def test_fuzz_totals(record_property):
    record_property("fuzz_operations", len(OPERATIONS))
    record_property("fuzz_requests_total", sum(SENT.values()))
    by_mode = Counter()
    for (_, mode), n in SENT.items():
        by_mode[mode] += n
    print(f"\nfuzzed {len(OPERATIONS)} operations: {dict(by_mode)} requests")
