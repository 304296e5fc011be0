"""Erasure that erases: after ``sesp erase <ID number>`` no file of a running platform (every
service's database and the gateway's, WAL and SHM files included) holds the person's name or
ID number in any form we can think of, no database holds a token's secret, and every data file
is readable by its owner only.

On SQLite the whole platform is in one data directory, so "every file" is a directory walk; on
PostgreSQL every row of every table of every service database is read too.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from infra import registry
from services.licensing.examples import new_resident_id, operator_certificate

NAME = "欧阳娜娜"  # a name that is not ASCII: UTF-8, UTF-16 and GBK differ


def forms(text: str) -> set[bytes]:
    """``text`` as it could sit in a file: UTF-8, UTF-16 (both byte orders), GBK, and base64
    of each (at the three alignments a base64 run can start at)."""
    raw = {text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")}
    try:
        raw.add(text.encode("gbk"))
    except UnicodeEncodeError:
        pass
    out = set(raw)
    for value in raw:
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + value)
            # Leave out the characters that depend on the neighbours of the value.
            out.add(encoded[(shift * 4 + 2) // 3 + 1 : -4])
    out.add(text.upper().encode())
    out.add(json.dumps(text).strip('"').encode())  # JSON's \\u escapes
    return {f for f in out if len(f) >= 6}


def files_under(root) -> list:
    return [p for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, module_stacks):
    """Every registered service and the gateway: on SQLite files in the data directory, or
    the services on PostgreSQL databases (the gateway's SQLite file stays there)."""
    return module_stacks(None, gateway=True, db=request.param)


def tables_of(url: str) -> dict[str, bytes]:
    """Every row of every table of a PostgreSQL database, as bytes per table (bytea as it is,
    everything else as text)."""
    engine = sa.create_engine(url)
    try:
        tables = sa.inspect(engine).get_table_names()
        out = {}
        with engine.connect() as conn:
            for table in tables:
                values = []
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        if isinstance(value, memoryview | bytes):
                            values.append(bytes(value))
                        elif isinstance(value, dict | list):
                            values.append(json.dumps(value, ensure_ascii=False).encode())
                        else:
                            values.append(str(value).encode())
                out[table] = b"\n".join(values)
        return out
    finally:
        engine.dispose()


def sesp(stack, *args):
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_after_erase_no_file_of_the_platform_holds_the_person_or_a_token(stack):
    admin = stack.client(stack.token("city_admin"))
    delegated = admin.post(
        "/v1/delegations",
        {"bureau": "FTZ", "kinds": ["operator_certificate"], "effective_from": "2014-09-01"},
    )
    assert delegated.status_code == 201, delegated.text
    officer = stack.client(stack.token("bureau_officer", bureau="FTZ"))
    id_number = new_resident_id("19880808")
    body = operator_certificate(id_number, NAME, "1988-08-08")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    submitted = officer.post("/v1/applications", body, **key)
    assert submitted.status_code == 201, submitted.text
    assert NAME in submitted.text  # the response (stored for a replay) names the person
    replayed = officer.post("/v1/applications", body, **key)
    assert replayed.status_code == 201 and replayed.json() == submitted.json()
    base = f"/v1/applications/{submitted.json()['id']}"
    assert officer.post(f"{base}/accept").status_code == 200
    approved = officer.post(f"{base}/approve", {"opinion": "exam passed"})
    assert approved.status_code == 200, approved.text
    licence_no = approved.json()["licence_no"]
    # A token made over the API, with a key: its secret must be in no database.
    made = admin.post(
        "/v1/admin/tokens", {"role": "city_admin", "name": "desk"}, **{"Idempotency-Key": "t1"}
    )
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    again = admin.post(
        "/v1/admin/tokens", {"role": "city_admin", "name": "desk"}, **{"Idempotency-Key": "t1"}
    )
    assert again.status_code == 409 and again.json()["applied"]["id"] == made.json()["id"]
    assert secret not in again.text

    erased = sesp(stack, "erase", id_number)
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert "licensing: erased person-" in erased.stdout
    assert "gateway: erased the stored responses of 1 request" in erased.stdout
    for name in [s for s in registry.names() if s != "licensing"]:
        assert f"{name}: holds no personal data of this person" in erased.stdout
    assert id_number not in erased.stdout + erased.stderr

    # The record stays, the person does not: the certificate reads erased, the replay is 410.
    licence = admin.get(f"/v1/licences/{licence_no}").json()
    assert licence["holder"]["id_number"] == "[erased]" and licence["status"] == "active"
    gone = officer.post("/v1/applications", body, **key)
    assert gone.status_code == 410 and gone.json()["type"].endswith("response-erased")
    assert NAME not in gone.text and id_number not in gone.text

    # Let the services settle (each answers once more), then read every file there is.
    stack.wait_ready()
    wanted = {"name": forms(NAME), "ID number": forms(id_number), "token": forms(secret)}
    found = []
    files = files_under(stack.data_dir)
    assert any(p.name == "gateway.db-wal" for p in files)
    places = {path.name: path.read_bytes() for path in files}
    if stack.db == "postgresql":
        for service, url in stack.db_urls.items():
            for table, content in tables_of(url).items():
                places[f"{service}.{table}"] = content
        assert "licensing.subject_keys" in places
    for place, content in places.items():
        for what, variants in wanted.items():
            for v in variants:
                at = content.find(v)
                if at >= 0:
                    found.append(f"{what} in {place}: {content[at - 60 : at + 60]!r}")
    for path in files:
        if path.suffix in (".db", ".db-wal", ".db-shm") or path.name.endswith(
            (
                "-wal",
                "-shm",
            )
        ):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o600, f"{path.name} has mode {mode:o}"
    assert not found, found
