"""Catch-up subscriptions: a consumer reads its source's history before the live queue is all
it needs, like EventStoreDB's catch-up subscriptions.

The subscriber declares and binds its queue first, so every event the source's relay publishes
from then on reaches the queue. Anything published before that was committed before it, so its
position is at most the source's newest position seen by any statement that runs afterwards:
the ``head`` the first page of ``read_all`` reports. Reading history from the checkpoint up to
that head therefore leaves nothing between the two paths. Late commits below a page are not a
gap either: ``read_all`` serves only what the source's relay has passed, and the relay's tailer
steps over a missing position only once no transaction can still fill it.

Both paths deliver through the subscriber (``EventSubscriber._deliver``), so an event met twice
(from history and from the queue) is applied once, and a stream's events in version order: the
compare-and-set on ``consumer_streams`` decides, and an event ahead of its predecessor waits in
``consumer_pending``. The checkpoint (``consumer_positions``) moves after each page, so a
restart resumes where it stopped; once the head is reached it is marked live, and a restart
goes straight to the queue unless the queue is new (deleted, renamed, or never there).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import eventlet
from nameko.exceptions import UnknownService

from infra.bus import consumer_state
from infra.bus.incoming import IncomingEvent, Origin, Outcome, Stopping
from infra.bus.outages import Backoff, Repeats, pause, unlogged_note

if TYPE_CHECKING:
    from infra.bus.subscriber import EventSubscriber

log = logging.getLogger("sesp.bus")

# Seconds between reads while the source's relay has not yet published up to the head.
POLL_INTERVAL = 0.5
# Events of history applied per transaction (whole streams of a page, never split).
BATCH = 50


class CatchUp:
    """Reads one subscriber's source history (``run``), and says how far it got (``health``)."""

    def __init__(self, subscriber: EventSubscriber, page_size: int = 500):
        self.sub = subscriber
        self.page_size = page_size
        self.state = "starting"  # starting, reading, live, off
        self.position = 0
        self.target: int | None = None
        self.read = 0
        self.source_failures = 0
        self._unreachable = Repeats()  # the source not answering: logged once a minute at most
        self._proxy: Any = None  # nameko ClusterRpcProxy (untyped)
        self._rpc: Any = None

    def health(self) -> dict:
        return {
            "state": self.state,
            "position": self.position,
            "target": self.target,
            "events_read": self.read,
            "source_failures": self.source_failures,
        }

    def run(self) -> None:
        """Read history up to the head, then return (the queue takes over). Returns early,
        without moving the checkpoint past unapplied events, when the container stops. An
        unexpected failure is logged and the reading resumes from the checkpoint: it must
        not end the container, whose live queue goes on meanwhile."""
        backoff = Backoff(1.0, 30.0)
        while True:
            try:
                self._run()
                return
            except Stopping:
                return
            except Exception:
                delay = backoff.next()
                log.exception(
                    "%s: catch-up failed; it resumes from its checkpoint in %.1fs",
                    self.sub.consumer_name,
                    delay,
                )
                pause(delay, self.sub.stop_event)
            finally:
                self._close()

    def _run(self) -> None:
        sub = self.sub
        engine, consumer = sub.database().engine, sub.consumer_name
        position, live = sub.retrying(
            "read the catch-up checkpoint",
            lambda: consumer_state.load_position(engine, consumer),
        )
        self.position = position
        if live and sub.queue_existed:
            self.state = "live"
            return
        if live:
            # The queue is new (deleted or renamed since): whatever was published while it
            # was missing is history again, from the last checkpoint on. Recorded first, so
            # a crash before the head is reached does not leave the checkpoint marked live.
            sub.retrying(
                "reset the catch-up checkpoint",
                lambda: consumer_state.save_position(engine, consumer, position, False),
            )
        self.state = "reading"
        self._read_to_head(position)

    def _read_to_head(self, position: int) -> None:
        sub = self.sub
        engine, consumer = sub.database().engine, sub.consumer_name
        failures = Backoff(0.5, 10.0)
        while True:
            page = self._page(position)
            if self.target is None:
                self.target = int(page["head"])
                log.info(
                    "%s: catching up on %s's history from position %d to %d",
                    sub.consumer_name,
                    sub.source_service,
                    position,
                    self.target,
                )
            events = self._events(page["events"])
            try:
                self._apply(events)
            except Exception:  # a fault of the kernel, not of one event: read the page again
                delay = failures.next()
                log.exception("%s: catch-up page failed; again in %.1fs", consumer, delay)
                pause(delay, sub.stop_event)
                continue
            after = max(position, int(page["next"]))
            caught_up = after >= self.target
            if after > position or caught_up:
                sub.retrying(
                    "save the catch-up checkpoint",
                    lambda at=after, live=caught_up: consumer_state.save_position(
                        engine, consumer, at, live
                    ),
                )
            moved, position = after > position, after
            self.position, self.read = position, self.read + len(events)
            if caught_up:
                self.state = "live"
                log.info(
                    "%s: caught up with %s at position %d (%d events read); live from the queue",
                    consumer,
                    sub.source_service,
                    position,
                    self.read,
                )
                return
            if not moved:  # the source's relay has not published that far yet
                pause(POLL_INTERVAL, sub.stop_event)

    def _page(self, position: int) -> dict:
        """The next page of the source's history; a source that is down or does not answer is
        waited for (an outage, never a reason to give up)."""
        sub = self.sub
        backoff = Backoff(0.5, 10.0)
        while not sub.stopping:
            try:
                if self._rpc is None:
                    from nameko.standalone.rpc import ClusterRpcProxy

                    # One proxy for the whole catch-up: each one declares a reply queue.
                    self._proxy = ClusterRpcProxy(sub.container.config, timeout=30)
                    self._rpc = self._proxy.start()
                page = getattr(self._rpc, sub.source_service).read_all(position, self.page_size)
            except Exception as exc:
                self._close()
                self.source_failures += 1
                sub.counters.outage_retries += 1
                delay = backoff.next()
                unlogged = self._unreachable.note()
                if unlogged is not None:
                    why = (
                        f"{sub.source_service} is not running (no one answers its RPC)"
                        if isinstance(exc, UnknownService)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    log.warning(
                        "%s: cannot read %s's history (%s); trying every %.0fs at most, "
                        "this consumer catches up once it answers (%d failures so far%s)",
                        sub.consumer_name,
                        sub.source_service,
                        why,
                        backoff.cap,
                        self.source_failures,
                        unlogged_note(unlogged),
                    )
                pause(delay, sub.stop_event)
                continue
            failures = self._unreachable.end()
            if failures:
                log.info(
                    "%s: reading %s's history again after %d failures",
                    sub.consumer_name,
                    sub.source_service,
                    failures,
                )
            return page
        raise Stopping

    def _events(self, messages: list[dict]) -> list[IncomingEvent]:
        out = []
        for m in messages:
            try:
                out.append(IncomingEvent.from_message(m))
            except (KeyError, TypeError, ValueError):
                log.error(
                    "%s: malformed event in %s's history: %r",
                    self.sub.consumer_name,
                    self.sub.source_service,
                    m,
                )
        return out

    def _apply(self, events: list[IncomingEvent]) -> None:
        """Apply a page: the streams side by side, each in version order. Raises ``Stopping``
        when the container stops before the page is done."""
        sub = self.sub
        keys = list(dict.fromkeys(sub.key(ev) for ev in events))
        if not keys:
            return
        sub.prime(keys)
        # Applied already (a consumer reading history it mostly has: its queue was recreated):
        # nothing to do, and no reason to take the slow path for them.
        chains: dict[str, list[IncomingEvent]] = {}
        for ev in events:
            if ev.version <= sub.applied_version(sub.key(ev)):
                sub.counters.duplicates += 1
            else:
                chains.setdefault(sub.key(ev), []).append(ev)
        if not chains:
            return

        def one_by_one(evs: list[IncomingEvent]) -> bool:
            for ev in evs:
                if sub.deliver(ev, Origin.CATCH_UP) is Outcome.STOPPING:
                    return False
            return True

        def batch(evs: list[IncomingEvent]) -> bool:
            if sub.apply_batch(evs):
                return True
            # Something in it was not simply next (a duplicate, a gap, a parked stream), or
            # failed: each event on its own, a stream's in order.
            by_stream: dict[str, list[IncomingEvent]] = {}
            for ev in evs:
                by_stream.setdefault(sub.key(ev), []).append(ev)
            return all(one_by_one(chain) for chain in by_stream.values())

        batches: list[list[IncomingEvent]] = [[]]
        for chain in chains.values():
            if batches[-1] and len(batches[-1]) + len(chain) > BATCH:
                batches.append([])
            batches[-1].extend(chain)
        pool = eventlet.GreenPool(max(1, sub.container.max_workers))
        if not all(pool.imap(batch, batches)):
            raise Stopping

    def _close(self) -> None:
        if self._proxy is not None:
            try:
                self._proxy.stop()
            except Exception:  # the connection is gone already
                pass
        self._proxy = self._rpc = None
