"""Every route of the OpenAPI description refuses a missing or bad token (401) and every
role it does not declare (403); the roles it declares get past the role check."""

import re

import pytest
from litestar import get

from api import routes
from api.access import ROLES, check_declared
from api.app import create_app
from ledger.values import Access
from tests.builders import COMMUNITY, assert_problem, member, token, tree
from tests.conftest import http_client, settings

SAMPLE_PATH_VALUES = {
    "transaction_id": "1",
    "activity_id": "1",
    "claim_id": "1",
    "redemption_id": "1",
    "notice_id": "1",
}
"""Integer ids for paths; every other path parameter gets a plain string."""

METHODS = {"get", "post", "put", "patch", "delete"}


def _openapi_path(litestar_path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", litestar_path)


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PATH_VALUES.get(m.group(1), "x"), path)


def _declared(app) -> dict[tuple[str, str], frozenset[Access]]:
    return {
        (method, _openapi_path(route.path)): handler.opt[ROLES]
        for route in app.routes
        if route.path.startswith(routes.API_PREFIX)
        for handler in route.route_handlers
        for method in handler.http_methods
        if method != "OPTIONS"
    }


async def _send(http, method: str, path: str, headers: dict[str, str]):
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return await http.request(method, _concrete(path), json=body, headers={"Idempotency-Key": "walk", **headers})


async def test_every_route_checks_the_token_and_the_role(ledger):
    await tree(ledger)
    mid = await member(ledger)
    tokens = {
        Access.ADMIN: (await token(ledger, "admin"))[1],
        Access.ORGANIZER: (await token(ledger, "organizer", org_unit=COMMUNITY))[1],
        Access.MEMBER: (await token(ledger, "member", member_id=mid))[1],
        Access.AUDITOR: (await token(ledger, "auditor"))[1],
    }
    app = create_app(settings(ledger), ledger)
    declared = _declared(app)
    async with http_client(app, headers={}) as http:
        schema = (await http.get(f"{routes.OPENAPI}/openapi.json")).json()
        operations = {
            (method.upper(), path) for path, item in schema["paths"].items() for method in item if method in METHODS
        }
        assert operations == set(declared), "every operation in the OpenAPI description is one declared handler"
        assert len(operations) > 40

        for (method, path), roles in sorted(declared.items()):
            where = f"{method} {path}"
            missing = await _send(http, method, path, {})
            assert_problem(missing, 401, "unauthenticated")
            assert missing.headers["www-authenticate"].startswith("Bearer"), where
            for bad in ("Bearer glp_0000000000000000.forged", "Bearer not-a-token", "Basic YWRtaW46YWRtaW4="):
                assert_problem(await _send(http, method, path, {"Authorization": bad}), 401, "unauthenticated")

            for role, header in tokens.items():
                response = await _send(http, method, path, header)
                refused_for_role = response.status_code == 403 and "allowed_roles" in response.json()
                if role in roles:
                    assert not refused_for_role, f"{role} is declared for {where} but refused: {response.text}"
                    assert response.status_code != 401, where
                else:
                    body = assert_problem(response, 403, "forbidden")
                    assert body["allowed_roles"] == sorted(r.value for r in roles), where
                    assert body["role"] == role.value


def test_a_handler_that_declares_no_roles_stops_the_app_from_starting():
    @get("/v1/undeclared")
    async def undeclared() -> None:
        return None

    with pytest.raises(AssertionError, match="undeclared"):
        check_declared([undeclared])
