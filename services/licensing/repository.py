"""Licensing's aggregates as stored: stream prefix, class and event types of each kind.

Loading, saving, event ids, actors and personal data are the kit's (``infra.repository``).
"""

from __future__ import annotations

from infra.repository import Kind, Kinds
from services.licensing.domain import delegation, equipment
from services.licensing.domain.application import events as application_events
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.audit import events as audit_events
from services.licensing.domain.audit.inspectors import Inspector
from services.licensing.domain.audit.plan import AuditPlan
from services.licensing.domain.licence import events as licence_events
from services.licensing.domain.licence.aggregate import Licence

KINDS = Kinds(
    Kind("application-", Application, application_events.EVENT_TYPES),
    Kind("delegation-", delegation.Delegation, delegation.EVENT_TYPES),
    Kind("licence-", Licence, licence_events.EVENT_TYPES),
    Kind("equipment-", equipment.Equipment, equipment.EVENT_TYPES),
    Kind("audit-", AuditPlan, audit_events.EVENT_TYPES),
    Kind("inspector-", Inspector, audit_events.EVENT_TYPES),
)
