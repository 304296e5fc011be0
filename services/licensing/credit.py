"""What licensing takes from the maintenance-credit service: each unit's final grades, which
weigh the audit draw (``audits``, ``domain/audit/risk``).

A use case of ``LicensingService.on_credit_event``, kept apart from the nameko wiring.
``GradeFinalized`` (checked against the credit service's contract,
``services/maintenance_credit/schemas.py``) is recorded in licensing's own store (stream
``maintenance_credit:<stream>``, the same event id, so a redelivery stores nothing and changes
no row) and projected into ``credit_grades`` by its ``facts`` writer, so ``replay`` rebuilds
it too. The relay does not publish it again (``observed_from``).
"""

from __future__ import annotations

import logging

from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.eventstore import NewEvent
from services.licensing.projections import CREDIT_PREFIX, READ_MODELS
from services.maintenance_credit.schemas import validate_event

log = logging.getLogger("sesp.licensing")

USED = ("GradeFinalized",)


def observe(db: UnitOfWork, event: IncomingEvent) -> bool:
    """Record and project what ``event`` tells licensing; False when it tells it nothing new
    (not a kept event, or one stored already)."""
    if event.type not in USED:
        return False
    problems = validate_event(event.type, event.data)
    if problems:
        # Not ours to fix, and retrying cannot help: say so and go on with the stream.
        log.warning("credit %s %s breaks its contract: %s", event.type, event.event_id, problems)
        return False
    stored = db.append(
        f"maintenance_credit:{event.stream_id}",
        None,
        [
            NewEvent(
                CREDIT_PREFIX + event.type,
                event.data,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
            )
        ],
        {**event.meta, "causation_id": event.event_id, "observed_from": event.service},
    )
    for ev in stored:  # none when this event was stored already (a redelivery)
        READ_MODELS.project_fact(db.conn, ev)
    return bool(stored)
