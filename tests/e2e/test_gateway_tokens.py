"""API tokens: created over HTTP or with `sesp token create`, stored hashed, revoked at once;
the SESP_ADMIN_TOKEN bootstrap; the scope rules every route relies on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.auth import (
    APPLICANT,
    BUREAU_OFFICER,
    CITY_ADMIN,
    INSURER,
    MAINTENANCE_UNIT,
    Principal,
    hash_token,
)
from gateway.cli import token as token_cli
from infra.testing import env

BOOTSTRAP = "bootstrap-secret-for-tests-0123456789"
USCC = "91350200776049653A"
OTHER_USCC = "913502000728319549"


@pytest.fixture(scope="module")
def gw(gateways, tmp_path_factory):
    db = tmp_path_factory.mktemp("tokens") / "gateway.db"
    return gateways(db_url=f"sqlite:///{db}", SESP_ADMIN_TOKEN=BOOTSTRAP)


@pytest.fixture
def admin(gw):
    return gw.headers(gw.token(CITY_ADMIN))


def test_the_bootstrap_admin_token_works_without_being_stored(gw):
    response = gw.client.get("/v1/admin/tokens", headers=gw.headers(BOOTSTRAP))
    assert response.status_code == 200
    assert gw.client.get("/v1/admin/tokens", headers=gw.headers(BOOTSTRAP + "x")).status_code == 401


def test_a_token_created_over_http_works_until_it_is_revoked(gw, admin):
    created = gw.client.post(
        "/v1/admin/tokens", json={"role": CITY_ADMIN, "name": "ops desk"}, headers=admin
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"token", "id"} and body["role"] == CITY_ADMIN
    mine = gw.headers(body["token"])
    assert gw.client.get("/v1/admin/tokens", headers=mine).status_code == 200

    assert gw.client.delete(f"/v1/admin/tokens/{body['id']}", headers=admin).status_code == 204
    response = gw.client.get("/v1/admin/tokens", headers=mine)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    listed = {t["id"]: t for t in _all_tokens(gw, admin)}
    assert listed[body["id"]]["revoked_at"] is not None


def test_revoking_an_unknown_token_is_404(gw, admin):
    response = gw.client.delete("/v1/admin/tokens/tok_nope", headers=admin)
    assert response.status_code == 404


def test_tokens_are_stored_hashed(gw, admin):
    secret = gw.client.post(
        "/v1/admin/tokens", json={"role": INSURER, "uscc": USCC, "name": "insurer"}, headers=admin
    ).json()["token"]
    with gw.core.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_tokens")).all()
    dump = repr(rows)
    assert secret not in dump
    assert hash_token(secret) in dump


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "superuser", "name": "x"}, "role"),
        ({"role": BUREAU_OFFICER, "name": "x"}, "bureau"),
        ({"role": BUREAU_OFFICER, "name": "x", "bureau": "310999"}, "bureau"),
        ({"role": APPLICANT, "name": "x"}, "uscc"),
        ({"role": APPLICANT, "name": "x", "uscc": "91350200776049653B"}, "uscc"),
        ({"role": CITY_ADMIN, "name": "x", "uscc": USCC}, "uscc"),
        ({"role": MAINTENANCE_UNIT, "name": "x", "uscc": USCC, "bureau": "FTZ"}, "bureau"),
        ({"role": CITY_ADMIN}, "name"),
        ({"role": CITY_ADMIN, "name": "x", "admin": True}, "admin"),
    ],
)
def test_a_token_needs_exactly_the_scope_its_role_has(gw, admin, body, field):
    response = gw.client.post("/v1/admin/tokens", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]


def test_token_list_is_paginated_with_an_opaque_cursor(gw, admin):
    for _ in range(5):
        gw.token(BUREAU_OFFICER, bureau="310115")
    first = gw.client.get("/v1/admin/tokens?limit=2", headers=admin).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = gw.client.get(
        "/v1/admin/tokens", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert {t["id"] for t in first["items"]}.isdisjoint(t["id"] for t in second["items"])
    assert all("token" not in t and "token_hash" not in t for t in first["items"])
    for bad in ["limit=0", "limit=501", "cursor=%%%"]:
        assert gw.client.get(f"/v1/admin/tokens?{bad}", headers=admin).status_code == 422


def test_sesp_token_create_prints_a_working_token_as_its_last_line(gw):
    runner = CliRunner()
    with env(SESP_GATEWAY_DATABASE_URL=gw.config["SESP_GATEWAY_DATABASE_URL"]):
        result = runner.invoke(
            token_cli, ["create", "--role", "city_admin", "--name", "night shift"]
        )
        assert result.exit_code == 0, result.output
        secret = result.stdout.strip().splitlines()[-1]
        assert gw.client.get("/v1/admin/tokens", headers=gw.headers(secret)).status_code == 200

        token_id = result.stdout.split()[1]
        revoked = runner.invoke(token_cli, ["revoke", token_id])
        assert revoked.exit_code == 0, revoked.output
        assert gw.client.get("/v1/admin/tokens", headers=gw.headers(secret)).status_code == 401

        refused = runner.invoke(token_cli, ["create", "--role", "applicant", "--name", "no uscc"])
        assert refused.exit_code == 2


def test_sesp_token_create_takes_the_scope_options(gw):
    runner = CliRunner()
    with env(SESP_GATEWAY_DATABASE_URL=gw.config["SESP_GATEWAY_DATABASE_URL"]):
        result = runner.invoke(
            token_cli,
            ["create", "--role", "bureau_officer", "--bureau", "FTZ", "--name", "FTZ desk"],
        )
        assert result.exit_code == 0, result.output
        secret = result.stdout.strip().splitlines()[-1]
    principal = gw.core.tokens.authenticate(secret)
    assert principal.role == BUREAU_OFFICER and principal.bureau == "FTZ"


def test_malformed_authorization_headers_are_401(gw):
    for value in ["", "Bearer", "Bearer  x y", "Basic abc", "bearer nope", "Token x"]:
        response = gw.client.get("/v1/admin/tokens", headers={"Authorization": value})
        assert response.status_code == 401, value


def test_scope_rules():
    admin = Principal("a", CITY_ADMIN)
    city_officer = Principal("b", BUREAU_OFFICER, bureau="SH")
    pudong = Principal("c", BUREAU_OFFICER, bureau="310115")
    unit = Principal("d", MAINTENANCE_UNIT, uscc=USCC)
    assert admin.covers(bureau="FTZ") and admin.covers(uscc=OTHER_USCC)
    assert city_officer.covers(bureau="310115") and city_officer.covers(bureau="FTZ")
    assert pudong.covers(bureau="310115")
    assert not pudong.covers(bureau="FTZ") and not pudong.covers(uscc=USCC)
    assert unit.covers(uscc=USCC) and unit.covers(uscc=[OTHER_USCC, USCC])
    assert not unit.covers(uscc=OTHER_USCC) and not unit.covers(bureau="310115")


def _all_tokens(gw, headers) -> list[dict]:
    out, cursor = [], None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = gw.client.get("/v1/admin/tokens", params=params, headers=headers).json()
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out
