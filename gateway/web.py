"""The gateway's WSGI layer, around every request whatever its route.

- ``X-Request-ID``: accepted when it is at most 128 of ``[A-Za-z0-9._-]``, else a new one;
  returned on every response and handed to the route (and so to every RPC).
- Unknown paths (404) and wrong methods (405, with ``Allow``) answer problem+json.
- ``/v1/public/`` and the site's form submissions are rate-limited per client address (429
  with ``Retry-After``; a site form's route answers it as its page).
- Security headers: ``nosniff`` everywhere, a strict CSP (``frame-ancestors 'none'``) and a
  referrer policy on HTML; ``Cache-Control: no-store`` unless the route set its own.
- One JSON log line per request (request id, route template, status, duration) and the
  Prometheus request metrics by route template.
- Accepted connections send without delay (``TCP_NODELAY``): kept-alive clients do not wait
  for their own delayed ACK on the last segment of a response.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from typing import Any

import eventlet
from nameko.web.server import HttpOnlyProtocol, WebServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from gateway.core import GatewayCore, setting
from gateway.problems import PROBLEM_JSON, Problem, problem_response, to_problem

access_log = logging.getLogger("sesp.gateway.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
PUBLIC_PREFIX = "/v1/public/"
UNMATCHED = "<unmatched>"
# Pages that need more (an inline style by its hash) set their own, as strict.
HTML_CSP = "default-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


class GatewayRequest(Request):
    """A werkzeug request that also carries the matched route's path values."""

    path_values: dict[str, Any]


def request_id_from(value: str | None) -> str:
    if value and REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def _check_url_is_utf8(environ: dict[str, Any]) -> None:
    """WSGI hands the raw path and query over as latin-1 text; a URL whose bytes are not
    UTF-8 is the client's mistake (400), not something to fail on later."""
    for part in ("PATH_INFO", "QUERY_STRING"):
        try:
            environ.get(part, "").encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise Problem("bad-request", "the URL is not UTF-8 (percent-encode it)") from None


def security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if (response.mimetype or "") == "text/html":
        headers.setdefault("Content-Security-Policy", HTML_CSP)
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cache-Control", "no-store")


# eventlet's canned answers, exactly: HTTP/1.0 (the app answers HTTP/1.1), closing, empty.
CANNED_ERROR = re.compile(
    rb"HTTP/1\.0 (4\d\d) ([^\r\n]+)\r\nConnection: close\r\nContent-[Ll]ength: 0\r\n\r\n\Z"
)


class ProblemProtocol(HttpOnlyProtocol):
    """nameko's HTTP protocol, answering the errors the HTTP server itself finds (a request
    line it cannot parse, an unsupported HTTP version) as problem+json like every other
    answer of the gateway, instead of the standard library's HTML page."""

    def send_error(self, code, message=None, explain=None):
        title = self.responses.get(code, ("Error",))[0]
        body = json.dumps(
            {
                "type": "/docs#problem-bad-request" if code == 400 else "about:blank",
                "title": title,
                "status": code,
                "detail": message or title,
            }
        ).encode("utf-8")
        # One JSON line (the app never saw the request: no request id, no route).
        access_log.info(
            "%s: %d %s",
            (getattr(self, "requestline", "") or "-")[:200],
            code,
            message or title,
            extra={"status": code, "route": UNMATCHED},
        )
        self.send_response(code, title)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    rfile: Any  # the socket's files, wrapped per request below
    wfile: Any

    def _read_request_line(self):
        # A slow client must not hold a connection: once a request line has arrived, its
        # headers and body get SESP_HTTP_REQUEST_TIMEOUT in all, and at most the server's
        # socket timeout (SESP_HTTP_IDLE_TIMEOUT) between two reads.
        if isinstance(self.rfile, _Deadline):  # the previous request's
            self.rfile = self.rfile.raw
        line = super()._read_request_line()
        if line:
            deadline = time.monotonic() + self.server.request_timeout
            self.rfile = _Deadline(
                self.rfile, self.connection, deadline, self.server.socket_timeout
            )
        return line

    def handle_one_request(self):
        # eventlet's server answers a few malformed requests itself with canned bytes (a
        # request line over 8 KB: 414; a header line over 8 KB, too many headers, a bad
        # Content-Length: 400) before any handler runs: answer those as problem+json too.
        self.wfile = _CannedErrors(self.wfile, self)
        try:
            super().handle_one_request()
        except TimeoutError:  # its headers did not arrive in time (``_Deadline``)
            self.close_connection = 1
            try:
                self.send_error(408, "the request did not arrive in time")
            except OSError:
                pass  # the client is gone too
        finally:
            self.wfile = self.wfile.raw

    def log_message(self, format, *args):
        # The standard library writes these as plain text on stderr: keep the log JSON.
        access_log.info(format, *args)

    def log_request(self, code="-", size="-"):
        pass  # the line send_error logged, or the app's access line, says it already


