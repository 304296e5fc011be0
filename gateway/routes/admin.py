"""Administration (city_admin): API tokens and the USCC exception list."""

from __future__ import annotations

from datetime import datetime

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import route
from gateway.schemas import (
    TokenCreate,
    TokenCreated,
    TokenPage,
    UsccException,
    UsccExceptionIn,
    UsccExceptionPage,
)
from gateway.uscc_exceptions import listable_error
from infra.errors import Invalid, NotFound
from infra.paging import PageQuery, decode_cursor, page_of

TAG = "Tokens"
EXCEPTIONS_TAG = "USCC exceptions"
USCC_PARAM = {
    "description": "the credit code as issued (18 letters and digits; upper-cased)",
    "type": "string",
}


def _token_position(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    position = decode_cursor(cursor, 2)
    try:
        created, token_id = position
        return datetime.fromisoformat(created), str(token_id)
    except (TypeError, ValueError):
        raise Invalid("invalid cursor", {"cursor": ["not a cursor from this API"]}) from None


class AdminRoutes(RouteBase):
    @route(
        "POST",
        "/v1/admin/tokens",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Create an API token (the secret is shown once)",
        body=TokenCreate,
        responses={201: TokenCreated},
        calls_services=False,
        shown_once=["token"],
    )
    def create_token(self, call: Call):
        token, record = self.gateway.tokens.create(
            role=call.body["role"],
            name=call.body["name"],
            bureau=call.body.get("bureau"),
            uscc=call.body.get("uscc"),
            created_by=call.caller.id,
        )
        keep = ("id", "role", "name", "bureau", "uscc")
        return 201, {"token": token, **{k: record[k] for k in keep}}

    @route(
        "GET",
        "/v1/admin/tokens",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="List API tokens (never their secrets)",
        query=PageQuery,
        responses={200: TokenPage},
        calls_services=False,
    )
    def list_tokens(self, call: Call):
        limit = call.query["limit"]
        after = _token_position(call.query.get("cursor"))
        items = self.gateway.tokens.list(limit + 1, after)
        return page_of(items, limit, lambda t: [t["created_at"].replace("+00:00", ""), t["id"]])

    @route(
        "DELETE",
        "/v1/admin/tokens/{token_id}",
        roles=[CITY_ADMIN],
        tag=TAG,
        summary="Revoke an API token at once",
        responses={204: None},
        calls_services=False,
    )
    def revoke_token(self, call: Call):
        if not self.gateway.tokens.revoke(call.path["token_id"]):
            raise NotFound("no such token")
        return None


def _listable(call: Call) -> str:
    code = call.path["uscc"].strip().upper()
    problem = listable_error(code)
    if problem:
        raise Invalid("not a code to list", {"uscc": [problem]})
    return code


class UsccExceptionRoutes(RouteBase):
    @route(
        "GET",
        "/v1/admin/uscc-exceptions",
        roles=[CITY_ADMIN],
        tag=EXCEPTIONS_TAG,
        summary="The USCC exception list: codes accepted although they fail the check",
        description="Every input that takes a credit code (tokens, applications, policies...) "
        "accepts a listed code as it is, from the next request on.",
        query=PageQuery,
        responses={200: UsccExceptionPage},
        calls_services=False,
    )
    def list_uscc_exceptions(self, call: Call):
        limit = call.query["limit"]
        cursor = call.query.get("cursor")
        after = str(decode_cursor(cursor, 1)[0]) if cursor else None
        items = self.gateway.uscc_exceptions.page(limit + 1, after)
        return page_of(items, limit, lambda item: [item["uscc"]])

    @route(
        "GET",
        "/v1/admin/uscc-exceptions/{uscc}",
        roles=[CITY_ADMIN],
        tag=EXCEPTIONS_TAG,
        summary="One listed code",
        responses={200: UsccException},
        path_params={"uscc": USCC_PARAM},
        calls_services=False,
    )
    def get_uscc_exception(self, call: Call):
        record = self.gateway.uscc_exceptions.get(call.path["uscc"].strip().upper())
        if record is None:
            raise NotFound("not on the list")
        return record

    @route(
        "PUT",
        "/v1/admin/uscc-exceptions/{uscc}",
        roles=[CITY_ADMIN],
        tag=EXCEPTIONS_TAG,
        summary="Accept a code that fails the check (or change its note)",
        description="201 when listed now, 200 when it was listed already (the note is "
        "replaced). A code that passes the check needs no exception: 422.",
        body=UsccExceptionIn,
        responses={201: UsccException, 200: UsccException},
        path_params={"uscc": USCC_PARAM},
        calls_services=False,
    )
    def put_uscc_exception(self, call: Call):
        code = _listable(call)
        record, created = self.gateway.uscc_exceptions.put(code, call.body["note"], call.caller.id)
        return (201 if created else 200), record

    @route(
        "DELETE",
        "/v1/admin/uscc-exceptions/{uscc}",
        roles=[CITY_ADMIN],
        tag=EXCEPTIONS_TAG,
        summary="Take a code off the list: refused again from the next request on",
        description="What was accepted while it was listed stays as it is.",
        responses={204: None},
        path_params={"uscc": USCC_PARAM},
        calls_services=False,
    )
    def delete_uscc_exception(self, call: Call):
        if not self.gateway.uscc_exceptions.remove(call.path["uscc"].strip().upper()):
            raise NotFound("not on the list")
        return None
