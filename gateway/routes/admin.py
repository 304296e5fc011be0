"""Administration: API tokens (city_admin)."""

from __future__ import annotations

from datetime import datetime

from gateway.auth import CITY_ADMIN
from gateway.call import Call
from gateway.routes.base import RouteBase
from gateway.routing import route
from gateway.schemas import TokenCreate, TokenCreated, TokenPage
from infra.errors import Invalid, NotFound
from infra.paging import PageQuery, decode_cursor, page_of

TAG = "Tokens"


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
