"""What insurance takes from the maintenance-credit service for its premium factors.

A use case of ``InsuranceService.on_credit_event``, kept apart from the nameko wiring. Two of
the credit service's published events are kept, checked against its contract
(``services/maintenance_credit/schemas.py``): ``GradeFinalized`` (a unit's final grade of a
period) and ``QualityEventRecorded`` of type ``fault`` or ``entrapment`` naming an elevator.
Each is recorded in insurance's own store (stream ``maintenance_credit:<stream>``, the same
event id, so a redelivery stores nothing and changes no row) and projected by the ``facts``
writers of ``projections``, so ``replay`` rebuilds those read models too. Of a quality event
only what the factors need is kept: the officer's notes and who recorded it stay in the
credit service.
"""

from __future__ import annotations

import logging

from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.eventstore import NewEvent
from services.insurance.projections import CREDIT_FACTS, CREDIT_PREFIX, READ_MODELS
from services.maintenance_credit.schemas import validate_event

log = logging.getLogger("sesp.insurance")

SOURCE = "maintenance_credit"
INCIDENT_TYPES = ("fault", "entrapment")
# Of a quality event, what insurance keeps.
INCIDENT_FIELDS = ("event_id", "unit_uscc", "equipment_code", "type", "occurred_at")


def observe(db: UnitOfWork, event: IncomingEvent) -> bool:
    """Record and project what ``event`` tells insurance; False when it tells it nothing new
    (not a kept event, or one stored already)."""
    if event.type not in CREDIT_FACTS:
        return False
    data = event.data
    if event.type == "QualityEventRecorded":
        if data.get("type") not in INCIDENT_TYPES or not data.get("equipment_code"):
            return False
    problems = validate_event(event.type, data)
    if problems:
        # Not ours to fix, and retrying cannot help: say so and go on with the stream.
        log.warning("credit %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    if event.type == "QualityEventRecorded":
        data = {k: data[k] for k in INCIDENT_FIELDS}
    stored = db.append(
        f"{SOURCE}:{event.stream_id}",
        None,
        [
            NewEvent(
                CREDIT_PREFIX + event.type,
                data,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
            )
        ],
        {**event.meta, "causation_id": event.event_id, "observed_from": event.service},
    )
    for ev in stored:  # none when this event was stored already (a redelivery)
        READ_MODELS.project_fact(db.conn, ev)
    return bool(stored)
