"""Missed half-monthly maintenance, as a kit sweep.

The due query reads the elevators whose next maintenance was due more than the grace days
before today (``credit_elevators.next_due_on``); the elevator decides on its own state which
windows ended without a record and records one ``MaintenanceMissed`` per window, which moves
its due day on: a run repeated (or after a crash) records no window twice.
"""

from __future__ import annotations

from infra.sweep import Sweep
from services.maintenance_credit.domain import Elevator, check_maintenance
from services.maintenance_credit.projections import elevators_due

SWEEP_BATCH = 500

MISSED_MAINTENANCE = Sweep(
    "missed-maintenance",
    Elevator,
    elevators_due,
    check_maintenance,
    batch=SWEEP_BATCH,
    dated=True,
    bulk=True,
)
