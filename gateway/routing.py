"""Routes: one nameko entrypoint per endpoint, declaring who may call it and what it takes.

A route is a method of the gateway service decorated with ``route``::

    @route("POST", "/v1/delegations", roles=[CITY_ADMIN], tag="Delegations",
           summary="Delegate licence kinds to a bureau", body=DelegationIn,
           responses={201: Delegation})
    def create_delegation(self, call: Call):
        return 201, self.rpc.licensing.create_delegation(call.body)

Before the method runs, the entrypoint has: authenticated the caller (401) and checked the role
against ``roles`` (403; there is no default: a route names its roles, or ``roles=PUBLIC``),
enforced the body limit (413), the media type (415), parsed JSON (400) and loaded ``body`` and
``query`` with their marshmallow schemas (422, errors by field path). On POST it applies
``Idempotency-Key``.

A route of the public site's HTML forms declares ``form=True``: its body is
``application/x-www-form-urlencoded`` (what a browser's plain form sends), parsed here and then
loaded and refused exactly as a JSON body is (each field once, UTF-8, no NUL; the same
schema, the same problems). A browser form cannot send headers: its hidden
``idempotency_key`` field stands for ``Idempotency-Key``. Such a route also names a
``problem_page`` that renders every problem it answers (the field errors, a rate limit, a
service's refusal) as an HTML page, with the problem's status and headers, instead of
problem+json. The method gets a ``Call`` and returns a body (200), ``(status, body)``,
``(status, body, headers)``, ``None`` (204) or a werkzeug ``Response``; whatever it raises is
mapped by ``gateway.problems``. Scope checks against the object are the method's job, with
``call.require(...)`` (403) and ``call.visible(...)`` (404 for single-object reads); see
``gateway.call``.

Routes are found on the service class (``routes_of``): a route module is a mixin class, and the
service inherits it. That list drives the OpenAPI document, the /docs page and the
authorization matrix test.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from eventlet.event import Event
from marshmallow import EXCLUDE, Schema, ValidationError
from marshmallow import fields as mf
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Request, Response

from gateway.auth import Principal
from gateway.call import ANONYMOUS, Call
from gateway.core import GatewayCore
from gateway.idempotency import StoredResponse, request_hash
from gateway.problems import Problem, problem_response, to_problem
from gateway.publiccache import CachedAnswer
from gateway.uscc_exceptions import named_in
from gateway.web import GatewayWebServer
from infra.bus.context import context_data
from infra.errors import DomainError
from infra.identifiers import uscc_exceptions
from infra.schemas import flatten_errors

PUBLIC = "public"
KIB = 1024
MIB = 1024 * KIB
BODY_LIMIT = 1 * MIB
BATCH_BODY_LIMIT = 5 * MIB
BODY_METHODS = ("POST", "PUT", "PATCH")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,64}$")
FORM = "application/x-www-form-urlencoded"
FORM_KEY = "idempotency_key"  # a form's stand-in for the Idempotency-Key header
FORM_FIELDS = 100  # a form with more fields than this is no form of ours
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


PUBLIC_MAX_AGE = 60  # seconds a public read may be reused by caches


def _etag(response: Response) -> str:
    return '"' + hashlib.sha256(response.get_data()).hexdigest()[:32] + '"'


def _cacheable(request: Request, response: Response) -> Response:
    """Public reads carry an ``ETag`` (a digest of the body) and ``Cache-Control``; a request
    whose ``If-None-Match`` names the current tag gets 304 with no body."""
    # A streamed body (the CSV) cannot be hashed before it is sent: its route sets the tag (so
    # does a kept answer, tagged when it was kept).
    tag = response.headers.get("ETag") or _etag(response)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"
    wanted = request.headers.get("If-None-Match", "")
    if wanted.strip() == "*" or tag in (t.strip().removeprefix("W/") for t in wanted.split(",")):
        return Response(
            status=304, headers={"ETag": tag, "Cache-Control": response.headers["Cache-Control"]}
        )
    return response


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None):
    return Response(
        json.dumps(body, ensure_ascii=False, default=_json_default),
        status=status,
        headers=dict(headers or {}),
        content_type="application/json",
    )


class ApiRoute(HttpRequestHandler):
    """The entrypoint behind ``route``; its attributes are the route's declaration."""

    server = GatewayWebServer()
    core = GatewayCore()

    def __init__(
        self,
        method: str,
        path: str,
        *,
        roles: Iterable[str] | str,
        tag: str,
        summary: str,
        description: str = "",
        body: type[Schema] | Schema | None = None,
        query: type[Schema] | Schema | None = None,
        responses: Mapping[int, Any] | None = None,
        errors: Iterable[int] = (),
        scope: str | None = None,
        out_of_scope: int | None = None,
        if_match: bool = False,
        max_body: int | None = None,
        content_type: str = "application/json",
        path_params: Mapping[str, dict] | None = None,
        calls_services: bool = True,
        cache_from: Iterable[str | tuple[str, Iterable[str]]] = (),
        shown_once: Iterable[str] = (),
        form: bool = False,
        problem_page: Callable[[Request, Problem, dict | None], Response] | None = None,
        rate_limited: bool | None = None,
        **kwargs,
    ):
        if roles != PUBLIC and (isinstance(roles, str) or not list(roles)):
            raise ValueError(f"{method} {path}: declare roles=[...] or roles=PUBLIC")
        self.http_method = method.upper()
        self.path = path
        self.public = roles == PUBLIC
        self.roles = () if self.public else tuple(roles)
        self.tag, self.summary, self.description = tag, summary, description
        self.body_schema = body() if isinstance(body, type) else body
        self.query_schema = query() if isinstance(query, type) else query
        self.responses = dict(responses or {200: None})
        self.errors = tuple(errors)
        self.scope = scope
        self.single_read = self.http_method == "GET" and bool(_PARAM.search(path))
        self.out_of_scope = out_of_scope or (404 if self.single_read else 403)
        self.if_match_header = if_match
        self.max_body = max_body or (BATCH_BODY_LIMIT if path.endswith(":batch") else BODY_LIMIT)
        self.content_type = content_type
        self.path_params = dict(path_params or {})
        self.calls_services = calls_services
        # Services whose events change this public read's answers: answers are kept in the
        # gateway until one of their events arrives (gateway.publiccache). An entry is a
        # service (any of its events) or (service, the event types that change the answers):
        # the gateway then does not even receive the others (a unit's maintenance records).
        self.cache_events: dict[str, frozenset[str] | None] = {}
        for entry in cache_from:
            source, types = (entry, None) if isinstance(entry, str) else entry
            self.cache_events[source] = None if types is None else frozenset(types)
        self.cache_from = tuple(self.cache_events)
        if self.cache_from and (self.http_method != "GET" or roles != PUBLIC):
            raise ValueError("only public GET routes keep their answers (cache_from)")
        # Response fields holding a secret shown only once: never stored, never replayed.
        self.shown_once = tuple(shown_once)
        # A browser's form body (see the module's text), and how its problems are shown.
        self.form = form
        self.body_media = FORM if form else "application/json"
        self.problem_page = problem_page
        # The public limiter counts every /v1/public/ request, and the site's submissions.
        self.rate_limited = path.startswith("/v1/public/") if rate_limited is None else rate_limited
        kwargs.setdefault("expected_exceptions", (DomainError, Problem))
        super().__init__(self.http_method, _PARAM.sub(r"<\1>", path), **kwargs)

    @property
    def operation_id(self) -> str:
        return self.method_name

    @property
    def param_names(self) -> list[str]:
        return _PARAM.findall(self.path)

    def setup(self) -> None:
        super().setup()
        self.core.register_route(self)

    # --- the request pipeline ----------------------------------------------------------

    def handle_request(self, request: Request) -> Response:
        request.shallow = False
        environ = request.environ
        request_id = environ.get("sesp.request_id") or uuid.uuid4().hex
        form: dict | None = None
        try:
            principal = self._authenticate(request)
            environ["sesp.actor"] = principal.id if principal else ANONYMOUS["id"]
            broken = _unstorable_parameters(request)
            if broken:
                raise Problem("validation", errors=broken)
            raw = self._read_body(request) if self.http_method in BODY_METHODS else b""
            payload = self._parse(request, raw)
            if self.form:
                form = payload if isinstance(payload, dict) else {}
            path = dict(getattr(request, "path_values", {}) or {})
            # The exception-list codes this request names: admitted by the edge's validation
            # here, and by the services' through the RPC context (see infra.identifiers).
            named = named_in([payload, path, request.args.to_dict(flat=False)])
            listed = self.core.uscc_exceptions.listed(named)
            with uscc_exceptions(listed):
                query, body = self._load_query(request), self._load_body(payload)
            call = Call(
                request=request,
                principal=principal,
                request_id=request_id,
                path=path,
                query=query,
                body=body,
                uscc_exceptions=listed,
                form=form,
            )
            key = request.headers.get("Idempotency-Key")
            if form is not None and isinstance(form.get(FORM_KEY), str):
                key = form[FORM_KEY]
            call.idempotency_key = key
            if self.http_method == "POST" and key is not None:
                return self._idempotent(call, key, payload)
            return self._run(call)
        except Exception as exc:  # every failure answers problem+json (or the route's page)
            return self.render_problem(request, self._problem(exc, request_id), request_id, form)

    def render_problem(
        self, request: Request, problem: Problem, request_id: str, form: dict | None = None
    ) -> Response:
        """The problem as this route answers it: problem+json, or the route's page."""
        if self.problem_page is None:
            return problem_response(problem, request_id)
        response = self.problem_page(request, problem, form)
        response.status_code = problem.status
        for name, value in problem.headers.items():
            response.headers[name] = value
        return response

    def _problem(self, exc: BaseException, request_id: str) -> Problem:
        """The problem for a failure of this route. A single-object read answers one 404 body
        whether the object is missing or outside the caller's scope (however the service or
        ``call.visible`` worded it): two wordings would tell a prober which objects exist."""
        problem = to_problem(exc, request_id)
        if self.single_read and problem.status == 404:
            return Problem("not-found")
        return problem

    def _authenticate(self, request: Request) -> Principal | None:
        if self.public:
            return None
        challenge = {"WWW-Authenticate": 'Bearer realm="sesp"'}
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem("unauthorized", "send Authorization: Bearer <token>", headers=challenge)
        principal = self.core.tokens.authenticate(token.strip())
        if principal is None:
            challenge["WWW-Authenticate"] += ', error="invalid_token"'
            raise Problem("unauthorized", "unknown or revoked token", headers=challenge)
        if principal.role not in self.roles:
            raise Problem(
                "forbidden",
                f"role {principal.role} may not call {self.http_method} {self.path}",
            )
        return principal

    def _read_body(self, request: Request) -> bytes:
        """The body, refused (413) as soon as it is known to be over the limit: from
        Content-Length before reading, or while streaming a chunked body."""
        limit = self.max_body
        too_large = Problem("payload-too-large", f"the limit for this endpoint is {limit} bytes")
        length = request.content_length
        if length is not None and length > limit:
            raise too_large
        stream = request.environ["wsgi.input"]
        chunks, size = [], 0
        while True:
            try:
                chunk = stream.read(min(64 * KIB, limit + 1 - size))
            except TimeoutError:  # a client too slow to send its body (gateway.web's limits)
                raise Problem(
                    "request-timeout",
                    "the body did not arrive in time",
                    headers={"Connection": "close"},  # the rest of it is not waited for
                ) from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise too_large
            if length is not None and size >= length:
                break
        return b"".join(chunks)

    def _parse(self, request: Request, raw: bytes) -> Any:
        mimetype = request.mimetype  # lower-case, without parameters
        if not raw:
            # Nothing to misread, whatever the type says (eventlet reports a missing
            # Content-Type as text/plain): an empty body is an empty object.
            return None
        if self.form:
            return _parse_form(mimetype, request.mimetype_params, raw)
        if not _is_json(mimetype):
            raise Problem(
                "unsupported-media-type",
                f"send Content-Type: application/json, not {mimetype or 'nothing'}",
            )
        charset = request.mimetype_params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise Problem("unsupported-media-type", "JSON bodies are UTF-8")
        try:
            payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise Problem("malformed-json", f"the body is not valid JSON: {exc}") from None
        # JSON may escape lone surrogates ("\ud800") that no UTF-8 text can hold, and NUL
        # ("\u0000") that PostgreSQL text cannot: storing, hashing or publishing such a string
        # fails far from here, so refuse it by its path.
        broken = _unstorable(payload)
        if broken:
            raise Problem("validation", errors=broken)
        return payload

    def _load_body(self, payload: Any) -> Any:
        if self.body_schema is None:
            if payload in (None, {}):
                return None
            if isinstance(payload, dict):
                raise Problem("validation", errors={k: ["Unknown field."] for k in payload})
            raise Problem("validation", errors={"_schema": ["This endpoint takes no body."]})
        try:
            return self.body_schema.load({} if payload is None else payload)
        except ValidationError as exc:
            raise Problem("validation", errors=flatten_errors(exc.messages)) from None

    def _load_query(self, request: Request) -> dict[str, Any]:
        if self.query_schema is None:
            return {}
        args = request.args
        data = {
            name: args.getlist(name) if isinstance(f, mf.List) else args.get(name)
            for name, f in self.query_schema.fields.items()
            if name in args
        }
        try:
            return self.query_schema.load(data, unknown=EXCLUDE)
        except ValidationError as exc:
            raise Problem("validation", errors=flatten_errors(exc.messages)) from None

    def _run(self, call: Call) -> Response:
        """Run the route method in a nameko worker; its result or error as a response. A
        route with ``cache_from`` answers from the gateway's memory while nothing changed."""
        if not self.cache_from:
            return self._answer(call)
        cache = self.core.public_cache
        key = "\n".join([call.request.full_path, call.request.headers.get("Accept-Language", "")])
        kept = cache.get(key, self.cache_from)
        if kept is None and cache.wait_for_reader(key):
            kept = cache.get(key, self.cache_from)  # what the read already under way kept
        if kept is not None:
            self.core.metrics.public_cache.labels("hit").inc()
            response = Response(kept.body, status=kept.status, headers=list(kept.headers))
            return _cacheable(call.request, response)
        self.core.metrics.public_cache.labels("miss").inc()
        read_under = cache.generation(self.cache_from)
        if read_under is None:  # not hearing every source's events: nothing is kept
            return self._answer(call)
        with cache.reading(key):
            return self._answer(call, keep=partial(cache.put, key, self.cache_from, read_under))

    def _answer(self, call: Call, keep=None) -> Response:
        actor = call.principal.actor() if call.principal else ANONYMOUS
        event = Event()
        self.container.spawn_worker(
            self,
            (call,),
            {},
            context_data=context_data(
                actor, call.request_id, call.uscc_exceptions, call.command_id
            ),
            handle_result=partial(self.handle_result, event),
        )
        try:
            response = self.response_from_result(event.wait())
        except Exception as exc:
            problem = self._problem(exc, call.request_id)
            return self.render_problem(call.request, problem, call.request_id, call.form)
        if (
            self.http_method == "GET"
            and self.path.startswith("/v1/public/")
            and response.status_code == 200
        ):
            if keep is not None and not response.is_streamed:
                # Tagged once, here: a kept answer is not hashed again on every hit.
                response.headers["ETag"] = _etag(response)
                headers = tuple((k, v) for k, v in response.headers.items())
                keep(CachedAnswer(response.status_code, headers, response.get_data()))
            return _cacheable(call.request, response)
        return response

    def response_from_result(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status=204)
        headers: Mapping[str, str] = {}
        status = 200
        if isinstance(result, tuple):
            if len(result) == 3:
                status, result, headers = result
            else:
                status, result = result
            if result is None:
                return Response(status=status, headers=dict(headers))
        return json_response(result, status, headers)

    def _idempotent(self, call: Call, key: str, payload: Any) -> Response:
        if not IDEMPOTENCY_KEY.match(key):
            raise Problem(
                "validation",
                errors={"Idempotency-Key": ["1 to 64 visible ASCII characters"]},
            )
        caller = call.principal.id if call.principal else "anon:" + _client(call.request)
        # The bearer token seals the stored response: only its holder can read it back.
        secret = call.request.headers.get("Authorization", "").partition(" ")[2].strip()
        path = call.request.full_path.rstrip("?")
        digest = request_hash(self.http_method, path, caller, payload)
        store = self.core.idempotency
        claim = store.wait(caller, key, digest, self.core.idempotency_wait, secret)
        if claim.outcome == "mismatch":
            raise Problem(
                "idempotency-key-reused",
                "this Idempotency-Key was used with another request",
                errors={"Idempotency-Key": ["already used with another request"]},
            )
        if claim.outcome == "busy":
            raise Problem("in-progress", headers={"Retry-After": "1"})
        if claim.outcome in ("shown-once", "erased"):
            stored = claim.stored
            assert stored is not None
            kept = {k: v for k, v in stored.headers if k in ("Location", "ETag")}
            if claim.outcome == "erased":
                raise Problem("response-erased", headers=kept)
            applied = json.loads(stored.body) if stored.body else {}
            raise Problem("shown-once", headers=kept, extra={"applied": applied})
        if claim.outcome == "replay":
            stored = claim.stored
            assert stored is not None  # a replay always carries the stored response
            self.core.metrics.idempotent_replays.inc()
            response = Response(stored.body, status=stored.status, headers=stored.headers)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            response = self._run(call)
        except BaseException:
            store.release(caller, key)
            raise
        if response.status_code == 504:
            # The service did not answer in time, but the command may still be queued or
            # running: keep the key claimed (a retry hears "in progress") until the claim
            # expires; a retry after that gives the same command id, which the service applies
            # once. The request itself expires on the broker when its caller gives up.
            pass
        elif response.status_code >= 500:
            store.release(caller, key)
        else:
            headers = [(k, v) for k, v in response.headers.items()]
            store.complete(
                caller,
                key,
                StoredResponse(response.status_code, headers, response.get_data()),
                secret,
                payload=payload,
                shown_once=self.shown_once if response.status_code < 300 else (),
            )
        return response


