"""Dead-letter queue access for `sesp dlq`: peek without consuming, and replay in order."""

from __future__ import annotations

import json

import amqp
import kombu

from infra.bus.subscriber import ORIGIN_HEADER, REASON_HEADER, dlq_name

CONNECT_TIMEOUT = 5  # seconds: an operator's command fails fast when the broker is not there


class NoDeadLetterQueue(LookupError):
    """The broker has no dead-letter queue for the service: nothing of it ever consumed events
    there (a wrong broker or vhost, or a service that consumes none)."""

    def __init__(self, queue: str):
        self.queue = queue
        super().__init__(f"no queue {queue}")


def _connection(amqp_uri: str) -> kombu.Connection:
    conn = kombu.Connection(amqp_uri, connect_timeout=CONNECT_TIMEOUT)
    conn.ensure_connection(max_retries=1)  # fail now, not after retrying for ever
    return conn


def _describe(message) -> dict:
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        body = {}
    headers = message.headers or {}
    # The broker's record for a rejected live message; the consumer's own headers for an event
    # it dead-lettered from history or from holding (there was no message to reject).
    deaths = headers.get("x-death") or [
        {"queue": headers.get(ORIGIN_HEADER, "?"), "reason": headers.get(REASON_HEADER, "?")}
    ]
    first = deaths[0]
    return {
        "queue": first.get("queue", "?"),
        "reason": first.get("reason", "?"),
        "count": first.get("count"),
        "type": body.get("type"),
        "stream_id": body.get("stream_id"),
        "version": body.get("version"),
        "event_id": body.get("event_id"),
    }


def peek(amqp_uri: str, service: str) -> list[dict]:
    """Read every dead letter without acking, then put them all back before returning. Raises
    ``NoDeadLetterQueue`` when the broker has no such queue.

    The letters are handed back explicitly (``basic.recover`` with requeue) and a passive declare
    follows on the same channel: the queue handles one channel's commands in order, so when the
    declare answers, every letter is back. Leaving it to the channel's close is asynchronous: a
    second peek straight after could find the queue empty.
    """
    out = []
    with _connection(amqp_uri) as conn:
        ch = conn.channel()
        got_any = False
        try:
            while True:
                msg = ch.basic_get(dlq_name(service), no_ack=False)
                if msg is None:
                    break
                got_any = True
                out.append(_describe(msg))
            if got_any:
                ch.basic_recover(requeue=True)
                ch.queue_declare(dlq_name(service), passive=True)
        except amqp.exceptions.NotFound:
            raise NoDeadLetterQueue(dlq_name(service)) from None
        finally:
            try:
                ch.close()
            except Exception:
                pass
    return out


def replay(amqp_uri: str, service: str) -> int:
    """Move each dead letter back to its original queue (publish confirmed, then ack). Raises
    ``NoDeadLetterQueue`` when the broker has no such queue.

    Only the letters waiting when it starts: one that fails again at once is back at the tail
    of the dead-letter queue while we work, and must not be re-driven round and round.
    """
    n = 0
    with _connection(amqp_uri) as conn:
        ch = conn.channel()
        try:
            _, waiting, _ = ch.queue_declare(dlq_name(service), passive=True)
        except amqp.exceptions.NotFound:
            raise NoDeadLetterQueue(dlq_name(service)) from None
        ch.confirm_select()
        for _ in range(waiting):
            msg = ch.basic_get(dlq_name(service), no_ack=False)
            if msg is None:
                break
            origin = _describe(msg)["queue"]
            props = {k: v for k, v in msg.properties.items() if k != "application_headers"}
            headers = {
                k: v
                for k, v in (msg.headers or {}).items()
                if not k.startswith("x-") and k not in (ORIGIN_HEADER, REASON_HEADER)
            }
            copy = amqp.Message(msg.body, application_headers=headers, **props)
            ch.basic_publish_confirm(copy, exchange="", routing_key=origin, mandatory=True)
            ch.basic_ack(msg.delivery_tag)
            n += 1
    return n
