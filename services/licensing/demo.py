"""Licensing demo data, loaded by ``infra.demo`` (the registry names both loaders).

The demo's past (``load_licensing_history``, on the first day of the history): 150
elevators registered across the districts, six maintenance units licensed for
``elevator:maintenance`` (and an installer) through the application flow, each demo elevator
under a maintenance contract. At real time (``load_licensing_demo``): the FTZ delegation of
the four powers; applications in every status; an operator certificate; a construction
notice; inspectors. Without a history (the demo's clock not its own) the units are licensed
at real time. Credit codes are seeded; each part is skipped when it was loaded already.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from infra.places import DISTRICTS, PUDONG
from services.licensing.examples import (
    new_equipment_code,
    new_resident_id,
    new_uscc,
    operator_certificate,
    production_licence,
    use_registration,
)

FTZ_POWERS = [
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
]
UNIT_NAMES = [
    "Shenlong Lift Service",
    "Huxin Elevator Maintenance",
    "Pujiang Lift Care",
    "Donghai Elevator Engineering",
    "Jinqiao Lift Works",
    "Xinhua Elevator Service",
]
# Where each unit is (its application's location): the public lists show and filter by it.
UNIT_DISTRICTS = ["310104", "310101", "310112", "310115", "310115", "310105"]


DEMO_ELEVATORS = 150


PARALLEL = 8  # commands in flight at once (the service runs 10 workers)


def in_parallel(method: Any, calls: Iterable[tuple]) -> list[Any]:
    """``method(*args)`` for each of ``calls``, a few in flight at once (an RPC proxy's
    ``call_async``), in order; the first refusal is raised."""
    results: list[Any] = []
    pending: list[Any] = []
    for args in calls:
        pending.append(method.call_async(*args))
        if len(pending) >= PARALLEL:
            results += [reply.result() for reply in pending]
            pending = []
    return results + [reply.result() for reply in pending]


def register_demo_elevators(lic: Any, elevators: int = DEMO_ELEVATORS) -> None:
    """The demo register: seeded codes across the districts, a fifth of Pudong's in the FTZ."""
    rng = random.Random(2014)
    calls = []
    for i in range(elevators):
        district = rng.choice(DISTRICTS)
        in_ftz = district == PUDONG and rng.random() < 0.2
        code = f"3110{rng.randrange(100000):05d}{rng.randrange(1995, 2015)}{i:05d}"
        # A fixed event id per demo elevator: re-running the loader changes nothing.
        calls.append((code, district, in_ftz, f"00000000-0000-4000-8000-{i:012d}"))
    in_parallel(lic.register_equipment, calls)


def demo_parties(seed: int = 2014) -> tuple[list[str], str]:
    """The credit codes of the demo maintenance units and of the installer."""
    rng = random.Random(seed)
    units = [new_uscc(rng) for _ in UNIT_NAMES]
    return units, new_uscc(rng)


def license_maintenance_units(lic: Any, seed: int = 2014) -> dict[str, int]:
    """The register and who maintains it: the demo elevators, maintenance units licensed for
    ``elevator:maintenance`` (and an installer) through the application flow, every demo
    elevator under a maintenance contract, all on the platform's today. Skipped when the
    units hold their licences already."""
    register_demo_elevators(lic)
    if lic.list_licences({"kind": "production_licence"}, 1):
        return {"skipped": 1}
    units, installer = demo_parties(seed)
    for name, district, uscc in zip(UNIT_NAMES, UNIT_DISTRICTS, units, strict=True):
        body = production_licence(
            uscc, scope=("elevator:maintenance",), level=None, name=name, district=district
        )
        _act(lic, _submit(lic, body), *APPROVE)
    _act(
        lic,
        _submit(
            lic,
            production_licence(
                installer,
                scope=("elevator:installation", "elevator:modification"),
                level="A2",
                name=INSTALLER,
            ),
        ),
        *APPROVE,
    )
    codes, after = [], None
    while page := lic.list_equipment({}, 500, after):
        codes += [eq["equipment_code"] for eq in page if not eq.get("maintenance_unit_uscc")]
        after = [page[-1]["equipment_code"]]
    contract = {"reason": "maintenance contract"}
    in_parallel(
        lic.equipment_command,
        (
            (code, "changes", {**contract, "maintenance_unit_uscc": units[n % len(units)]})
            for n, code in enumerate(codes)
        ),
    )
    contracts = len(codes)
    return {"maintenance_units": len(units), "contracts": contracts}


