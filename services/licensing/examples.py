"""Example licensing requests and fresh identifiers: the demo data is made of them, and the
tests build their requests with them.

The builders return application bodies as ``POST /v1/applications`` takes them. The
generators return valid identifiers (check characters included) drawn at random, or from a
seeded ``rng`` for repeatable demo data, so that tests sharing one running service keep apart
by their own credit codes, resident ids and equipment codes.
"""

from __future__ import annotations

import itertools
import os
import random
from typing import Any

from infra.identifiers import resident_id_check_character, uscc_check_character

SHA = "ab" * 32  # a material's digest: any 64 hex digits will do
_counter = itertools.count(1)


def new_uscc(rng: random.Random | None = None) -> str:
    """A fresh valid unified social credit code."""
    rng = rng or random.Random()
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + "310115" + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc_check_character(body)


def new_failing_uscc(rng: random.Random | None = None) -> str:
    """A fresh code with a wrong check character: what the USCC exception list is for."""
    code = new_uscc(rng)
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return code[:17] + alphabet[(alphabet.index(code[17]) + 1) % len(alphabet)]


def new_resident_id(born: str = "19800101", rng: random.Random | None = None) -> str:
    """A valid 18-character resident id of a Pudong resident born on ``born`` (YYYYMMDD)."""
    rng = rng or random.Random()
    first17 = "310115" + born + f"{rng.randrange(1000):03d}"
    return first17 + resident_id_check_character(first17)


def new_equipment_code(year: int = 2014, variety: str = "3110") -> str:
    """A fresh 18-digit code: variety, maker, year, sequence."""
    n = next(_counter)
    return f"{variety}{random.randrange(100000):05d}{year}{(os.getpid() * 1000 + n) % 100000:05d}"


# --- request bodies ---------------------------------------------------------------------------


def use_registration(
    uscc: str,
    code: str,
    *,
    in_ftz: bool = True,
    district: str = "310115",
    reason: str = "first_use",
    speed: float = 1.75,
    maintenance_unit: str | None = None,
) -> dict:
    subject: dict[str, Any] = {
        "equipment_code": code,
        "reason": reason,
        "equipment": {
            "variety": code[:4],
            "product_name": "traction elevator",
            "model": "GeN2",
            "maker": "Otis",
            "manufactured_on": "2014-03-01",
            "rated_speed_mps": speed,
            "rated_load_kg": 1000,
        },
    }
    if maintenance_unit:
        subject["maintenance_unit_uscc"] = maintenance_unit
    return {
        "kind": "use_registration",
        "applicant": {"uscc": uscc, "name": f"User {uscc[-4:]} Co."},
        "location": {"district": district, "in_ftz": in_ftz, "address": "88 Jilong Road"},
        "subject": subject,
        "materials": [{"name": "registration form", "sha256": SHA}],
    }


def production_licence(
    uscc: str,
    *,
    scope=("elevator:installation",),
    level: str | None = "B",
    in_ftz: bool = False,
    district: str = "310115",
    kind: str = "production_licence",
    name: str | None = None,
) -> dict:
    subject: dict[str, Any] = {"scope": list(scope)}
    if level:
        subject["level"] = level
    return {
        "kind": kind,
        "applicant": {"uscc": uscc, "name": name or f"Lift Works {uscc[-4:]}"},
        "location": {"district": district, "in_ftz": in_ftz, "address": "1 Century Avenue"},
        "subject": subject,
        "materials": [{"name": "quality manual", "sha256": SHA}],
    }


def operator_certificate(
    id_number: str,
    name: str,
    born_on: str,
    *,
    employer: str | None = None,
    items=("T",),
    in_ftz: bool = True,
) -> dict:
    applicant = (
        {"uscc": employer, "name": "Employer Co."}
        if employer
        else {"id_number": id_number, "name": name}
    )
    return {
        "kind": "operator_certificate",
        "applicant": applicant,
        "location": {"district": "310115", "in_ftz": in_ftz, "address": "2 Yanggao Road"},
        "subject": {
            "person": {"id_number": id_number, "name": name, "born_on": born_on},
            "items": list(items),
            "exam_passed_on": "2014-09-01",
        },
        "materials": [{"name": "exam certificate", "sha256": SHA}],
    }


def maintenance_licence_issued(
    uscc: str,
    licence_no: str,
    *,
    name: str | None = None,
    bureau: str = "310104",
    district: str | None = None,
    scope: tuple[str, ...] = ("elevator:maintenance",),
    on: str = "2016-01-01",
    valid_from: str | None = None,
    valid_until: str | None = "2019-12-31",
) -> dict[str, Any]:
    """The data of licensing's ``LicenceIssued`` of a production licence (by default one
    covering elevator maintenance), as its consumers receive it: how the store tests and the
    benches of credit, complaints and the blacklist learn of a unit without running licensing.
    ``on``: the day of the decision; ``valid_from``: that day unless given. ``district``: where
    the unit is (absent, as in events recorded before licensing carried it)."""
    holder = {"uscc": uscc, "name": name or f"Lift Care {uscc[-4:]}"}
    if district:
        holder["district"] = district
    return {
        "at": f"{on}T09:00:00+08:00",
        "actor": "bureau_officer:t1",
        "licence_no": licence_no,
        "kind": "production_licence",
        "bureau": bureau,
        "holder": holder,
        "decision_no": "D-1",
        "decided_on": on,
        "valid_from": valid_from or on,
        "valid_until": valid_until,
        "scope": list(scope),
        "level": None,
        "equipment_code": None,
    }
