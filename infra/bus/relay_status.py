"""What an operator sees of a service's outbox relay, and the one thing they can do to it.

``relay_status`` reads ``relay_state`` and the store (so any replica, the gateway through the
services' ``relay_status`` RPC, and ``sesp relay status`` tell the same); ``park`` is
``sesp relay skip``: the relay steps over a poison event an operator has parked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from infra.bus.relay import RELAY_NAME
from infra.eventstore.schema import events, parked, relay_state, unroutable
from infra.eventstore.store import from_db, to_db, utcnow


def relay_status(conn: Connection) -> dict[str, Any]:
    """How far the relay of this store is and what stops it, from the database (so any
    replica, and ``sesp``, can tell):

    ``position`` (published up to), ``head`` (newest position), ``behind`` (head - position),
    ``lag_seconds`` (age of the oldest event not published yet: grows while the relay is
    stuck or waits at a gap; 0 when all is out), ``waiting_at_gap`` (the next position is
    not committed yet: a writer, or the cluster's oldest transaction, holds the relay back),
    ``error`` / ``error_since`` / ``failures`` (the current run of failed attempts), and
    ``stuck_event`` (``{event_id, position, type}``: the event the relay cannot get past)
    and ``parked`` (how many events an operator parked so far), ``unroutable`` (how many events
    the broker returned because nothing subscribed to their type: the ``unroutable`` table)."""
    row = conn.execute(select(relay_state).where(relay_state.c.name == RELAY_NAME)).first()
    position = row.position if row is not None else 0
    head = conn.execute(select(func.max(events.c.position))).scalar() or 0
    waiting = conn.execute(
        select(events.c.position, events.c.recorded_at)
        .where(events.c.position > position)
        .order_by(events.c.position)
        .limit(1)
    ).first()
    lag = 0.0
    if waiting is not None:
        lag = max((utcnow() - from_db(waiting.recorded_at)).total_seconds(), 0.0)
    stuck = None
    if row is not None and row.stuck_event_id:
        ev = conn.execute(
            select(events.c.position, events.c.type).where(events.c.event_id == row.stuck_event_id)
        ).first()
        stuck = {
            "event_id": row.stuck_event_id,
            "position": ev.position if ev is not None else None,
            "type": ev.type if ev is not None else None,
        }
    error_since = row.error_since if row is not None else None
    return {
        "position": position,
        "head": head,
        "behind": max(head - position, 0),
        "lag_seconds": round(lag, 3),
        "waiting_at_gap": waiting is not None and waiting.position > position + 1,
        "error": row.error if row is not None else None,
        "error_since": from_db(error_since).isoformat() if error_since is not None else None,
        "failures": (row.failures or 0) if row is not None else 0,
        "stuck_event": stuck,
        "parked": conn.execute(select(func.count()).select_from(parked)).scalar_one(),
        "unroutable": conn.execute(select(func.count()).select_from(unroutable)).scalar_one(),
    }


def park(conn: Connection, event_id: str, reason: str) -> dict[str, Any]:
    """Park the event the relay is stuck on (``sesp relay skip``): the relay steps over it
    at its next attempt and records it nowhere else. Refuses (``ValueError``) an event the
    relay is not stuck on: a healthy event must be published, not dropped."""
    status = relay_status(conn)
    stuck = status["stuck_event"]
    if stuck is None or stuck["event_id"] != event_id:
        where = f"on event {stuck['event_id']}" if stuck else "on no event"
        raise ValueError(f"the relay is not stuck on event {event_id} (it is stuck {where})")
    if stuck["position"] is None:
        raise ValueError(f"event {event_id} is not in the store")
    conn.execute(
        insert(parked).values(
            position=stuck["position"],
            event_id=event_id,
            type=stuck["type"],
            reason=reason,
            error=status["error"],
            parked_at=to_db(utcnow()),
        )
    )
    return stuck
