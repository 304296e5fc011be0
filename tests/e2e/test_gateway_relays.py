"""Each service's outbox relay as the gateway shows it, over real HTTP: ``/metrics`` gauges from
every service's ``relay_status`` RPC, and ``/readyz`` naming a stuck relay while it stays ready
(stub services answer the RPC as a service would)."""

from __future__ import annotations

import pytest

from infra import registry
from tests.stacks import make_stub_service

STUCK, HEALTHY, *SILENT = registry.names()  # SILENT: services that do not answer relay_status


def relay(**changes) -> dict:
    status = {
        "active_here": True,
        "position": 40,
        "head": 42,
        "behind": 2,
        "lag_seconds": 1.5,
        "waiting_at_gap": False,
        "error": None,
        "error_since": None,
        "failures": 0,
        "stuck_event": None,
        "parked": 0,
    }
    return {**status, **changes}


STUCK_STATUS = relay(
    position=10,
    head=15,
    behind=5,
    lag_seconds=300.0,
    error="PoisonEvent: event e-1 (Junk, position 11): unreadable",
    error_since="2030-01-01T09:00:00+00:00",
    failures=7,
    stuck_event={"event_id": "e-1", "position": 11, "type": "Junk"},
)


@pytest.fixture(scope="module")
def gw(gateways, stub_services):
    stub_services(
        [
            make_stub_service(STUCK, relay_status=lambda self: {"service": STUCK, **STUCK_STATUS}),
            make_stub_service(HEALTHY, relay_status=lambda self: {"service": HEALTHY, **relay()}),
            *[make_stub_service(name) for name in SILENT],
        ]
    )
    return gateways(SESP_READY_TIMEOUT="2")


def test_readyz_stays_ready_and_names_the_stuck_relay(gw):
    response = gw.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["checks"].values()) == {"ok"}
    assert body["relays"][STUCK] == (
        "stuck at event e-1 (Junk, position 11) since 2030-01-01T09:00:00+00:00, 7 attempt(s):"
        " PoisonEvent: event e-1 (Junk, position 11): unreadable"
    )
    assert body["relays"][HEALTHY] == "ok"
    for name in SILENT:
        assert body["relays"][name] == "unknown (no relay_status answer)"


def test_metrics_show_each_relays_lag_and_the_stuck_one(gw):
    text = gw.client.get("/metrics").text
    for line in (
        f'sesp_relay_stuck{{service="{STUCK}"}} 1.0',
        f'sesp_relay_failures{{service="{STUCK}"}} 7.0',
        f'sesp_relay_lag_events{{service="{STUCK}"}} 5.0',
        f'sesp_relay_lag_seconds{{service="{STUCK}"}} 300.0',
        f'sesp_relay_position{{service="{STUCK}"}} 10.0',
        f'sesp_relay_stuck{{service="{HEALTHY}"}} 0.0',
        f'sesp_relay_lag_events{{service="{HEALTHY}"}} 2.0',
        f'sesp_relay_waiting_at_gap{{service="{HEALTHY}"}} 0.0',
        f'sesp_relay_status_up{{service="{HEALTHY}"}} 1.0',
    ):
        assert line in text.splitlines(), line
    for name in SILENT:  # no answer: said so, and no stale lag
        assert f'sesp_relay_status_up{{service="{name}"}} 0.0' in text.splitlines()
        assert f'sesp_relay_lag_events{{service="{name}"}}' not in text