class GatewayWebServer(WebServer):
    core = GatewayCore()

    def get_wsgi_app(self):
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=ProblemProtocol, debug=False):
        server = super().get_wsgi_server(sock, wsgi_app, protocol=protocol, debug=debug)
        cfg = self.container.config
        # Slow clients: at most this long between two reads of a request, this long for a
        # whole request once its first line came, and this long idle between requests on a
        # kept-alive connection (eventlet's defaults wait for ever).
        server.socket_timeout = float(setting(cfg, "SESP_HTTP_IDLE_TIMEOUT", "10"))
        server.request_timeout = float(setting(cfg, "SESP_HTTP_REQUEST_TIMEOUT", "30"))
        server.keepalive = float(setting(cfg, "SESP_HTTP_KEEPALIVE_TIMEOUT", "30"))
        return server

    def process_request(self, sock, address):
        # No Nagle: on a kept-alive connection the tail of a response would otherwise wait
        # for the client's delayed ACK (~40 ms) before it is sent.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().process_request(sock, address)


class GatewayWsgiApp:
    def __init__(self, server: GatewayWebServer):
        self.server = server
        self.core = server.core
        self.url_map = server.make_url_map()

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        environ["sesp.request_id"] = request_id
        request = GatewayRequest(environ, shallow=True)
        route, provider, routing_error = UNMATCHED, None, None
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
            route = provider.path
            request.path_values = values
        except HTTPException as exc:
            routing_error = exc
        try:
            _check_url_is_utf8(environ)
            self._rate_limit(request, provider)
            if routing_error is not None:
                raise routing_error
            assert provider is not None  # match() returned it
            response = provider.handle_request(request)
        except NotFound:
            response = problem_response(
                Problem("no-route", f"no endpoint at {request.path}"), request_id
            )
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            response = problem_response(
                Problem(
                    "method-not-allowed",
                    f"{request.method} is not allowed here; use {allowed}",
                    headers={"Allow": allowed},
                ),
                request_id,
            )
        except HTTPException as exc:  # e.g. a redirect
            response = exc.get_response(environ)
        except Exception as exc:
            problem = to_problem(exc, request_id)
            if provider is not None:  # the route's own answer (a site form's: a page)
                response = provider.render_problem(request, problem, request_id)
            else:
                response = problem_response(problem, request_id)
        response.headers["X-Request-ID"] = request_id
        security_headers(response)
        self._record(request, route, response, started)
        return response(environ, start_response)

    def _rate_limit(self, request: Request, provider: Any) -> None:
        if request.path.startswith(PUBLIC_PREFIX) or getattr(provider, "rate_limited", False):
            wait = self.core.limiter.allow(request.remote_addr or "unknown")
            if wait:
                self.core.metrics.rate_limited.inc()
                raise Problem(
                    "rate-limited",
                    f"too many requests from this address; retry in {wait} s",
                    headers={"Retry-After": str(wait)},
                )

    def _record(self, request: Request, route: str, response: Response, started: float) -> None:
        seconds = time.perf_counter() - started
        status = response.status_code
        self.core.metrics.observe_request(request.method, route, status, seconds)
        extra = {
            "request_id": request.environ["sesp.request_id"],
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "method": request.method,
            "actor": request.environ.get("sesp.actor"),
        }
        if status >= 400 and response.mimetype == PROBLEM_JSON:
            # An error's one log line says which problem it was (its type, never its detail:
            # a detail may quote what the client sent).
            try:
                kind = str(json.loads(response.get_data()).get("type", ""))
            except (ValueError, AttributeError):  # not ours (a replayed body): log without it
                kind = ""
            extra["problem"] = kind.rpartition("#")[2].removeprefix("problem-")
        access_log.info("%s %s %s", request.method, request.path, status, extra=extra)


class _CannedErrors:
    """The socket's write file, turning eventlet's canned ``HTTP/1.0 4xx`` answers into the
    protocol's ``send_error`` (problem+json); everything else passes through."""

    def __init__(self, raw, protocol: ProblemProtocol):
        self.raw, self._protocol, self._replacing = raw, protocol, False

    def write(self, data):
        canned = CANNED_ERROR.match(bytes(data)) if not self._replacing else None
        if canned is None:
            return self.raw.write(data)
        self._replacing = True
        try:
            p = self._protocol
            p.command = getattr(p, "command", None) or "GET"
            p.request_version = getattr(p, "request_version", None) or "HTTP/1.0"
            p.requestline = getattr(p, "requestline", "") or "(request line too long)"
            p.send_error(int(canned.group(1)), canned.group(2).decode("latin-1").lower())
        finally:
            self._replacing = False
        return len(data)

    def __getattr__(self, name):
        return getattr(self.raw, name)


class _Deadline:
    """A request's read file after its first line: each socket read waits at most ``idle``
    seconds, and a read still going at ``deadline`` (a byte a second keeps every single read
    short) is cut: ``TimeoutError``, which ends the request."""

    def __init__(self, raw, sock, deadline: float, idle: float | None):
        self.raw, self._sock, self._deadline, self._idle = raw, sock, deadline, idle

    def _call(self, method, *args):
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(min(left, self._idle) if self._idle else left)
        with eventlet.Timeout(left, TimeoutError("the request did not arrive in time")):
            return method(*args)

    def read(self, *args):
        return self._call(self.raw.read, *args)

    def readline(self, *args):
        return self._call(self.raw.readline, *args)

    def readinto(self, buffer):
        return self._call(self.raw.readinto, buffer)

    def __getattr__(self, name):
        return getattr(self.raw, name)
