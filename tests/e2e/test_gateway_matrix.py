"""The authorization matrix, driven by the route registry: every endpoint the gateway serves,
asked with no token, an unknown token, each role it does not allow, and each role it allows,
in scope and (for scoped routes) out of scope. Each cell must get exactly the status API.md
prescribes: 401, 401, 403, 2xx, and 403 or 404 (single-object reads) out of scope.

A new route joins the matrix by itself; the in-scope and out-of-scope requests it needs (a
valid body, an object that exists) are given in ``CASES`` by operation id, and a protected
route without a case fails ``test_every_protected_route_has_a_case``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.auth import (
    APPLICANT,
    BUREAU_OFFICER,
    CITY_ADMIN,
    INSURER,
    MAINTENANCE_UNIT,
    ROLES,
    USCC_ROLES,
)
from gateway.routing import ApiRoute, routes_of
from gateway.service import GatewayService
from infra import registry
from infra.testing import wait_until
from services.licensing.examples import (
    SHA,
    new_equipment_code,
    new_failing_uscc,
    new_uscc,
    production_licence,
    use_registration,
)
from services.maintenance_credit.rules import SHIPPED

ROUTES = routes_of(GatewayService)
PROTECTED = [r for r in ROUTES if not r.public]
PUBLIC_ROUTES = [r for r in ROUTES if r.public]

BUREAU, OTHER_BUREAU = XUHUI, HUANGPU = "310104", "310101"
CLOCK = "2014-09-29T09:00:00+08:00"
ALL_KINDS = [
    "use_registration",
    "operator_certificate",
    "construction_notice",
    "pressure_piping_licence",
    "production_licence",
]


@dataclass
class Req:
    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """``ok(world, role)`` builds a request the role may make in its own scope (answered with
    ``expect``); ``out_of_scope(world, role)`` one on an object of another bureau or unit, for
    the roles in ``scoped`` (answered 403, or 404 for a single-object read)."""

    ok: Callable[[World, str], Req]
    expect: int
    out_of_scope: Callable[[World, str], Req] | None = None
    scoped: tuple[str, ...] = ()


class World:
    """The running stack plus builders of the objects the cases act on. In scope: the Xuhui
    bureau (every licence kind is delegated to it) and one credit code per USCC role."""

    def __init__(self, gw):
        self.gw = gw
        self.uscc = {role: new_uscc() for role in USCC_ROLES}
        self.other_uscc = new_uscc()
        self.admin = gw.headers(gw.token(CITY_ADMIN))
        self._n = 0

    def token(self, role: str, in_scope: bool = True) -> str:
        if role == BUREAU_OFFICER:
            return self.gw.token(role, bureau=BUREAU if in_scope else OTHER_BUREAU)
        if role in USCC_ROLES:
            return self.gw.token(role, uscc=self.uscc[role] if in_scope else self.other_uscc)
        return self.gw.token(role)

    def call(self, method: str, url: str, body: Any = None, status: int = 200) -> dict:
        response = self.gw.client.request(method, url, json=body, headers=self.admin)
        assert response.status_code == status, f"{method} {url}: {response.text}"
        return response.json() if response.content else {}

    def seq(self) -> int:
        self._n += 1
        return self._n

    # --- licensing objects (applicant: the applicant role's code; bureau: Xuhui) ---------

    def application(self, status: str = "received", uscc: str | None = None) -> str:
        uscc = uscc or self.uscc[APPLICANT]
        body = production_licence(uscc, district=XUHUI)
        app = self.call("POST", "/v1/applications", body, 201)["id"]
        base = f"/v1/applications/{app}"
        if status in ("accepted", "suspended", "approved"):
            self.call("POST", f"{base}/accept", {})
        if status == "approved":
            self.call("POST", f"{base}/approve", {"opinion": "conditions met"})
        if status == "suspended":
            self.call("POST", f"{base}/suspend-clock", {"reason": "test", "notice_ref": "N-1"})
        if status == "awaiting_correction":
            self.call("POST", f"{base}/request-correction", {"items": ["the quality manual"]})
        return app

    def licence(self, uscc: str | None = None, status: str = "active") -> str:
        app = self.application("accepted", uscc)
        no = self.call("POST", f"/v1/applications/{app}/approve", {"opinion": "ok"})["licence_no"]
        if status == "suspended":
            self.call("POST", f"/v1/licences/{no}/suspend", {"reason": "test"})
        if status == "renewing":
            self.call("POST", f"/v1/licences/{no}/renewals", {}, 201)
        return no

    def construction_notice(self) -> str:
        installer = self.uscc[APPLICANT]
        if not getattr(self, "_installer_licensed", False):
            self.licence(installer)  # elevator:installation, level B
            self._installer_licensed = True
        body = {
            "kind": "construction_notice",
            "applicant": {"uscc": installer, "name": "Installer Co."},
            "location": {"district": XUHUI, "in_ftz": False, "address": "5 Hongqiao Road"},
            "subject": {
                "equipment_code": new_equipment_code(),
                "work": "install",
                "installer_uscc": installer,
                "starts_on": "2014-10-20",
                "rated_speed_mps": 1.0,
            },
            "materials": [],
        }
        app = self.call("POST", "/v1/applications", body, 201)["id"]
        self.call("POST", f"/v1/applications/{app}/accept", {})
        self.call("POST", f"/v1/applications/{app}/approve", {"opinion": "filed"})
        return app

    def uscc_exception(self) -> str:
        """A code that fails the check, on the USCC exception list."""
        code = new_failing_uscc()
        self.call("PUT", f"/v1/admin/uscc-exceptions/{code}", {"note": "matrix"}, 201)
        return code

    def new_token_id(self) -> str:
        _, record = self.gw.core.tokens.create(role=CITY_ADMIN, name="matrix victim")
        return record["id"]

    def equipment(self, known_to: str | None = None, status: str = "registered") -> str:
        """A registered elevator (user: the applicant role's code; maintained by the
        maintenance unit role's code); ``known_to="insurance"`` waits until the insurance
        service has heard of the registration (reads are eventually consistent)."""
        code = new_equipment_code()
        body = use_registration(
            self.uscc[APPLICANT],
            code,
            in_ftz=False,
            district=XUHUI,
            maintenance_unit=self.uscc[MAINTENANCE_UNIT],
        )
        app = self.call("POST", "/v1/applications", body, 201)["id"]
        self.call("POST", f"/v1/applications/{app}/accept", {})
        self.call("POST", f"/v1/applications/{app}/approve", {"opinion": "registered"})
        if status == "suspended":
            self.call("POST", f"/v1/equipment/{code}/suspend", {"reason": "test"})
        if known_to == "insurance":
            # The insurer role reads premium factors of elevators it insures or quotes.
            insurer = self.gw.headers(self.gw.token(INSURER, uscc=self.uscc[INSURER]))
            quote = {"equipment_codes": [code], "valid_until": "2014-12-15"}
            quoted = self.gw.client.post("/v1/insurance/quotes", json=quote, headers=insurer)
            assert quoted.status_code == 201, quoted.text
            url = f"/v1/insurance/equipment/{code}/premium-factors"
            wait_until(
                lambda: self.gw.client.get(url, headers=insurer).status_code == 200,
                timeout=15,
                what=f"insurance to learn of {code}",
            )
        return code

    def delegation(self) -> str:
        # A date of its own each time: an identical delegation in force is refused.
        n = self.seq()
        body = {
            "bureau": HUANGPU,
            "kinds": ["operator_certificate"],
            "effective_from": f"2013-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}",
        }
        return self.call("POST", "/v1/delegations", body, 201)["id"]

    def licensee(self) -> str:
        """The credit code of a fresh Xuhui licensee (a Xuhui officer's risk facts are about
        its own licensees and units)."""
        uscc = new_uscc()
        self.licence(uscc)
        return uscc

    def audit_plan(self, stage: str = "drawn") -> tuple[str, str]:
        """A Xuhui plan over one fresh licensee: (plan id, the target's licence number)."""
        no = self.licence(new_uscc())
        plan = self.call(
            "POST",
            "/v1/audits/plans",
            {"kind": "production_licence", "size": 1, "seed": self.seq(), "bureau": XUHUI},
            201,
        )
        target = plan["targets"][0]["licence_no"]
        base = f"/v1/audits/{plan['id']}"
        if stage in ("findings", "ordered"):
            findings = [{"item": "records missing", "severity": "serious"}]
            self.call("POST", f"{base}/findings", {"licence_no": target, "findings": findings}, 201)
        if stage == "ordered":
            order = {"licence_no": target, "due_on": "2014-11-20", "items": ["records"]}
            self.call("POST", f"{base}/rectification-orders", order, 201)
        del no
        return plan["id"], target

    # --- insurance objects (insurer: the insurer role's code) ----------------------------

    def policy_body(self, revision: int = 1) -> dict:
        return {
            "revision": revision,
            "policyholders": [
                {"uscc": self.uscc[MAINTENANCE_UNIT], "name": "Lift Care", "role": "maintenance",
                 "share": "0.30"},
                {"uscc": self.other_uscc, "name": "Owner Co", "role": "owner", "share": "0.70"},
            ],
            "equipment_codes": [new_equipment_code()],
            "cover": "liability",
            "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
            "premium": "93.00",
            "starts_on": "2014-07-01",
            "ends_on": "2015-06-30",
            "status": "active",
        }  # fmt: skip

    def policy(self) -> str:
        return self._policy()[0]

    def insured_equipment(self) -> str:
        """An elevator one of the insurer role's policies names."""
        return self._policy()[1]

    def _policy(self) -> tuple[str, str]:
        no, body = f"M-{self.seq()}", self.policy_body()
        token = self.gw.token(INSURER, uscc=self.uscc[INSURER])
        response = self.gw.client.put(
            f"/v1/insurance/policies/{no}", json=body, headers=self.gw.headers(token)
        )
        assert response.status_code == 201, response.text
        return no, body["equipment_codes"][0]

    # --- credit objects (the maintenance unit role's code, licensed by Xuhui) --------------

    def credit_unit(self) -> str:
        """The maintenance unit role's code, once the credit service knows it as a unit."""
        uscc = self.uscc[MAINTENANCE_UNIT]
        if not getattr(self, "_credit_unit", False):
            body = production_licence(
                uscc, scope=("elevator:maintenance",), level=None, district=XUHUI
            )
            app = self.call("POST", "/v1/applications", body, 201)["id"]
            self.call("POST", f"/v1/applications/{app}/accept", {})
            self.call("POST", f"/v1/applications/{app}/approve", {"opinion": "maintenance"})
            wait_until(
                lambda: (
                    self.gw.client.get(f"/v1/credit/units/{uscc}", headers=self.admin).status_code
                    == 200
                ),
                timeout=20,
                what=f"the credit service to learn of {uscc}",
            )
            self._credit_unit = True
        return uscc

    def quality_event(self, occurred_at: str = "2014-09-20T10:00:00+08:00") -> dict:
        return {
            "event_id": f"matrix-q-{self.seq()}-{self.uscc[MAINTENANCE_UNIT]}",
            "unit_uscc": self.credit_unit(),
            "type": "complaint_verified",
            "occurred_at": occurred_at,
        }

    def evaluation(self, period: str | None = None) -> str:
        """An evaluation published (open for objection on the matrix's day): of 2013 (the
        appeals' period) once, or of a period of its own."""
        if period is None:
            period = str(2012 - self.seq())
            self.call("POST", "/v1/credit/evaluations", {"period": period}, 201)
            return period
        # Once; a request of the fuzzing may have published it first (409: it is).
        body = {"period": period}
        response = self.gw.client.post("/v1/credit/evaluations", json=body, headers=self.admin)
        assert response.status_code in (201, 409), response.text
        return period

    def appealable(self) -> str:
        """A deduction of the unit in 2013, the period open for objection."""
        event = self.quality_event("2013-06-01T10:00:00+08:00")
        self.call("POST", "/v1/quality-events", event, 201)
        self.evaluation("2013")
        url = f"/v1/credit/units/{event['unit_uscc']}?as_of=2013-12-31"
        deductions = self.call("GET", url)["deductions"]
        return next(d["id"] for d in deductions if d["event_id"] == event["event_id"])

    def ruleset(self, version: str) -> dict:
        """A new version: the default's rules, in force from a day after the matrix's."""
        shipped = SHIPPED / "demerit-2016.json"
        body = json.loads(shipped.read_text(encoding="utf-8"))
        return {**body, "version": version, "effective_from": "2015-01-01"}

    def appeal(self) -> str:
        uscc, deduction = self.credit_unit(), self.appealable()
        unit = self.gw.headers(self.gw.token(MAINTENANCE_UNIT, uscc=uscc))
        body = {"deduction_id": deduction, "grounds": "matrix"}
        response = self.gw.client.post(f"/v1/credit/units/{uscc}/appeals", json=body, headers=unit)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    # --- blacklist objects (listings of the maintenance unit role's code) ------------------

    def listing_body(self, uscc: str | None = None) -> dict:
        return {
            "uscc": uscc or new_uscc(),
            "name": "Matrix Lift Care",
            "district": XUHUI,
            "reason": "forged maintenance records",
            "legal_basis": "Special Equipment Safety Law art. 88",
            "decision_no": f"matrix-{self.seq()}-{new_uscc()}",
        }

    def _unraced(self, send: Callable[[], Any]) -> Any:
        """``send()`` again while it loses a race on the unit's stream (409, not applied), after
        a pause that grows: the fuzzing builds several objects of one unit at once."""
        for attempt in range(30):
            response = send()
            if response.status_code != 409:
                return response
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
        return response

    def listing(self) -> str:
        """A fresh listing of the maintenance unit role's code (one decision each). Listings
        of one unit share its stream: one made at the same time by another request (the
        fuzzing sends several at once) wins, and this one is made again (409: not applied)."""
        body = self.listing_body(self.uscc[MAINTENANCE_UNIT])
        response = self._unraced(
            lambda: self.gw.client.post("/v1/blacklist/listings", json=body, headers=self.admin)
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def repair_application(self, reinspected: bool = False) -> str:
        uscc = self.uscc[MAINTENANCE_UNIT]
        unit = self.gw.headers(self.gw.token(MAINTENANCE_UNIT, uscc=uscc))
        url = f"/v1/blacklist/listings/{self.listing()}/repair-applications"
        response = self._unraced(
            lambda: self.gw.client.post(url, json={"rectification": "matrix"}, headers=unit)
        )
        assert response.status_code == 201, response.text
        application = response.json()["id"]
        if reinspected:
            url = f"/v1/blacklist/repair-applications/{application}/reinspection"
            body = {"passed": True, "findings": "matrix"}
            response = self._unraced(
                lambda: self.gw.client.post(url, json=body, headers=self.admin)
            )
            assert response.status_code == 200, response.text
        return application

    # --- complaints (about an elevator of Xuhui) -----------------------------------------

    def complaint(self) -> str:
        """A fresh complaint from the public about a Xuhui elevator (the credit service
        learns of the elevator from licensing's events: 404 until it has)."""
        if getattr(self, "_complaint_lift", None) is None:
            self._complaint_lift = self.equipment()
        body = {
            "equipment_code": self._complaint_lift,
            "what": "the car stopped between floors",
            "occurred_at": "2014-09-29T08:00:00+08:00",
        }
        sent: dict[str, Any] = {}

        def submitted() -> bool:
            response = self.gw.client.post("/v1/public/complaints", json=body)
            sent["response"] = response
            return response.status_code == 201

        wait_until(submitted, timeout=20, what="the credit service to accept a complaint")
        return sent["response"].json()["reference"]


def _command(
    command: str,
    body: Any,
    status: str = "received",
    expect: int = 200,
    scoped: tuple[str, ...] = (BUREAU_OFFICER,),
) -> Case:
    """An application command: a fresh application in ``status`` for every cell."""
    return Case(
        ok=lambda w, role: Req(path={"application_id": w.application(status)}, json=body),
        expect=expect,
        out_of_scope=lambda w, role: Req(path={"application_id": w.application(status)}, json=body),
        scoped=scoped,
    )


def _licence_command(body: Any, status: str = "active", expect: int = 200, scoped=None) -> Case:
    return Case(
        ok=lambda w, role: Req(path={"licence_no": w.licence(status=status)}, json=body),
        expect=expect,
        out_of_scope=lambda w, role: Req(path={"licence_no": w.licence(status=status)}, json=body),
        scoped=scoped or (BUREAU_OFFICER,),
    )


def _equipment_command(body: Any, status: str = "registered") -> Case:
    """An officer's command on a Xuhui unit (its certificate was issued by Xuhui)."""
    return Case(
        ok=lambda w, role: Req(path={"equipment_code": w.equipment(status=status)}, json=body),
        expect=200,
        out_of_scope=lambda w, role: Req(
            path={"equipment_code": w.equipment(status=status)}, json=body
        ),
        scoped=(BUREAU_OFFICER,),
    )


def _audit(stage: str, body: Callable[[str], Any], expect: int, verify: bool = False) -> Case:
    def make(w: World, role: str) -> Req:
        plan, target = w.audit_plan(stage)
        path = {"plan_id": plan, **({"licence_no": target} if verify else {})}
        return Req(path=path, json=body(target))

    return Case(ok=make, expect=expect, out_of_scope=make, scoped=(BUREAU_OFFICER,))


CASES: dict[str, Case] = {
    # --- tokens --------------------------------------------------------------------------
    "create_token": Case(
        ok=lambda w, role: Req(json={"role": CITY_ADMIN, "name": "m"}), expect=201
    ),
    "list_tokens": Case(ok=lambda w, role: Req(params={"limit": 5}), expect=200),
    "revoke_token": Case(ok=lambda w, role: Req(path={"token_id": w.new_token_id()}), expect=204),
    # --- the USCC exception list --------------------------------------------------------
    "list_uscc_exceptions": Case(ok=lambda w, role: Req(), expect=200),
    "get_uscc_exception": Case(
        ok=lambda w, role: Req(path={"uscc": w.uscc_exception()}), expect=200
    ),
    "put_uscc_exception": Case(
        ok=lambda w, role: Req(path={"uscc": new_failing_uscc()}, json={"note": "matrix"}),
        expect=201,
    ),
    "delete_uscc_exception": Case(
        ok=lambda w, role: Req(path={"uscc": w.uscc_exception()}), expect=204
    ),
    # --- delegations ---------------------------------------------------------------------
    "create_delegation": Case(
        ok=lambda w, role: Req(
            json={
                "bureau": HUANGPU,
                "kinds": ["operator_certificate"],
                "effective_from": "2014-02-01",
            }
        ),
        expect=201,
    ),
    "revoke_delegation": Case(
        ok=lambda w, role: Req(
            path={"delegation_id": w.delegation()},
            json={"effective_from": "2014-10-01", "reason": "matrix"},
        ),
        expect=200,
    ),
    "list_delegations": Case(ok=lambda w, role: Req(), expect=200),
    # --- applications --------------------------------------------------------------------
    "submit_application": Case(
        ok=lambda w, role: Req(json=production_licence(w.uscc[APPLICANT], district=XUHUI)),
        expect=201,
        out_of_scope=lambda w, role: Req(json=production_licence(new_uscc(), district=XUHUI)),
        scoped=(APPLICANT,),
    ),
    "get_application": Case(
        ok=lambda w, role: Req(path={"application_id": w.application()}),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"application_id": w.application()}),
        scoped=(BUREAU_OFFICER, APPLICANT),
    ),
    "list_applications": Case(
        ok=lambda w, role: Req(),
        expect=200,
        out_of_scope=lambda w, role: Req(
            params={"bureau": BUREAU}
            if role == BUREAU_OFFICER
            else {"applicant": w.uscc[APPLICANT]}
        ),
        scoped=(BUREAU_OFFICER, APPLICANT),
    ),
    "accept_application": _command("accept", {}),
    "not_accept_application": _command("not-accept", {"reason": "incomplete"}),
    "request_correction": _command("request-correction", {"items": ["the manual"]}),
    "supplement_application": _command(
        "supplement",
        {"materials": [{"name": "manual", "sha256": SHA}]},
        "awaiting_correction",
        scoped=(BUREAU_OFFICER, APPLICANT),
    ),
    "review_application": _command("review", {"opinion": "fine"}, "accepted"),
    "suspend_clock": _command("suspend-clock", {"reason": "x", "notice_ref": "N-2"}, "accepted"),
    "resume_clock": _command("resume-clock", {}, "suspended"),
    "extend_application": _command("extend", {"reason": "complex"}, "accepted"),
    "approve_application": _command("approve", {"opinion": "conditions met"}, "accepted"),
    "refuse_application": _command(
        "refuse", {"reason": "no", "legal_basis": "art. 38"}, "accepted"
    ),
    "withdraw_application": _command("withdraw", {}, scoped=(BUREAU_OFFICER, APPLICANT)),
    "deliver_certificate": _command("deliver-certificate", {"reference": "counter"}, "approved"),
    "stop_work": Case(
        ok=lambda w, role: Req(
            path={"application_id": w.construction_notice()}, json={"reason": "unsafe"}
        ),
        expect=200,
        out_of_scope=lambda w, role: Req(
            path={"application_id": w.construction_notice()}, json={"reason": "unsafe"}
        ),
        scoped=(BUREAU_OFFICER,),
    ),
    # --- licences and equipment ----------------------------------------------------------
    "get_licence": Case(
        ok=lambda w, role: Req(path={"licence_no": w.licence(w.uscc.get(role))}),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"licence_no": w.licence(new_uscc())}),
        scoped=(BUREAU_OFFICER, *USCC_ROLES),
    ),
    "list_licences": Case(
        ok=lambda w, role: Req(),
        expect=200,
        out_of_scope=lambda w, role: Req(
            params={"bureau": BUREAU} if role == BUREAU_OFFICER else {"holder": w.uscc[role]}
        ),
        scoped=(BUREAU_OFFICER, *USCC_ROLES),
    ),
    "suspend_licence": _licence_command({"reason": "repair"}),
    "reinstate_licence": _licence_command({"reason": "repaired"}, "suspended"),
    "revoke_licence": _licence_command({"reason": "scrapped"}),
    "request_renewal": Case(
        ok=lambda w, role: Req(path={"licence_no": w.licence(w.uscc.get(role))}, json={}),
        expect=201,
        out_of_scope=lambda w, role: Req(path={"licence_no": w.licence(new_uscc())}, json={}),
        scoped=(BUREAU_OFFICER, APPLICANT, MAINTENANCE_UNIT),
    ),
    "decide_renewal": _licence_command(
        {"outcome": "granted", "reason": "fine"}, "renewing", scoped=(BUREAU_OFFICER,)
    ),
    "get_equipment": Case(
        ok=lambda w, role: Req(path={"equipment_code": w.equipment()}),
        expect=200,
    ),
    "change_equipment": _equipment_command({"reason": "new address", "address": "7 Tianping Road"}),
    "suspend_equipment": _equipment_command({"reason": "accident under investigation"}),
    "resume_equipment": _equipment_command({"reason": "repaired"}, "suspended"),
    "cancel_equipment": _equipment_command({"reason": "scrapped"}),
    "list_equipment": Case(
        ok=lambda w, role: Req(),
        expect=200,
        out_of_scope=lambda w, role: Req(
            params={"maintenance_unit_uscc": w.uscc[MAINTENANCE_UNIT]}
        ),
        scoped=(MAINTENANCE_UNIT,),
    ),
    # --- audits --------------------------------------------------------------------------
    "register_inspector": Case(
        ok=lambda w, role: Req(
            json={
                "inspector_id": f"insp-{w.seq()}",
                "name": "Inspector",
                "organization_uscc": new_uscc(),
                "bureau": XUHUI,
            }
        ),
        expect=201,
        out_of_scope=lambda w, role: Req(
            json={
                "inspector_id": f"insp-{w.seq()}",
                "name": "Inspector",
                "organization_uscc": new_uscc(),
                "bureau": XUHUI,
            }
        ),
        scoped=(BUREAU_OFFICER,),
    ),
    "record_risk_fact": Case(
        ok=lambda w, role: Req(
            json={
                "fact_id": f"fact-{w.seq()}",
                "uscc": w.licensee(),
                "type": "accident",
                "occurred_on": "2013-05-01",
            }
        ),
        expect=201,
        out_of_scope=lambda w, role: Req(
            json={
                "fact_id": f"fact-{w.seq()}",
                "uscc": w.licensee(),
                "type": "accident",
                "occurred_on": "2013-05-01",
            }
        ),
        scoped=(BUREAU_OFFICER,),
    ),
    "list_audit_plans": Case(
        ok=lambda w, role: Req(params={"kind": "production_licence"}),
        expect=200,
        out_of_scope=lambda w, role: Req(params={"bureau": XUHUI}),
        scoped=(BUREAU_OFFICER,),
    ),
    "list_inspectors": Case(
        ok=lambda w, role: Req(),
        expect=200,
        out_of_scope=lambda w, role: Req(params={"bureau": XUHUI}),
        scoped=(BUREAU_OFFICER,),
    ),
    "draw_audit_plan": Case(
        # a licence of Xuhui's to draw, whichever cases ran before this one
        ok=lambda w, role: (
            w.licence() and Req(json={"kind": "production_licence", "size": 1, "bureau": XUHUI})
        ),
        expect=201,
        out_of_scope=lambda w, role: Req(
            json={"kind": "production_licence", "size": 1, "bureau": XUHUI}
        ),
        scoped=(BUREAU_OFFICER,),
    ),
    "get_audit_plan": Case(
        ok=lambda w, role: Req(path={"plan_id": w.audit_plan()[0]}),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"plan_id": w.audit_plan()[0]}),
        scoped=(BUREAU_OFFICER,),
    ),
    "audit_coverage": Case(
        ok=lambda w, role: Req(params={"year": 2014, "kind": "production_licence"}),
        expect=200,
        out_of_scope=lambda w, role: Req(params={"bureau": XUHUI}),
        scoped=(BUREAU_OFFICER,),
    ),
    "record_findings": _audit(
        "drawn", lambda t: {"licence_no": t, "findings": [{"item": "x", "severity": "minor"}]}, 201
    ),
    "order_rectification": _audit(
        "findings", lambda t: {"licence_no": t, "due_on": "2014-11-20", "items": ["fix"]}, 201
    ),
    "verify_rectification": _audit("ordered", lambda t: {}, 200, verify=True),
    # --- insurance -----------------------------------------------------------------------
    "put_policy": Case(
        ok=lambda w, role: Req(path={"policy_no": f"M-{w.seq()}"}, json=w.policy_body()),
        expect=201,
    ),
    "push_batch": Case(
        ok=lambda w, role: Req(
            json={"policies": [{"policy_no": f"M-{w.seq()}", **w.policy_body()}]}
        ),
        expect=200,
    ),
    "get_policy": Case(
        ok=lambda w, role: Req(
            path={"policy_no": w.policy()},
            params={} if role == INSURER else {"insurer": w.uscc[INSURER]},
        ),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"policy_no": w.policy()}),
        scoped=(INSURER,),
    ),
    "policies_ending": Case(ok=lambda w, role: Req(params={"ending_within": 30}), expect=200),
    "coverage": Case(
        # an insurer reads elevators it insures (or quotes); officials read any
        ok=lambda w, role: Req(
            path={
                "equipment_code": w.insured_equipment() if role == INSURER else new_equipment_code()
            }
        ),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"equipment_code": w.insured_equipment()}),
        scoped=(INSURER,),
    ),
    "premium_factors": Case(
        ok=lambda w, role: Req(path={"equipment_code": w.equipment(known_to="insurance")}),
        expect=200,
        out_of_scope=lambda w, role: Req(
            path={"equipment_code": w.equipment(known_to="insurance")}
        ),
        scoped=(INSURER,),
    ),
    "declare_quote": Case(
        ok=lambda w, role: Req(
            json={"equipment_codes": [new_equipment_code()], "valid_until": "2014-12-15"}
        ),
        expect=201,
    ),
    # --- credit --------------------------------------------------------------------------
    "record_maintenance": Case(
        # a record for an elevator the unit does not maintain is rejected inside a 200
        ok=lambda w, role: Req(
            json={
                "records": [
                    {
                        "record_id": f"matrix-{w.seq()}",
                        "equipment_code": new_equipment_code(),
                        "performed_on": "2014-09-28",
                        "type": "half_monthly",
                    }
                ]
            }
        ),
        expect=200,
    ),
    "record_quality_event": Case(
        ok=lambda w, role: Req(json=w.quality_event()),
        expect=201,
        out_of_scope=lambda w, role: Req(json=w.quality_event()),
        scoped=(BUREAU_OFFICER,),
    ),
    "unit_credit": Case(
        ok=lambda w, role: Req(path={"uscc": w.credit_unit()}),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"uscc": w.credit_unit()}),
        scoped=(MAINTENANCE_UNIT,),
    ),
    "unit_history": Case(
        ok=lambda w, role: Req(path={"uscc": w.credit_unit()}),
        expect=200,
        out_of_scope=lambda w, role: Req(path={"uscc": w.credit_unit()}),
        scoped=(MAINTENANCE_UNIT,),
    ),
    "file_appeal": Case(
        ok=lambda w, role: Req(
            path={"uscc": w.credit_unit()},
            json={"deduction_id": w.appealable(), "grounds": "matrix"},
        ),
        expect=201,
        out_of_scope=lambda w, role: Req(
            path={"uscc": w.credit_unit()},
            json={"deduction_id": w.appealable(), "grounds": "matrix"},
        ),
        scoped=(MAINTENANCE_UNIT,),
    ),
    "decide_appeal": Case(
        ok=lambda w, role: Req(
            path={"appeal_id": w.appeal()}, json={"outcome": "upheld", "reason": "checked"}
        ),
        expect=200,
        out_of_scope=lambda w, role: Req(
            path={"appeal_id": w.appeal()}, json={"outcome": "upheld", "reason": "checked"}
        ),
        scoped=(BUREAU_OFFICER,),
    ),
    "list_rulesets": Case(ok=lambda w, role: Req(), expect=200),
    "create_ruleset": Case(
        ok=lambda w, role: Req(json=w.ruleset(f"matrix-{w.seq()}")),
        expect=201,
    ),
    "what_if": Case(ok=lambda w, role: Req(path={"version": "demerit-2016"}, json={}), expect=200),
    "publish_evaluation": Case(
        ok=lambda w, role: Req(json={"period": str(2012 - w.seq())}), expect=201
    ),
    # On the matrix's day an evaluation just published is open for objection: the city may
    # ask, and is refused by the rule (409), not by its role.
    "finalize_evaluation": Case(
        ok=lambda w, role: Req(path={"evaluation_id": w.evaluation()}), expect=409
    ),
    # --- blacklist -----------------------------------------------------------------------
    "list_unit": Case(ok=lambda w, role: Req(json=w.listing_body()), expect=201),
    "apply_for_repair": Case(
        ok=lambda w, role: Req(
            path={"listing_id": w.listing()}, json={"rectification": "new staff trained"}
        ),
        expect=201,
        out_of_scope=lambda w, role: Req(
            path={"listing_id": w.listing()}, json={"rectification": "new staff trained"}
        ),
        scoped=(MAINTENANCE_UNIT,),
    ),
    "record_reinspection": Case(
        ok=lambda w, role: Req(
            path={"application_id": w.repair_application()},
            json={"passed": True, "findings": "rectified"},
        ),
        expect=200,
    ),
    "decide_repair": Case(
        ok=lambda w, role: Req(
            path={"application_id": w.repair_application(reinspected=True)},
            json={"outcome": "granted", "reason": "rectified"},
        ),
        expect=200,
    ),
    # --- complaints ----------------------------------------------------------------------
    "complaint_queue": Case(ok=lambda w, role: Req(), expect=200),
    # Another district's officer does not find the complaint (404, as a missing one).
    "decide_complaint": Case(
        ok=lambda w, role: Req(
            path={"id": w.complaint()}, json={"outcome": "dismissed", "reason": "checked"}
        ),
        expect=200,
        out_of_scope=lambda w, role: Req(
            path={"id": w.complaint()}, json={"outcome": "verified", "reason": "checked"}
        ),
        scoped=(BUREAU_OFFICER,),
    ),
}


