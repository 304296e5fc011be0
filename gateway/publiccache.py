"""Answers of public reads, kept in the gateway until an event of a service they read from
arrives: the public (the biggest audience) does not pay an RPC per request.

A public route declares the services its answers come from (``cache_from=("blacklist",)``),
or a service and the event types that change its answers (``("maintenance_credit",
PUBLIC_READ_EVENTS)``). Each gateway process listens to those services' event exchanges
(``<service>.events``: the named types, or every routing key) on a queue of its own that lives
as long as the process. Every event bumps its
service's *generation*; an answer is kept with the generations it was read under and served
only while they are current. So an answer is served from memory until the gateway hears of the
next event of its sources (milliseconds after the relay publishes it), never after.

An answer is also kept at most ``max_age`` seconds (``SESP_PUBLIC_CACHE_SECONDS``, 1): a read
model that a service derives from *another* service's events (a unit's name in the credit
list comes from licensing) changes without an event of its own, and the contract allows a
public read to be up to a second behind.

While the process is not listening to a source (starting, or its broker connection lost), reads
from that source are not cached at all: an event it could not hear of must not leave a stale
answer in place. An answer read while an event arrived is not kept (it may predate it).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import eventlet
import eventlet.event
import kombu

log = logging.getLogger("sesp.gateway")

RECONNECT_DELAY = 1.0  # seconds between attempts to listen again after losing the broker


@dataclass(frozen=True)
class CachedAnswer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class PublicCache:
    def __init__(
        self, amqp_uri: str | None, max_entries: int = 10_000, max_age: float = 1.0, clock=None
    ):
        self.amqp_uri = amqp_uri
        self.max_entries, self.max_age = max_entries, max_age
        self.clock = clock or time.monotonic
        self.sources: set[str] = set()  # services some route reads from
        # per source, the event types listened to (None: all of them)
        self.bindings: dict[str, frozenset[str] | None] = {}
        self.generations: dict[str, int] = {}
        self.listening: set[str] = set()  # sources whose events this process hears right now
        self._entries: OrderedDict[str, tuple[tuple[int, ...], float, CachedAnswer]] = OrderedDict()
        self._readers: dict[str, Any] = {}  # key -> eventlet Event of the read under way
        self._listener: Any = None  # eventlet GreenThread (untyped)
        self._stopping = False

    # --- reads ------------------------------------------------------------------------------

    def generation(self, sources: Iterable[str]) -> tuple[int, ...] | None:
        """The generations answers of ``sources`` are read under now; None: not cacheable
        (this process does not hear every one of them)."""
        sources = tuple(sources)
        if not all(s in self.listening for s in sources):
            return None
        return tuple(self.generations.get(s, 0) for s in sources)

    def get(self, key: str, sources: Iterable[str]) -> CachedAnswer | None:
        current = self.generation(sources)
        entry = self._entries.get(key)
        if current is None or entry is None or entry[0] != current:
            return None
        if self.clock() - entry[1] > self.max_age:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[2]

    def put(
        self, key: str, sources: Iterable[str], read_under: tuple[int, ...], answer: CachedAnswer
    ) -> None:
        if self.generation(sources) != read_under:
            return  # an event arrived while it was read: it may already be out of date
        self._entries[key] = (read_under, self.clock(), answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    # --- one read at a time per answer -------------------------------------------------------
    # When a kept answer goes (an event, its age), every client asking at that moment would
    # otherwise read it from the service at once; the first reads, the others wait for it.

    @contextmanager
    def reading(self, key: str) -> Iterator[None]:
        done = self._readers.setdefault(key, eventlet.event.Event())
        try:
            yield
        finally:
            if self._readers.get(key) is done:
                del self._readers[key]
            done.send(None)

    def wait_for_reader(self, key: str, timeout: float = 5.0) -> bool:
        """Wait for a read of ``key`` under way (True), if there is one."""
        done = self._readers.get(key)
        if done is None:
            return False
        with eventlet.Timeout(timeout, False):
            done.wait()
        return True

    def __len__(self) -> int:
        return len(self._entries)

    # --- listening --------------------------------------------------------------------------

    def start(self, declared: Iterable[Mapping[str, frozenset[str] | None]]) -> None:
        """Listen to the events ``declared`` by the routes: per source, the union of the event
        types they name (None: every event, when one route needs them all)."""
        self.bindings = {}
        for route_events in declared:
            for source, types in route_events.items():
                known = self.bindings.get(source, frozenset())
                self.bindings[source] = None if types is None or known is None else known | types
        self.sources = set(self.bindings)
        if self.sources and self.amqp_uri:
            self._listener = eventlet.spawn(self._listen)

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            self._listener.kill()
            self._listener = None
        self.listening.clear()

    def _bump(self, source: str) -> None:
        self.generations[source] = self.generations.get(source, 0) + 1

    def _listen(self) -> None:
        while not self._stopping:
            try:
                self._consume()
            except Exception as exc:  # the broker went away: stop caching, then listen again
                self.listening.clear()
                if not self._stopping:
                    log.warning("public cache: not listening to events (%s); retrying", exc)
                    eventlet.sleep(RECONNECT_DELAY)

    def _consume(self) -> None:
        with kombu.Connection(self.amqp_uri, heartbeat=30) as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            consumers = []
            for source in sorted(self.sources):
                # A queue of this process's own (gone with its connection), bound to the
                # events of the source that change kept answers (a routing key is a type).
                exchange = kombu.Exchange(f"{source}.events", type="topic", durable=True)
                types = self.bindings.get(source)
                queue = kombu.Queue(
                    f"gateway-cache.{source}.{uuid.uuid4().hex[:12]}",
                    bindings=[
                        kombu.binding(exchange, routing_key=key)
                        for key in (["#"] if types is None else sorted(types))
                    ],
                    exclusive=True,
                    auto_delete=True,
                    durable=False,
                )(channel)
                queue.declare()
                consumers.append(
                    kombu.Consumer(channel, queues=[queue], callbacks=[self._on_event(source)])
                )
            for consumer in consumers:
                consumer.consume()
            # Listening from here on: whatever happened before is covered by a new generation.
            for source in self.sources:
                self._bump(source)
                self.listening.add(source)
            log.info("public cache: listening to events of %s", ", ".join(sorted(self.sources)))
            while not self._stopping:
                try:
                    conn.drain_events(timeout=5)
                except TimeoutError:
                    conn.heartbeat_check()

    def _on_event(self, source: str):
        def handle(body, message) -> None:
            self._bump(source)
            message.ack()

        return handle
