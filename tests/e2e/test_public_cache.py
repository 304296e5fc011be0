"""Public reads answered from the gateway's memory until an event of their source arrives.

A test route reads from a stub service ``register`` that counts its calls; an event published
on ``register.events`` (as the service's relay would) is what makes the next read ask again.
"""

from __future__ import annotations

import json
from collections import Counter

import kombu
import pytest

from gateway.call import Call
from gateway.routing import PUBLIC, route
from gateway.service import GatewayService
from infra.bus.entrypoints import rpc
from infra.testing import wait_until

READS: Counter[str] = Counter()


class Register:
    name = "register"

    @rpc
    def ping(self):
        return {"service": "register", "ok": True}

    @rpc
    def listing(self, code):
        READS[code] += 1
        return {"code": code, "reads": READS[code]}


class RegisterRoutes:
    @route(
        "GET",
        "/v1/public/kept/{code}",
        roles=PUBLIC,
        tag="Test",
        summary="a public read kept until the register's next event",
        cache_from=("register",),
    )
    def kept(self, call: Call):
        return self.rpc.register.listing(call.path["code"])


class Roster:
    """A source whose public answers change with one type of its events only."""

    name = "roster"

    @rpc
    def ping(self):
        return {"service": "roster", "ok": True}

    @rpc
    def entry(self, code):
        READS[f"roster-{code}"] += 1
        return {"code": code, "reads": READS[f"roster-{code}"]}


class KeptRoutes:
    @route(
        "GET",
        "/v1/public/roster/{code}",
        roles=PUBLIC,
        tag="Test",
        summary="a public read kept until the roster's next ListingChanged",
        cache_from=(("roster", ("ListingChanged",)),),
    )
    def roster_entry(self, call: Call):
        return self.rpc.roster.entry(call.path["code"])


class KeptGateway(RegisterRoutes, KeptRoutes, GatewayService):
    name = "gateway"


@pytest.fixture(scope="module")
def gw(gateways, stub_services):
    stub_services([Register, Roster])
    # Kept for ever unless an event comes: what these tests look at (the age limit: below).
    gateway = gateways(
        service_cls=KeptGateway, SESP_PUBLIC_RATE="100000/s", SESP_PUBLIC_CACHE_SECONDS="3600"
    )
    listening = gateway.core.public_cache.listening
    wait_until(lambda: {"register", "roster"} <= listening, what="listening")
    return gateway


def publish_event(amqp_uri: str, source: str, kind: str = "ListingChanged") -> None:
    with kombu.Connection(amqp_uri) as conn:
        exchange = kombu.Exchange(f"{source}.events", type="topic", durable=True)
        conn.Producer().publish(json.dumps({"type": kind}), exchange=exchange, routing_key=kind)


def test_repeated_public_reads_do_not_reach_the_service(gw):
    first = gw.client.get("/v1/public/kept/A")
    assert first.status_code == 200 and first.json() == {"code": "A", "reads": 1}
    for _ in range(20):
        again = gw.client.get("/v1/public/kept/A")
        assert again.json() == {"code": "A", "reads": 1}
        assert again.headers["etag"] == first.headers["etag"]
    assert READS["A"] == 1
    revalidated = gw.client.get(
        "/v1/public/kept/A", headers={"If-None-Match": first.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert 'sesp_public_cache_total{outcome="hit"}' in gw.client.get("/metrics").text


def test_an_event_of_the_source_makes_the_next_read_ask_again(gw, module_amqp_uri):
    assert gw.client.get("/v1/public/kept/B").json()["reads"] == 1
    assert gw.client.get("/v1/public/kept/B").json()["reads"] == 1
    publish_event(module_amqp_uri, "register")
    wait_until(lambda: gw.client.get("/v1/public/kept/B").json()["reads"] == 2, what="new read")
    assert gw.client.get("/v1/public/kept/B").json()["reads"] == 2  # and kept again


def test_events_of_other_services_keep_the_answers(gw, module_amqp_uri):
    gw.client.get("/v1/public/kept/C")
    publish_event(module_amqp_uri, "licensing")
    assert gw.client.get("/v1/public/kept/C").json()["reads"] == 1


def test_a_source_named_with_event_types_is_heard_only_for_those(gw, module_amqp_uri):
    # The gateway's queue is bound to ListingChanged alone: a flood of other events (a unit's
    # maintenance records) neither reaches it nor empties its answers.
    assert gw.core.public_cache.bindings["roster"] == frozenset({"ListingChanged"})
    assert gw.client.get("/v1/public/roster/F").json()["reads"] == 1
    generation = gw.core.public_cache.generations["roster"]
    for _ in range(50):
        publish_event(module_amqp_uri, "roster", "MaintenanceRecorded")
    publish_event(module_amqp_uri, "roster", "ListingChanged")  # after them, in order
    wait_until(lambda: gw.client.get("/v1/public/roster/F").json()["reads"] == 2, what="new read")
    assert gw.core.public_cache.generations["roster"] == generation + 1


def test_the_routes_of_one_source_are_heard_for_the_union_of_their_types():
    from gateway.publiccache import PublicCache

    cache = PublicCache(None)
    cache.start(
        [
            {"a": frozenset({"X"}), "b": frozenset({"Y"})},
            {"a": frozenset({"Z"}), "b": None},
        ]
    )
    assert cache.bindings == {"a": frozenset({"X", "Z"}), "b": None}


def test_without_the_event_stream_nothing_is_kept(gw):
    cache = gw.core.public_cache
    cache.listening.discard("register")  # as while the broker connection is down
    try:
        reads = [gw.client.get("/v1/public/kept/D").json()["reads"] for _ in range(3)]
        assert reads == [1, 2, 3]
    finally:
        cache.listening.add("register")


def test_an_answer_is_kept_at_most_its_age(gateways):
    gw = gateways(service_cls=KeptGateway, SESP_PUBLIC_CACHE_SECONDS="2")
    wait_until(lambda: "register" in gw.core.public_cache.listening, what="listening")
    first = gw.client.get("/v1/public/kept/E").json()["reads"]
    assert gw.client.get("/v1/public/kept/E").json()["reads"] == first  # kept...
    wait_until(
        lambda: gw.client.get("/v1/public/kept/E").json()["reads"] > first, what="read again"
    )  # ...until it is 2 s old


def test_only_public_reads_can_be_kept():
    with pytest.raises(ValueError):
        route("POST", "/v1/public/x", roles=PUBLIC, tag="T", summary="s", cache_from=("a",))(
            lambda self, call: None
        )
