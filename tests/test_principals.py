"""Tokens: created with a role and a scope, shown once, stored as a keyed hash, expiring
and revocable; every write is audited with its principal; writes are rate-limited per token."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import cli, routes
from api.app import create_app
from ledger import Ledger
from tests.builders import (
    ADMIN,
    COMMUNITY,
    MICRO,
    TOKEN_SECRET,
    assert_problem,
    award,
    award_body,
    member,
    post,
    token,
    tree,
)
from tests.conftest import http_client, settings

pytestmark = pytest.mark.clocked


def _as(ledger: Ledger, headers: dict[str, str], **overrides):
    return http_client(create_app(settings(ledger, **overrides), ledger), headers=headers)


async def test_a_token_is_shown_once_and_stored_only_as_a_keyed_hash(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    created = await client.post(
        routes.api(routes.TOKENS), json={"role": "organizer", "label": "塔湾 张敏", "org_unit": COMMUNITY}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    principal = body["principal"]
    assert secret.startswith(f"glp_{principal['id']}.")
    assert (principal["role"], principal["org_unit"], principal["created_by"]) == ("organizer", COMMUNITY, "admin")

    async with ledger.db.read() as conn:
        stored = (await conn.execute(text("SELECT * FROM principal WHERE id = :id"), {"id": principal["id"]})).one()
    assert secret not in json.dumps([str(v) for v in stored])
    expected = hmac.new(TOKEN_SECRET.encode(), secret.split(".", 1)[1].encode(), hashlib.sha256).hexdigest()
    assert stored.token_hash == expected

    listed = (await client.get(routes.api(routes.TOKENS))).text
    assert secret not in listed and stored.token_hash not in listed
    assert principal["id"] in listed

    async with _as(ledger, {"Authorization": f"Bearer {secret}"}) as organizer:
        assert (await award(organizer, mid, 3))["available_points"] == 3
        forged = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    async with _as(ledger, {"Authorization": f"Bearer {forged}"}) as impostor:
        problem = assert_problem(await impostor.get(routes.api(routes.MEMBER, member_id=mid)), 401, "unauthenticated")
        assert problem["detail"] == "the bearer token is not valid"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"role": "organizer", "label": "x"}, 422, "invalid_input", "org_unit"),
        ({"role": "member", "label": "x"}, 422, "invalid_input", "member_id"),
        ({"role": "member", "label": "x", "member_id": "m-nobody"}, 404, "member_not_found", "member_id"),
        ({"role": "admin", "label": "x", "org_unit": COMMUNITY}, 422, "invalid_input", "org_unit"),
        ({"role": "auditor", "label": "x", "member_id": "m-张三"}, 422, "invalid_input", "member_id"),
        ({"role": "organizer", "label": "x", "org_unit": "c-nowhere"}, 404, "org_unit_not_found", "org_unit"),
        ({"role": "root", "label": "x"}, 422, "invalid_input", "role"),
        ({"role": "admin", "label": "x", "expires_at": "2020-01-01T00:00:00Z"}, 422, "invalid_input", "expires_at"),
    ],
)
async def test_a_token_names_exactly_what_its_role_needs(client, ledger, body, status, code, field):
    await tree(ledger)
    await member(ledger)
    before = (await client.get(routes.api(routes.TOKENS))).json()["principals"]
    assert_problem(await client.post(routes.api(routes.TOKENS), json=body), status, code, field)
    assert before == (await client.get(routes.api(routes.TOKENS))).json()["principals"]


async def test_revoked_and_expired_tokens_stop_working(ledger, clock):
    await tree(ledger)
    mid = await member(ledger)
    revoked_id, revoked = await token(ledger, "organizer", org_unit=COMMUNITY)
    _, expiring = await token(ledger, "organizer", org_unit=COMMUNITY, expires_at=clock() + timedelta(hours=1))
    app = create_app(settings(ledger), ledger)
    async with http_client(app, headers=revoked) as holder, http_client(app, headers=expiring) as other:
        async with http_client(app) as admin:
            # Both tokens are now in the serving process's cache ...
            assert (await holder.get(routes.api(routes.MEMBER, member_id=mid))).status_code == 200
            assert (await other.get(routes.api(routes.MEMBER, member_id=mid))).status_code == 200
            first = (await admin.post(routes.api(routes.TOKEN_REVOKE, principal_id=revoked_id))).json()["revoked_at"]
            again = (await admin.post(routes.api(routes.TOKEN_REVOKE, principal_id=revoked_id))).json()["revoked_at"]
            assert first is not None and again == first, "revoking twice keeps the first time"
        # ... and the revocation and the expiry are seen at once all the same.
        assert (
            "revoked"
            in assert_problem(await holder.get(routes.api(routes.MEMBER, member_id=mid)), 401, "unauthenticated")[
                "detail"
            ]
        )
        clock.advance(hours=2)
        assert (
            "expired"
            in assert_problem(await other.get(routes.api(routes.MEMBER, member_id=mid)), 401, "unauthenticated")[
                "detail"
            ]
        )


async def test_an_organizer_prints_member_tokens_for_their_subtree_only(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    _, organizer = await token(ledger, "organizer", org_unit=COMMUNITY)
    async with _as(ledger, organizer) as desk:
        made = await desk.post(
            routes.api(routes.TOKENS), json={"role": "member", "label": "张三 (QR)", "member_id": mid}
        )
        assert made.status_code == 201, made.text
        assert_problem(
            await desk.post(routes.api(routes.TOKENS), json={"role": "organizer", "label": "x", "org_unit": COMMUNITY}),
            403,
            "forbidden",
            "role",
        )
    async with _as(ledger, {"Authorization": f"Bearer {made.json()['token']}"}) as resident:
        assert (await resident.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()["available_points"] == 0


async def test_every_write_is_audited_with_its_principal_and_outcome(client, ledger, clock):
    await tree(ledger)
    mid = await member(ledger)
    organizer_id, organizer = await token(ledger, "organizer", org_unit=COMMUNITY)
    _, auditor = await token(ledger, "auditor")
    start = clock().isoformat()
    async with _as(ledger, organizer) as desk:
        await post(desk, routes.api(routes.AWARDS), award_body(mid, 4), Idempotency_Key="audit-1")
        await desk.post(routes.api(routes.MEMBERS), json={"id": "m-李四", "name": "李四", "org_unit": MICRO})
        await desk.post(routes.api(routes.ADMIN_SWEEP))  # refused: an organizer may not sweep
        await desk.get(routes.api(routes.MEMBER, member_id=mid))  # a read is not audited
    await award(client, mid, 1)

    async with _as(ledger, auditor) as reader:
        page = (await reader.get(routes.api(routes.AUDIT), params={"principal": organizer_id, "since": start})).json()
        rows = [(e["method"], e["path"], e["status"], e["idempotency_key"], e["role"]) for e in page["entries"]]
        assert rows == [
            ("POST", routes.api(routes.AWARDS), 201, "audit-1", "organizer"),
            ("POST", routes.api(routes.MEMBERS), 201, None, "organizer"),
            ("POST", routes.api(routes.ADMIN_SWEEP), 403, None, "organizer"),
        ]
        everyone = (await reader.get(routes.api(routes.AUDIT))).json()["entries"]
        assert [e["principal"] for e in everyone] == [organizer_id] * 3 + ["admin"]
        later = (
            await reader.get(routes.api(routes.AUDIT), params={"since": (clock() + timedelta(seconds=1)).isoformat()})
        ).json()
        assert later["entries"] == []
        assert_problem(
            await reader.get(routes.api(routes.AUDIT), params={"since": "2026-01-01T00:00:00"}),
            422,
            "invalid_input",
            "since",
        )
    async with _as(ledger, organizer) as desk:
        assert_problem(await desk.get(routes.api(routes.AUDIT)), 403, "forbidden")

    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger.db.write() as conn:
            await conn.execute(text("UPDATE audit SET principal = 'someone-else'"))


async def test_a_committed_write_stores_its_audit_row_in_its_own_transaction(client, ledger, monkeypatch):
    """Only refused writes take the after-answer path: were it to fail, the committed
    award and member still have their rows, and the refusal is merely missing."""
    await tree(ledger)
    mid = await member(ledger)

    async def broken(entry: object) -> None:
        raise RuntimeError("the audit log cannot be written after the answer")

    monkeypatch.setattr(ledger, "record_audit", broken)
    body = award_body(mid, 4)
    assert (await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="atomic-1")).status_code == 201
    replay = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="atomic-1")
    assert replay.headers["idempotent-replayed"] == "true"
    await client.post(routes.api(routes.MEMBERS), json={"id": "m-王五", "name": "王五", "org_unit": MICRO})
    assert (await post(client, routes.api(routes.AWARDS), award_body("m-nobody", 4))).status_code == 404
    rows = [(e.method, e.path, e.status, e.idempotency_key) for e in await ledger.audit(ADMIN, None, None, 10, None)]
    assert rows == [
        ("POST", routes.api(routes.AWARDS), 201, "atomic-1"),
        ("POST", routes.api(routes.AWARDS), 201, "atomic-1"),
        ("POST", routes.api(routes.MEMBERS), 201, None),
    ]


async def test_writes_beyond_the_rate_are_refused_with_retry_after(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    _, first = await token(ledger, "organizer", org_unit=COMMUNITY)
    _, second = await token(ledger, "organizer", org_unit=COMMUNITY)
    app = create_app(settings(ledger, writes_per_second=0.5, write_burst=3), ledger)
    async with http_client(app, headers=first) as busy, http_client(app, headers=second) as other:
        statuses = [(await post(busy, routes.api(routes.AWARDS), award_body(mid, 1))).status_code for _ in range(3)]
        assert statuses == [201, 201, 201]
        refused = await post(busy, routes.api(routes.AWARDS), award_body(mid, 1))
        problem = assert_problem(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "2" and problem["retry_after_seconds"] == 2
        assert (await busy.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()[
            "available_points"
        ] == 3  # reads go on
        assert (
            await post(other, routes.api(routes.AWARDS), award_body(mid, 1))
        ).status_code == 201  # another token's own bucket


def test_the_command_line_creates_lists_and_revokes_tokens(database_url, monkeypatch, capsys):
    monkeypatch.setenv("LEDGER_TOKEN_SECRET", TOKEN_SECRET)
    assert cli.main(["migrate", "--database-url", database_url]) == 0
    capsys.readouterr()
    url = ["--database-url", database_url]
    assert cli.main(["token", "create", "--role", "auditor", "--label", "区审计", *url, "--expires-in-days", "30"]) == 0
    printed = capsys.readouterr().out.splitlines()
    principal = json.loads(printed[0])
    secret = printed[-1].strip()
    assert principal["role"] == "auditor" and principal["expires_at"] is not None
    assert secret.startswith(f"glp_{principal['id']}.")

    assert cli.main(["token", "list", *url]) == 0
    assert secret not in capsys.readouterr().out
    assert cli.main(["token", "create", "--role", "organizer", "--label", "x", *url]) == 2  # refused: nothing was done
    assert "an organizer token names the unit" in capsys.readouterr().err
    assert cli.main(["token", "revoke", principal["id"], *url]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] is not None
