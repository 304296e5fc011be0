"""Outages versus poison: which failures a consumer waits out, and how long it waits.

A message that fails because the database, the broker or the source service is unreachable is
not poison: it will apply once they are back. Counting such failures toward dead-lettering
would dead-letter every message in flight during a database restart. ``is_outage`` says which
exceptions are infrastructure; everything else is the handler's own failure and counts.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
import time
from collections.abc import Callable

import amqp.exceptions
import eventlet
import kombu.exceptions
from eventlet.event import Event
from nameko.exceptions import RpcTimeout, UnknownService
from sqlalchemy import exc as sa_exc

# Classes whose instances may be outages: nameko logs a worker's failure with these as a
# warning (they are expected) instead of a traceback per message during an outage.
OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    RpcTimeout,
    UnknownService,
    amqp.exceptions.ConnectionError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)

_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETUNREACH,
    errno.ENETDOWN,
}

# SQLite reports a busy or vanished file and a broken query alike as OperationalError; only
# these messages are about the file, not the statement ("no such table" is a bug, not an outage).
_SQLITE_OUTAGES = ("locked", "busy", "unable to open", "disk i/o", "readonly database")


def is_outage(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it was raised from) says infrastructure is unreachable."""
    seen = 0
    while exc is not None and seen < 5:
        if _is_outage(exc):
            return True
        exc, seen = exc.__cause__, seen + 1
    return False


def _is_outage(exc: BaseException) -> bool:
    if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # a connection that died in the pool; no connection free in time
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return _driver_outage(exc.orig)
        return False
    if isinstance(exc, (RpcTimeout, UnknownService)):
        return True  # the source did not answer, or no instance of it is consuming
    if isinstance(exc, (amqp.exceptions.ConnectionError, kombu.exceptions.OperationalError)):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    try:  # raised by the driver itself where SQLAlchemy is bypassed (bulk inserts)
        import psycopg2
    except ImportError:  # pragma: no cover - the driver is a dependency
        return False
    return isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError))


def _driver_outage(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.Error):
        text = str(orig).lower()
        return any(marker in text for marker in _SQLITE_OUTAGES)
    return True  # PostgreSQL: connection refused or lost, server shutting down, deadlock...


class Backoff:
    """Delays that double from ``first`` up to ``cap``: an outage is polled, not hammered,
    and its end is noticed within ``cap`` seconds."""

    def __init__(self, first: float = 0.2, cap: float = 5.0):
        self.first, self.cap = first, cap
        self.delay = first

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay


class Repeats:
    """A warning repeated while a condition lasts (a source that is not running, a database
    that is down): the first is logged, then at most one every ``every`` seconds, which says
    how many were not. An outage of hours is a few lines, not one per retry; the counters in
    ``/metrics`` keep the full count."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.every, self.clock = every, clock
        self.count = 0  # since the condition began
        self._unlogged = 0
        self._logged_at: float | None = None

    def note(self) -> int | None:
        """One more occurrence: how many went unlogged before it when it is to be logged now,
        else None."""
        self.count += 1
        now = self.clock()
        if self._logged_at is not None and now - self._logged_at < self.every:
            self._unlogged += 1
            return None
        self._logged_at, unlogged, self._unlogged = now, self._unlogged, 0
        return unlogged

    def end(self) -> int:
        """The condition is over: how many occurrences it had (0: it never began)."""
        count, self.count, self._unlogged, self._logged_at = self.count, 0, 0, None
        return count


def unlogged_note(unlogged: int) -> str:
    return f"; {unlogged} more like it since the last such line" if unlogged else ""


def pause(seconds: float, stop: Event) -> None:
    """Sleep ``seconds``, or less when ``stop`` is sent (a stopping container must not wait
    out a back-off)."""
    with eventlet.Timeout(seconds, False):
        stop.wait()
