"""What the end-to-end tests of maintenance credit, the blacklist and complaints share: a stack
whose Xuhui bureau may license, and maintenance units licensed there through the gateway."""

from __future__ import annotations

from collections.abc import Callable

from infra.testing import Stack, wait_until
from services.licensing.examples import new_uscc, production_licence

XUHUI, HUANGPU = "310104", "310101"
CLOCK = "2014-09-29T09:00:00+08:00"


def xuhui_stack(module_stacks: Callable[..., Stack], services: list[str]) -> Stack:
    """``services`` with a gateway, on the shared clock at ``CLOCK``; Xuhui holds the power to
    decide production licences (so its officers can license units)."""
    stack = module_stacks(services, gateway=True, clock=CLOCK)
    gw = stack.gateway
    admin = gw.headers(gw.token("city_admin"))
    body = {"bureau": XUHUI, "kinds": ["production_licence"], "effective_from": "2014-01-01"}
    assert gw.client.post("/v1/delegations", json=body, headers=admin).status_code == 201
    return stack


def licensed_unit(gw, admin, district: str = XUHUI) -> str:
    """A maintenance unit in ``district``, once the credit service knows it: licensed by Xuhui
    there, by the city bureau anywhere else (no other district holds the power)."""
    uscc = new_uscc()
    body = production_licence(uscc, scope=("elevator:maintenance",), level=None, district=district)
    app = gw.client.post("/v1/applications", json=body, headers=admin)
    assert app.status_code == 201, app.text
    base = f"/v1/applications/{app.json()['id']}"
    assert gw.client.post(f"{base}/accept", json={}, headers=admin).status_code == 200
    approved = gw.client.post(f"{base}/approve", json={"opinion": "ok"}, headers=admin)
    assert approved.status_code == 200, approved.text
    wait_until(
        lambda: gw.client.get(f"/v1/credit/units/{uscc}", headers=admin).status_code == 200,
        timeout=20,
        what=f"the credit service to learn of {uscc}",
    )
    return uscc
