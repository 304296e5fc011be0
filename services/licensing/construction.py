"""The construction notice's coverage check: the installer must be licensed for the work.
Run on submission (422) and again on approval (409), as its licence may have lapsed since."""

from __future__ import annotations

import json

from sqlalchemy import select

from infra.errors import Conflict, Invalid
from services.licensing.projections import equipment as equipment_table
from services.licensing.projections import licences

SCOPE_CLASS_OF_DIGIT = {
    "1": "boiler", "2": "pressure_vessel", "3": "elevator", "4": "crane", "5": "ropeway",
    "6": "amusement_ride", "7": "pressure_piping", "8": "pressure_piping",
    "9": "in_plant_vehicle",
}  # fmt: skip
ACTIVITY_OF_WORK = {"install": "installation", "modify": "modification", "repair": "repair"}
# Elevator installation levels by rated speed (m/s): A1 above 6.0, A2 2.5-6.0, B up to 2.5.
LEVEL_RANK = {"B": 0, "A2": 1, "A1": 2}


def required_level(rated_speed_mps: float | None) -> str:
    """The lowest elevator installation level that covers a rated speed (unknown: B)."""
    if rated_speed_mps is None or rated_speed_mps <= 2.5:
        return "B"
    return "A2" if rated_speed_mps <= 6.0 else "A1"


def check_construction(conn, data: dict, *, as_conflict: bool = False) -> None:
    """The installer must hold an active production licence whose scope (and, for
    elevators, level) covers the equipment and the work."""
    subject = data["subject"]
    code = subject["equipment_code"]
    cls = SCOPE_CLASS_OF_DIGIT[code[0]]
    scope_item = f"{cls}:{ACTIVITY_OF_WORK[subject['work']]}"
    speed = subject.get("rated_speed_mps")
    if speed is None:
        speed = conn.execute(
            select(equipment_table.c.rated_speed_mps).where(
                equipment_table.c.equipment_code == code
            )
        ).scalar()
    needed = required_level(speed) if cls == "elevator" else None
    rows = conn.execute(
        select(licences.c.scope, licences.c.level).where(
            licences.c.holder_uscc == subject["installer_uscc"],
            licences.c.holder_type == "organization",
            licences.c.kind.in_(["production_licence", "pressure_piping_licence"]),
            licences.c.status == "active",
        )
    ).all()
    covering = [r for r in rows if scope_item in json.loads(r.scope)]
    problem = None
    if not covering:
        problem = f"the installer holds no active production licence covering {scope_item}"
    elif needed and not any(
        r.level and LEVEL_RANK.get(r.level, -1) >= LEVEL_RANK[needed] for r in covering
    ):
        problem = (
            f"the installer's licence level does not cover a rated speed of {speed} m/s "
            f"(level {needed} or higher needed)"
        )
    if problem:
        if as_conflict:
            raise Conflict(problem)
        raise Invalid(
            "the installer is not licensed for this work", {"subject.installer_uscc": [problem]}
        )
