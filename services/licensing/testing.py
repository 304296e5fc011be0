"""Test support: the licensing service as a real process plus a real gateway, over HTTP.

``licensing_stack(broker, tmp_dir, db_url=None, start="2014-09-29T09:00:00+08:00")`` is a
context manager that starts the licensing service on a fresh vhost (its database: ``db_url``,
or SQLite in ``tmp_dir``) and a gateway in this process, with one injectable clock file for
both (``stack.set_clock(...)`` moves time). Test modules start one per module and isolate
their tests by unique ids (credit codes, equipment codes).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nameko.standalone.rpc import ClusterRpcProxy

from infra.identifiers import resident_id_check_character, uscc_check_character

SHA = "ab" * 32
_counter = itertools.count(1)


def new_uscc(rng: random.Random | None = None) -> str:
    """A fresh valid unified social credit code."""
    rng = rng or random.Random()
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91" + "310115" + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc_check_character(body)


def new_resident_id(born: str = "19800101", rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    first17 = "310115" + born + f"{rng.randrange(1000):03d}"
    return first17 + resident_id_check_character(first17)


def new_equipment_code(year: int = 2014, variety: str = "3110") -> str:
    """A fresh 18-digit code: variety, maker, year, sequence."""
    n = next(_counter)
    return f"{variety}{random.randrange(100000):05d}{year}{(os.getpid() * 1000 + n) % 100000:05d}"


@dataclass
class Stack:
    gateway: Any
    amqp_uri: str
    clock: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return self.gateway.url

    def set_clock(self, iso: str) -> None:
        self.clock.write_text(iso)

    def token(self, role: str, **scope: str) -> str:
        return self.gateway.token(role, **scope)

    def client(self, token: str | None = None) -> Api:
        return Api(self.gateway.url, token)

    def rpc(self):
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri, "serializer": "json"}, timeout=60)


class Api:
    """A tiny HTTP client with a bearer token."""

    def __init__(self, base_url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, **headers: str) -> httpx.Response:
        # An empty JSON object, not an empty body: eventlet's WSGI server reports a missing
        # Content-Type as text/plain, which the gateway refuses (415) where a body is declared.
        return self.http.post(path, json={} if body is None else body, headers=headers)


@contextlib.contextmanager
def licensing_stack(
    broker, tmp_dir: Path, db_url: str | None = None, start: str = "2014-09-29T09:00:00+08:00"
) -> Iterator[Stack]:
    from gateway.testing import RunningGateway
    from tests.e2e.helpers import running

    vhost = broker.create_vhost()
    uri = broker.uri_for(vhost)
    clock = tmp_dir / "clock"
    clock.write_text(start)
    env = {"SESP_AMQP_URI": uri, "SESP_DATA_DIR": str(tmp_dir), "SESP_CLOCK_FILE": str(clock)}
    if db_url:
        env["SESP_LICENSING_DATABASE_URL"] = db_url
    # The gateway validates identifiers against the same clock.
    previous = os.environ.get("SESP_CLOCK_FILE")
    os.environ["SESP_CLOCK_FILE"] = str(clock)
    try:
        with running({"licensing": env}, tmp_dir, uri):
            gateway = RunningGateway(uri, f"sqlite:///{tmp_dir / 'gateway.db'}").start()
            try:
                yield Stack(gateway, uri, clock, tmp_dir)
            finally:
                gateway.stop()
    finally:
        if previous is None:
            os.environ.pop("SESP_CLOCK_FILE", None)
        else:
            os.environ["SESP_CLOCK_FILE"] = previous
        broker.delete_vhost(vhost)


# --- request bodies ---------------------------------------------------------------------------


def use_registration(
    uscc: str,
    code: str,
    *,
    in_ftz: bool = True,
    district: str = "310115",
    reason: str = "first_use",
    speed: float = 1.75,
    maintenance_unit: str | None = None,
) -> dict:
    subject: dict[str, Any] = {
        "equipment_code": code,
        "reason": reason,
        "equipment": {
            "variety": code[:4],
            "product_name": "traction elevator",
            "model": "GeN2",
            "maker": "Otis",
            "manufactured_on": "2014-03-01",
            "rated_speed_mps": speed,
            "rated_load_kg": 1000,
        },
    }
    if maintenance_unit:
        subject["maintenance_unit_uscc"] = maintenance_unit
    return {
        "kind": "use_registration",
        "applicant": {"uscc": uscc, "name": f"User {uscc[-4:]} Co."},
        "location": {"district": district, "in_ftz": in_ftz, "address": "88 Jilong Road"},
        "subject": subject,
        "materials": [{"name": "registration form", "sha256": SHA}],
    }


def production_licence(
    uscc: str,
    *,
    scope=("elevator:installation",),
    level: str | None = "B",
    in_ftz: bool = False,
    district: str = "310115",
    kind: str = "production_licence",
    name: str | None = None,
) -> dict:
    subject: dict[str, Any] = {"scope": list(scope)}
    if level:
        subject["level"] = level
    return {
        "kind": kind,
        "applicant": {"uscc": uscc, "name": name or f"Lift Works {uscc[-4:]}"},
        "location": {"district": district, "in_ftz": in_ftz, "address": "1 Century Avenue"},
        "subject": subject,
        "materials": [{"name": "quality manual", "sha256": SHA}],
    }


def operator_certificate(
    id_number: str,
    name: str,
    born_on: str,
    *,
    employer: str | None = None,
    items=("T",),
    in_ftz: bool = True,
) -> dict:
    applicant = (
        {"uscc": employer, "name": "Employer Co."}
        if employer
        else {"id_number": id_number, "name": name}
    )
    return {
        "kind": "operator_certificate",
        "applicant": applicant,
        "location": {"district": "310115", "in_ftz": in_ftz, "address": "2 Yanggao Road"},
        "subject": {
            "person": {"id_number": id_number, "name": name, "born_on": born_on},
            "items": list(items),
            "exam_passed_on": "2014-09-01",
        },
        "materials": [{"name": "exam certificate", "sha256": SHA}],
    }
