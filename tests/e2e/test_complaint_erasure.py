"""A complaint's contact details are personal data: never in clear in any file of the
platform (service and gateway databases, WAL and SHM files, logs); shown to the district's
officers; and after ``sesp erase <reference>`` they read ``[erased]`` while the complaint
stays."""

from __future__ import annotations

import uuid

import pytest

from infra.testing import wait_until
from services.licensing.examples import new_equipment_code, new_uscc
from tests.e2e.test_erasure_scan import files_under, forms, sesp

XUHUI = "310104"
CLOCK = "2014-09-29T09:00:00+08:00"
NAME, PHONE = "欧阳娜娜", "13912345678"


@pytest.fixture(scope="module")
def stack(module_stacks):
    """On SQLite: every byte of the platform is a file in the data directory (the tables on
    PostgreSQL are read row by row in tests/service/test_complaint_store.py)."""
    return module_stacks(["licensing", "maintenance_credit"], gateway=True, clock=CLOCK)


def queued(officer, reference: str) -> dict:
    (item,) = [c for c in officer.get("/v1/complaints").json()["items"] if c["id"] == reference]
    return item


def test_contact_details_are_encrypted_shown_to_officers_and_erased_by_reference(stack):
    lift = new_equipment_code()
    with stack.rpc() as rpc:
        rpc.licensing.register_equipment(lift, XUHUI, maintenance_unit_uscc=new_uscc())
    public = stack.client()
    body = {
        "equipment_code": lift,
        "what": "the car stopped between floors",
        "occurred_at": "2014-09-29T08:00:00+08:00",
        "contact": f"{NAME} {PHONE}",
    }
    sent: dict = {}

    def submitted() -> bool:
        # A key per attempt: a key's first answer (a 404 while the credit service has not
        # heard of the elevator) is what it replays.
        key = {"Idempotency-Key": uuid.uuid4().hex}
        sent["r"] = public.post("/v1/public/complaints", body, **key)
        return sent["r"].status_code == 201

    wait_until(submitted, timeout=20, what="the credit service to learn of the elevator")
    reference = sent["r"].json()["reference"]
    assert NAME not in sent["r"].text and PHONE not in sent["r"].text
    officer = stack.client(stack.token("bureau_officer", bureau=XUHUI))
    (item,) = [
        c for c in officer.get("/v1/complaints").json()["items"] if c["reference"] == reference
    ]
    assert item["contact"] == f"{NAME} {PHONE}"

    erased = sesp(stack, "erase", "--service", "maintenance_credit", reference)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert "maintenance_credit: erased person-" in erased.stdout
    (item,) = [
        c for c in officer.get("/v1/complaints").json()["items"] if c["reference"] == reference
    ]
    assert (item["contact"], item["status"]) == ("[erased]", "received")
    followed = public.get(f"/v1/public/complaints/{reference}")
    assert followed.json() == {"reference": reference, "status": "received"}

    stack.wait_ready()
    wanted = {"name": forms(NAME), "phone": forms(PHONE)}
    places = {path.name: path.read_bytes() for path in files_under(stack.data_dir)}
    assert "maintenance_credit.db" in places
    found = []
    for place, content in places.items():
        for what, variants in wanted.items():
            for v in variants:
                at = content.find(v)
                if at >= 0:
                    found.append(f"{what} in {place}: {content[at - 60 : at + 60]!r}")
    assert not found, found