def _url(route: ApiRoute, values: dict[str, str]) -> str:
    url = route.path
    for name in route.param_names:
        url = url.replace("{" + name + "}", values.get(name, "matrix-placeholder"))
    return url


def _send(gw, route: ApiRoute, req: Req, token: str | None):
    return gw.client.request(
        route.http_method,
        _url(route, req.path),
        json=req.json if route.http_method in ("POST", "PUT", "PATCH") else None,
        params=req.params,
        headers=gw.headers(token),
    )


def _cells() -> list[tuple[ApiRoute, str]]:
    cells = []
    for route in PROTECTED:
        cells += [(route, "no token"), (route, "unknown token")]
        cells += [(route, f"wrong role {role}") for role in ROLES if role not in route.roles]
        case = CASES.get(route.operation_id)
        if case is None:
            continue  # reported by test_every_protected_route_has_a_case
        cells += [(route, f"{role} in scope") for role in route.roles]
        cells += [(route, f"{role} out of scope") for role in route.roles if role in case.scoped]
    return cells


CELLS = _cells()


@pytest.fixture(scope="module")
def world(module_stacks):
    """Every registered service as a real process (a route of a new service joins the matrix
    with its service), the gateway in this process, one clock file for all (2014-09-29)."""
    return prepared_world(module_stacks(registry.names(), gateway=True, clock=CLOCK))


