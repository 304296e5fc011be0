"""Operations endpoints and pages: health, readiness, metrics, the API description, /."""

from __future__ import annotations

import logging
import re

import eventlet
import kombu
import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from nameko.exceptions import UnknownService
from werkzeug.wrappers import Response

from gateway import site
from gateway.call import Call
from gateway.pages import docs_page, html_response
from gateway.problems import PROBLEM_JSON, Problem, RpcTimeout
from gateway.routes.base import RouteBase
from gateway.routes.public_equipment import equipment_facts
from gateway.routing import PUBLIC, json_response, route
from gateway.schemas import Health, Readiness
from infra import registry
from infra.clock import today
from infra.errors import NotFound
from infra.identifiers import InvalidIdentifier, parse_equipment_code, uscc_fails_check
from infra.places import DISTRICTS

TAG = "Operations"
HTML = {"content_type": "text/html", "schema": {"type": "string"}}
log = logging.getLogger("sesp.gateway")
# The public page's search: a credit code is looked up as such, anything else as a name part.
USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
PAGE_SEARCH_TIMEOUT = 5  # seconds: a page that waits longer helps nobody
PAGE_RESULTS = 20


class HomeQuery(Schema):
    q = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "a unit's name (or part of it) or credit code"},
    )
    district = fields.String(
        validate=validate.OneOf(["", *DISTRICTS]),
        metadata={"description": "a district code (blacklist and grades of that district)"},
    )
    status = fields.String(
        validate=validate.OneOf(["listed", "removed", "all"]),
        metadata={"description": "which blacklist listings: listed (default), removed, all"},
    )
    lang = fields.String(
        validate=validate.OneOf(list(site.LANGS)),
        metadata={"description": "zh (default) or en; else the browser's Accept-Language"},
    )


class UnitPageQuery(Schema):
    lang = fields.String(validate=validate.OneOf(list(site.LANGS)))


class EquipmentPageQuery(Schema):
    code = fields.String(
        validate=validate.Length(max=40),
        metadata={"description": "the code on the sign in the car (18 digits, or legacy 20)"},
    )
    lang = fields.String(validate=validate.OneOf(list(site.LANGS)))


def _or_none(part: str, read, missing=None):
    """A page's read of a service: ``missing`` when the service knows nothing of it (404),
    None when it cannot answer now (the page says so instead of failing)."""
    try:
        return read()
    except NotFound:
        return missing
    except Exception as exc:  # noqa: BLE001 - the page says this part is unavailable
        log.warning("public page: %s read failed (%s)", part, type(exc).__name__)
        return None


def relay_summary(status: dict | None) -> str:
    """One line on a service's outbox relay for ``/readyz``."""
    if status is None:
        return "unknown (no relay_status answer)"
    stuck = status.get("stuck_event")
    if stuck:
        return (
            f"stuck at event {stuck['event_id']} ({stuck['type']}, position {stuck['position']})"
            f" since {status['error_since']}, {status['failures']} attempt(s): {status['error']}"
        )
    if status.get("error"):
        return (
            f"failing since {status['error_since']}, {status['failures']} attempt(s):"
            f" {status['error']}"
        )
    return "ok"