def load_licensing_history(rpc: Any, clock: Any) -> dict[str, Any]:
    """The demo's past (``infra.demo``): the units licensed and the elevators under contract
    on the first day of the history, so that a year of their work can be scored."""
    return {"on": clock.now().date().isoformat(), **license_maintenance_units(rpc.licensing)}


def _submit(lic: Any, body: dict) -> str:
    return lic.submit_application(body)["id"]


def _act(lic: Any, app_id: str, *steps: tuple[str, dict | None]) -> dict:
    view: dict = {}
    for command, body in steps:
        view = lic.application_command(app_id, command, body)
    return view


APPROVED: list[tuple[str, dict | None]] = [
    ("accept", None),
    ("review", {"opinion": "materials complete; site checked"}),
    ("approve", {"opinion": "meets the licensing conditions"}),
]
# Approved and the certificate handed over (one demo approval keeps it pending).
APPROVE = [*APPROVED, ("deliver-certificate", {"reference": "collected at the counter"})]
INSTALLER = "Shanghai Lift Installation Co."


def load_licensing_demo(rpc: Any, seed: int = 2015) -> dict[str, Any]:
    """Load the demo through the service's RPC (``rpc`` a ``ClusterRpcProxy``), at real time:
    the units and contracts if the history did not bring them, then the delegation,
    applications in every status, an operator certificate, a construction notice and
    inspectors (skipped when the inspectors are registered already)."""
    lic = rpc.licensing
    licensed = license_maintenance_units(lic)
    if lic.list_inspectors(None, 1):
        return {"skipped": 1}
    if licensed.get("skipped"):  # licensed in the demo's history
        licensed = {}
    rng = random.Random(seed)
    if not lic.list_delegations("FTZ", None, 1, None):
        lic.create_delegation(
            {"bureau": "FTZ", "kinds": FTZ_POWERS, "effective_from": "2014-10-01"}
        )
    units, installer = demo_parties()

    def submit(body: dict) -> str:
        return _submit(lic, body)

    def act(app_id: str, *steps: tuple[str, dict | None]) -> dict:
        return _act(lic, app_id, *steps)

    approved, approve = APPROVED, APPROVE
    owner = new_uscc(rng)

    def lift(**kw) -> dict:
        return use_registration(
            owner, new_equipment_code(), maintenance_unit=rng.choice(units), **kw
        )

    submit(lift())  # received, routed to FTZ
    act(
        submit(production_licence(new_uscc(rng), in_ftz=False)),
        ("request-correction", {"items": ["quality manual", "list of qualified staff"]}),
    )
    act(
        submit(lift(in_ftz=False)),
        ("accept", None),
        ("review", {"opinion": "awaiting the on-site evaluation"}),
    )
    act(
        submit(lift()),
        ("accept", None),
        (
            "suspend-clock",
            {"reason": "expert review of the machine room", "notice_ref": "FTZ-2014-N-017"},
        ),
    )
    act(submit(lift()), ("accept", None), ("extend", {"reason": "on-site evaluation"}))
    act(
        submit(lift(in_ftz=False)),
        ("not-accept", {"reason": "the site is outside the applicant's premises"}),
    )
    for _ in range(2):
        act(submit(lift()), *approve)
    act(submit(lift()), *approved)  # certificate not delivered yet
    act(
        submit(production_licence(new_uscc(rng), in_ftz=False)),
        ("accept", None),
        ("refuse", {"reason": "no qualified welders", "legal_basis": "TSG 07-2019 3.2"}),
    )
    act(submit(lift()), ("withdraw", {"reason": "the building is sold"}))
    person = new_resident_id("19850612", rng)
    act(submit(operator_certificate(person, "Chen Jie", "1985-06-12", employer=units[0])), *approve)
    act(
        submit(
            {
                "kind": "construction_notice",
                "applicant": {"uscc": installer, "name": "Shanghai Lift Installation Co."},
                "location": {"district": "310115", "in_ftz": True, "address": "1 Jilong Road"},
                "subject": {
                    "equipment_code": new_equipment_code(),
                    "work": "install",
                    "installer_uscc": installer,
                    "starts_on": "2014-10-20",
                    "rated_speed_mps": 4.0,
                },
                "materials": [],
            }
        ),
        ("accept", None),
        ("approve", {"opinion": "filed"}),
    )
    for i, bureau in enumerate(("SH", "SH", "SH", "FTZ", "FTZ")):
        lic.register_inspector(
            {
                "inspector_id": f"demo-inspector-{i + 1}",
                "name": f"Inspector {i + 1}",
                "organization_uscc": new_uscc(rng),
            },
            bureau,
        )
    return {**licensed, "applications": 16}
