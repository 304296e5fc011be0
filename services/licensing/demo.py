"""Licensing demo data, loaded by ``infra.demo`` (the registry names this loader).

A few hundred elevators registered across the districts, then:

The FTZ delegation of the four powers; maintenance units holding production licences for
``elevator:maintenance`` (and an installer), each demo elevator under a maintenance contract;
applications in every status; an operator certificate; a construction notice; inspectors.
Credit codes are seeded; the whole set is skipped when it was loaded already.
"""

from __future__ import annotations

import random
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


DEMO_ELEVATORS = 300


def register_demo_elevators(lic: Any, elevators: int = DEMO_ELEVATORS) -> None:
    """The demo register: seeded codes across the districts, a fifth of Pudong's in the FTZ."""
    rng = random.Random(2014)
    for i in range(elevators):
        district = rng.choice(DISTRICTS)
        in_ftz = district == PUDONG and rng.random() < 0.2
        code = f"3110{rng.randrange(100000):05d}{rng.randrange(1995, 2015)}{i:05d}"
        # A fixed event id per demo elevator: re-running the loader changes nothing.
        lic.register_equipment(code, district, in_ftz, event_id=f"00000000-0000-4000-8000-{i:012d}")


def load_licensing_demo(rpc: Any, seed: int = 2014) -> dict[str, int]:
    """Load the demo through the service's RPC (``rpc`` a ``ClusterRpcProxy``)."""
    lic = rpc.licensing
    register_demo_elevators(lic)
    if lic.list_licences({"kind": "production_licence"}, 1):
        return {"skipped": 1}
    rng = random.Random(seed)
    if not lic.list_delegations("FTZ", None, 1, None):
        lic.create_delegation(
            {"bureau": "FTZ", "kinds": FTZ_POWERS, "effective_from": "2014-10-01"}
        )

    def submit(body: dict) -> str:
        return lic.submit_application(body)["id"]

    def act(app_id: str, *steps: tuple[str, dict | None]) -> dict:
        view: dict = {}
        for command, body in steps:
            view = lic.application_command(app_id, command, body)
        return view

    approved = [
        ("accept", None),
        ("review", {"opinion": "materials complete; site checked"}),
        ("approve", {"opinion": "meets the licensing conditions"}),
    ]
    # Approved and the certificate handed over (one demo approval keeps it pending).
    approve = [*approved, ("deliver-certificate", {"reference": "collected at the counter"})]

    units = []
    for name in UNIT_NAMES:
        uscc = new_uscc(rng)
        act(
            submit(
                production_licence(
                    uscc, scope=("elevator:maintenance",), level=None, name=name, in_ftz=False
                )
            ),
            *approve,
        )
        units.append(uscc)
    installer = new_uscc(rng)
    act(
        submit(
            production_licence(
                installer,
                scope=("elevator:installation", "elevator:modification"),
                level="A2",
                name="Shanghai Lift Installation Co.",
            )
        ),
        *approve,
    )

    contracts, after = 0, None
    while page := lic.list_equipment({}, 500, after):
        for eq in page:
            if not eq.get("maintenance_unit_uscc"):
                lic.equipment_command(
                    eq["equipment_code"],
                    "changes",
                    {
                        "reason": "maintenance contract",
                        "maintenance_unit_uscc": units[contracts % len(units)],
                    },
                )
                contracts += 1
        after = [page[-1]["equipment_code"]]

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
    return {"maintenance_units": len(units), "contracts": contracts, "applications": 16}