route = ApiRoute.decorator


def routes_of(service_cls: type) -> list[ApiRoute]:
    """Every route a gateway service class declares (its own and its mixins'), by path."""
    found = []
    for name, member in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            if isinstance(entrypoint, ApiRoute):
                entrypoint.method_name = name
                found.append(entrypoint)
    return sorted(found, key=lambda r: (r.path, r.http_method))


def _parse_form(mimetype: str, params: Mapping[str, str], raw: bytes) -> dict[str, str]:
    """A browser form's fields: percent-encoded UTF-8, each field at most once; NUL and text
    that is not UTF-8 refused by the field's name, as in a JSON body."""
    if mimetype != FORM:
        raise Problem("unsupported-media-type", f"send Content-Type: {FORM}, not {mimetype}")
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise Problem("unsupported-media-type", "form bodies are UTF-8")
    try:
        pairs = parse_qsl(
            raw.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=FORM_FIELDS,
        )
    except (UnicodeError, ValueError):
        raise Problem("bad-request", "the body is not a form (percent-encoded UTF-8)") from None
    fields: dict[str, str] = {}
    twice: dict[str, list[str]] = {}
    for name, value in pairs:
        if name in fields:
            twice[name] = ["given more than once"]
        fields[name] = value
    broken = {**_unstorable(fields), **twice}
    if broken:
        raise Problem("validation", errors=broken)
    return fields


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