def prepared_world(stack) -> World:
    """The world of a stack whose clock is ``CLOCK``: every licence kind delegated to Xuhui,
    one inspector on Xuhui's list (the fuzzing builds its requests on the same world)."""
    world = World(stack.gateway)
    body = {"bureau": XUHUI, "kinds": ALL_KINDS, "effective_from": "2014-01-01"}
    world.call("POST", "/v1/delegations", body, 201)
    # Xuhui draws plans: it needs inspectors on its list.
    inspector = {
        "inspector_id": "matrix-inspector",
        "name": "Matrix Inspector",
        "organization_uscc": new_uscc(),
        "bureau": XUHUI,
    }
    world.call("POST", "/v1/audits/inspectors", inspector, 201)
    return world


def test_every_protected_route_has_a_case():
    missing = [
        f"{r.http_method} {r.path} ({r.operation_id})"
        for r in PROTECTED
        if r.operation_id not in CASES
    ]
    assert not missing, f"add these to CASES in {__name__}: {missing}"


def test_every_route_declares_its_roles_explicitly():
    for route in ROUTES:
        assert route.public or route.roles, route.path
        assert set(route.roles) <= set(ROLES), route.path


@pytest.mark.parametrize(
    ("route", "cell"), CELLS, ids=[f"{r.http_method} {r.path} [{c}]" for r, c in CELLS]
)
def test_matrix(world, route, cell):
    case = CASES.get(route.operation_id) or Case(ok=lambda w, role: Req(json={}), expect=0)
    gw = world.gw
    any_role = route.roles[0]
    if cell == "no token":
        response = _send(gw, route, case.ok(world, any_role), None)
        expected = 401
    elif cell == "unknown token":
        response = _send(gw, route, case.ok(world, any_role), "sesp_not-a-real-token")
        expected = 401
    elif cell.startswith("wrong role "):
        role = cell.removeprefix("wrong role ")
        response = _send(gw, route, case.ok(world, any_role), world.token(role))
        expected = 403
    elif cell.endswith(" in scope"):
        role = cell.removesuffix(" in scope")
        response = _send(gw, route, case.ok(world, role), world.token(role))
        expected = case.expect
    else:
        role = cell.removesuffix(" out of scope")
        response = _send(gw, route, case.out_of_scope(world, role), world.token(role, False))
        expected = route.out_of_scope
    assert response.status_code == expected, f"{cell}: {response.status_code} {response.text}"
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "route", PUBLIC_ROUTES, ids=[f"{r.http_method} {r.path}" for r in PUBLIC_ROUTES]
)
def test_public_routes_need_no_token(world, route):
    response = world.gw.client.request(route.http_method, _url(route, {}))
    assert response.status_code not in (401, 403), response.text


