"""The blacklist deployed after the credit service told its triggers lists the units all the
same: its subscriptions read the credit service's and licensing's history (``read_all``) before
their queues take over, so a listing does not depend on the blacklist running when the fact
was recorded."""

from infra.testing import ServiceProcess, wait_until
from tests.credit_units import CLOCK, XUHUI, licensed_unit


def test_blacklist_started_later_lists_from_the_credit_services_history(stacks):
    stack = stacks(["licensing", "maintenance_credit"], gateway=True, clock=CLOCK)
    gw = stack.gateway
    admin = gw.headers(gw.token("city_admin"))
    body = {"bureau": XUHUI, "kinds": ["production_licence"], "effective_from": "2014-01-01"}
    assert gw.client.post("/v1/delegations", json=body, headers=admin).status_code == 201
    uscc = licensed_unit(gw, admin)
    officer = gw.headers(gw.token("bureau_officer", bureau=XUHUI))
    fact = {
        "event_id": f"late-{uscc}",
        "unit_uscc": uscc,
        "type": "beyond_licence_scope",
        "occurred_at": "2014-09-29T08:00:00+08:00",
        "details": {},
    }
    assert gw.client.post("/v1/quality-events", json=fact, headers=officer).status_code == 201

    # Published before the blacklist has queues: only catch-up can bring it what happened.
    stack.wait_published(["licensing", "maintenance_credit"])
    url = f"sqlite:///{stack.data_dir / 'blacklist.db'}"
    env = {**stack.env, "SESP_BLACKLIST_DATABASE_URL": url}
    stack.processes["blacklist"] = ServiceProcess(
        "blacklist", env, stack.data_dir / "blacklist.log"
    ).start()  # the stack stops it with the others
    stack.wait_ready(["blacklist"])

    def listed() -> list:
        response = gw.client.get(f"/v1/public/blacklist/{uscc}")
        return response.json()["listings"] if response.status_code == 200 else []

    # listed from the credit service's history, named from licensing's (two subscriptions,
    # in either order)
    wait_until(
        lambda: [x for x in listed() if x["name"] != uscc],
        timeout=60,
        what="the blacklist to list and name the unit from history",
    )
    (listing,) = listed()
    assert listing["reason"] == "maintenance work beyond the licence scope"
    assert listing["listed_on"] == "2014-09-29"
    assert listing["name"].endswith(uscc[-4:]) and listing["district"] == XUHUI
    with stack.rpc() as rpc:
        consumers = {c["source"]: c for c in rpc.blacklist.health()["consumers"]}
    assert sorted(consumers) == ["licensing", "maintenance_credit"]
    for consumer in consumers.values():
        assert consumer["catch_up"]["events_read"] > 0
        assert (consumer["dead_lettered"], consumer["handler_failures"]) == (0, 0)