NOT_UNICODE = "must be valid Unicode text"
HAS_NUL = "must not contain NUL characters"


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UNICODE
    return HAS_NUL if "\x00" in text else None


def _unstorable(value: Any, path: str = "") -> dict[str, list[str]]:
    """Field paths of strings (keys included) in ``value`` that no store can hold: not valid
    Unicode (lone surrogates) or holding NUL."""
    out: dict[str, list[str]] = {}
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            out[path or "_schema"] = [problem]
    elif isinstance(value, dict):
        for key, inner in value.items():
            name = key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\0")
            inner_path = f"{path}.{name}" if path else name
            out.update(_unstorable(key, inner_path) or _unstorable(inner, inner_path))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out.update(_unstorable(inner, f"{path}.{i}" if path else str(i)))
    return out


def _unstorable_parameters(request: Request) -> dict[str, list[str]]:
    """Path and query parameters that hold NUL (a URL's %00), by parameter name. (A URL that
    is not UTF-8 never gets here: the web server answers it 400.)"""
    out: dict[str, list[str]] = {}
    values = [*(getattr(request, "path_values", None) or {}).items(), *request.args.items(True)]
    for name, value in values:
        problem = _text_problem(name) or _text_problem(value)
        if problem:
            out[name.replace("\x00", "\\0")] = [problem]
    return out


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _client(request: Request) -> str:
    return request.environ.get("REMOTE_ADDR") or "unknown"