def test_every_role_meets_every_protected_route_once():
    """The cells, counted from the routes and roles rather than from ``_cells``: for each
    protected route, no token, an unknown token, each of the five roles once (a role the
    route allows in scope, any other as the wrong role) and each scoped role out of scope.
    A case naming a scoped role the route does not allow would drop its cell unseen."""
    by_route: dict[str, list[str]] = {}
    for route, cell in CELLS:
        by_route.setdefault(route.operation_id, []).append(cell)
    for route in PROTECTED:
        case = CASES[route.operation_id]
        assert set(case.scoped) <= set(route.roles), f"{route.operation_id}: scoped {case.scoped}"
        cells = by_route[route.operation_id]
        roles_met = [c.removeprefix("wrong role ").removesuffix(" in scope") for c in cells]
        assert sorted(r for r in roles_met if r in ROLES) == sorted(ROLES), route.operation_id
        assert len(cells) == 2 + len(ROLES) + len(case.scoped), route.operation_id
    assert len(CELLS) == sum(2 + len(ROLES) + len(CASES[r.operation_id].scoped) for r in PROTECTED)


MISSING = {
    "application_id": "app-missing",
    "licence_no": "TS0000000-2014",
    "plan_id": "plan-missing",
    "policy_no": "M-missing",
    "equipment_code": "311000000201400000",  # valid, and named by no policy or quote
    "uscc": "91350200776049653A",  # valid, and no maintenance unit of the matrix
}
SCOPED_READS = [
    (route, role)
    for route in PROTECTED
    if route.single_read and route.operation_id in CASES
    for role in CASES[route.operation_id].scoped
]


@pytest.mark.parametrize(
    ("route", "role"), SCOPED_READS, ids=[f"{r.path} [{role}]" for r, role in SCOPED_READS]
)
def test_not_yours_and_missing_answer_the_same_404(world, route, role):
    """API.md: a single object outside the scope answers 404 so as not to reveal that it
    exists; a body that differed from a missing object's would reveal it all the same."""
    case = CASES[route.operation_id]
    assert case.out_of_scope is not None
    token = world.token(role, in_scope=False)
    theirs = _send(world.gw, route, case.out_of_scope(world, role), token)
    req = case.ok(world, role)
    missing = _send(world.gw, route, Req(path={k: MISSING[k] for k in req.path}), token)
    assert (theirs.status_code, missing.status_code) == (404, 404), theirs.text + missing.text

    def body(response):
        return {k: v for k, v in response.json().items() if k != "request_id"}

    assert body(theirs) == body(missing)
    assert body(theirs)["detail"] == "No such object (or not visible to you)."


def test_scoped_reads_cover_several_kinds_of_object():
    kinds = {name for route, _ in SCOPED_READS for name in route.param_names}
    assert {"application_id", "licence_no", "plan_id", "policy_no"} <= kinds
