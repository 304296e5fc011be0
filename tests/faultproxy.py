"""A fault-injecting TCP proxy for outage tests: point a service's database (or broker) URL at
it, then ``cut()`` to make the server unreachable and ``restore()`` to bring it back, without
touching the real server that other tests share.

While cut, every open connection is closed and new ones are accepted and closed at once: the
client sees what a restarting server looks like ("server closed the connection
unexpectedly"). It runs as green threads in the test process (the tests are monkey-patched),
so it serves service containers in this process and service processes alike. A socket is
only ever closed by the green thread that reads it: closing it under another one would leave
that thread registered on a file descriptor the next database connection reuses.
"""

from __future__ import annotations

import socket
from contextlib import suppress
from urllib.parse import urlparse, urlunparse

import eventlet


class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.up = True
        self.cuts = 0
        self._listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._closed = False
        self._acceptor = eventlet.spawn(self._accept)

    @classmethod
    def for_url(cls, url: str, default_port: int) -> FaultProxy:
        u = urlparse(url)
        return cls((u.hostname or "127.0.0.1", u.port or default_port))

    def url(self, url: str) -> str:
        """``url`` with its host and port replaced by this proxy's."""
        u = urlparse(url)
        auth = u.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunparse(u._replace(netloc=netloc))

    def cut(self) -> None:
        """The server becomes unreachable: open connections drop, new ones are refused."""
        self.up = False
        self.cuts += 1
        for pair in list(self._pairs):
            for sock in pair:  # wakes both pumps, which close their sockets
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self._closed = True
        with suppress(Exception):
            self._acceptor.kill()  # while it waits in accept: closing first would wake it
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except (OSError, EOFError):
                return  # closed
            if not self.up:
                client.close()
                continue
            try:
                server = eventlet.connect(self.target)
            except OSError:
                client.close()
                continue
            pair = (client, server)
            self._pairs.add(pair)
            eventlet.spawn_n(self._pump, client, server, pair)
            eventlet.spawn_n(self._pump, server, client, pair)

    def _pump(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, EOFError):
            pass
        self._pairs.discard(pair)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)  # the other pump ends too
        with suppress(OSError):
            src.close()