class OpsRoutes(RouteBase):
    @route(
        "GET",
        "/healthz",
        roles=PUBLIC,
        tag=TAG,
        summary="The gateway process is up",
        responses={200: Health},
        calls_services=False,
    )
    def healthz(self, call: Call):
        return {"status": "ok"}

    @route(
        "GET",
        "/readyz",
        roles=PUBLIC,
        tag=TAG,
        summary="Broker, gateway database and every service reachable",
        description="Each service must answer an RPC ping within SESP_READY_TIMEOUT seconds; "
        "a 503 names the failing parts in `checks`. `relays` tells each service's outbox relay "
        "apart (`ok`, or failing or stuck on an event, named): a stuck relay does not make the "
        "platform unready, it is named here and in /metrics.",
        responses={
            200: Readiness,
            503: {
                "description": "Not ready; `checks` names what failed",
                "schema": "Problem",
                "content_type": PROBLEM_JSON,
            },
        },
        calls_services=False,
    )
    def readyz(self, call: Call):
        core = self.gateway
        timeout = core.ready_timeout
        checks: dict[str, str] = {}

        def probe(name, check):
            try:
                with eventlet.Timeout(timeout + 0.5, RpcTimeout(f"no answer in {timeout:g} s")):
                    check()
                checks[name] = "ok"
            except UnknownService:
                checks[name] = "not running"
            except RpcTimeout:
                checks[name] = f"no answer within {timeout:g} s"
            except Exception as exc:  # a probe reports, it does not fail the request
                checks[name] = f"unreachable ({type(exc).__name__})"

        def broker():
            with kombu.Connection(core.amqp_uri, connect_timeout=timeout) as conn:
                conn.ensure_connection(max_retries=1)

        def database():
            with core.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        rpc = self.rpc.with_timeout(timeout)
        pool = eventlet.GreenPool()
        pool.spawn_n(probe, "broker", broker)
        pool.spawn_n(probe, "database", database)
        services = registry.names()
        for service in services:
            pool.spawn_n(probe, service, getattr(rpc, service).ping)
        statuses = self._relay_statuses(pool, services)
        pool.waitall()
        checks = {k: checks[k] for k in ["broker", "database", *services]}
        relays = {s: relay_summary(statuses.get(s)) for s in services}
        failing = [f"{k} ({v})" for k, v in checks.items() if v != "ok"]
        if failing:
            raise Problem(
                "service-unavailable",
                "not ready: " + ", ".join(failing),
                extra={"checks": checks, "relays": relays},
            )
        return {"status": "ready", "checks": checks, "relays": relays}

    def _relay_statuses(
        self, pool: eventlet.GreenPool, services: list[str]
    ) -> dict[str, dict | None]:
        """Each service's ``relay_status`` (``None``: no answer in time), filled in as the
        calls on ``pool`` return: the caller waits for the pool."""
        rpc = self.rpc.with_timeout(self.gateway.ready_timeout)
        statuses: dict[str, dict | None] = dict.fromkeys(services)

        def ask(service: str) -> None:
            try:
                statuses[service] = getattr(rpc, service).relay_status()
            except Exception:  # a status that does not come is reported as such
                statuses[service] = None

        for service in services:
            pool.spawn_n(ask, service)
        return statuses

    @route(
        "GET",
        "/metrics",
        roles=PUBLIC,
        tag=TAG,
        summary="Prometheus metrics",
        responses={200: {"content_type": "text/plain", "schema": {"type": "string"}}},
        calls_services=False,
    )
    def metrics(self, call: Call):
        metrics = self.gateway.metrics
        pool = eventlet.GreenPool()
        statuses = self._relay_statuses(pool, registry.names())
        pool.waitall()
        metrics.observe_relays(statuses)
        return Response(metrics.render(), status=200, content_type=metrics.content_type)

    @route(
        "GET",
        "/openapi.json",
        roles=PUBLIC,
        tag=TAG,
        summary="This API as OpenAPI 3.1",
        responses={200: {"schema": {"type": "object"}}},
        calls_services=False,
    )
    def openapi(self, call: Call):
        return json_response(self.gateway.openapi(), headers={"Cache-Control": "no-cache"})

    @route(
        "GET",
        "/docs",
        roles=PUBLIC,
        tag=TAG,
        summary="This API as a page to read",
        responses={200: HTML},
        calls_services=False,
    )
    def docs(self, call: Call):
        return html_response(docs_page(self.gateway.openapi()))

    @route(
        "GET",
        "/",
        roles=PUBLIC,
        tag="Public",
        summary="The public page: search the blacklist and credit grades",
        description="With q: the final credit grades of units whose name contains it or whose "
        "credit code it is (a search the credit service cannot answer shows as such).",
        query=HomeQuery,
        responses={200: HTML},
        calls_services=False,
    )
    def home(self, call: Call):
        lang = site.language(call.query.get("lang"), call.request.headers.get("Accept-Language"))
        q = (call.query.get("q") or "").strip()
        district = call.query.get("district") or ""
        status = call.query.get("status") or "listed"
        if not (q or district):
            return html_response(site.home(lang, q, district, status))
        listing_filters: dict = {"status": status}
        grade_filters: dict = {}
        if district:
            listing_filters["district"] = grade_filters["district"] = district
        code = q.upper()
        if q and USCC_SHAPE.fullmatch(code):
            if uscc_fails_check(code):
                # A search page that says so (the search form is the page's answer, not 422).
                page = site.home(lang, q, district, status, searched=True, bad_code=True)
                return html_response(page)
            listing_filters["uscc"] = grade_filters["uscc"] = code
        elif q:
            listing_filters["q"] = q
            grade_filters["name"] = q
        services = self.rpc.with_timeout(PAGE_SEARCH_TIMEOUT)
        listings = _or_none(
            "blacklist", lambda: services.blacklist.public_blacklist(listing_filters, PAGE_RESULTS)
        )
        grades = _or_none(
            "credit", lambda: services.maintenance_credit.public_credit(grade_filters, PAGE_RESULTS)
        )
        page = site.home(lang, q, district, status, listings, grades, searched=True)
        return html_response(page)

    @route(
        "GET",
        "/units/{uscc}",
        roles=PUBLIC,
        tag="Public",
        summary="The public page of a maintenance unit",
        description="Its blacklist listings (current and past) with reasons and legal basis, its "
        "final credit grades over the years as a chart, and how to apply for credit repair; "
        "404 (a page) for a unit with no public information or a code that is none.",
        query=UnitPageQuery,
        responses={200: HTML, 404: {**HTML, "description": "no public information on it"}},
        calls_services=False,
    )
    def unit_page(self, call: Call):
        lang = site.language(call.query.get("lang"), call.request.headers.get("Accept-Language"))
        uscc = call.path["uscc"].upper()
        if not USCC_SHAPE.fullmatch(uscc) or uscc_fails_check(uscc):
            return html_response(site.not_found_page(lang), status=404)  # no such unit page
        services = self.rpc.with_timeout(PAGE_SEARCH_TIMEOUT)
        listed = _or_none("blacklist", lambda: services.blacklist.unit_listings(uscc), missing={})
        history = _or_none(
            "credit", lambda: services.maintenance_credit.unit_history(uscc), missing={}
        )
        listings = None if listed is None else listed.get("listings", [])
        periods = [p for p in (history or {}).get("periods", []) if p.get("status") == "final"]
        name = (listed or {}).get("name") or (history or {}).get("name")
        if not listings and not periods and not name:
            return html_response(site.not_found_page(lang), status=404)
        district = (listed or {}).get("district") or (history or {}).get("district")
        return html_response(site.unit_page(lang, uscc, name, listings, periods, district))

    @route(
        "GET",
        "/equipment",
        roles=PUBLIC,
        tag="Public",
        summary="The public page of an elevator, by the code on its sign",
        description="Whether it is registered and in service, its district, who maintains it "
        "(with that unit's latest final grade and whether it is blacklisted) and whether "
        "liability insurance covers it today; the same facts as /v1/public/equipment/{code}.",
        query=EquipmentPageQuery,
        responses={200: HTML},
        calls_services=False,
    )
    def equipment_page(self, call: Call):
        lang = site.language(call.query.get("lang"), call.request.headers.get("Accept-Language"))
        raw = (call.query.get("code") or "").strip()
        if not raw:
            return html_response(site.equipment_page(lang, ""))
        try:
            code = parse_equipment_code(raw, today()).code
        except InvalidIdentifier:
            return html_response(site.equipment_page(lang, raw, problem="bad"))
        services = self.rpc.with_timeout(PAGE_SEARCH_TIMEOUT)
        facts = _or_none("equipment", lambda: equipment_facts(services, code), missing={})
        if facts is None:
            return html_response(site.equipment_page(lang, raw, problem="unavailable"))
        if not facts:
            return html_response(site.equipment_page(lang, raw, problem="unknown"))
        return html_response(site.equipment_page(lang, raw, facts))
