"""Short builders for test data: a small org tree, members, awards through HTTP."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from api import routes
from ledger import Category, Ledger, Level, Principal, Role
from ledger.errors import DataFileInvalid
from ledger.journal import posting
from ledger.values import Access, Posting, TxnDraft, TxnKind

STREET, COMMUNITY, GRID, MICRO = "s-东大街", "c-东关南里", "g-东关南里-1", "m-东关南里-1-1"
OTHER_MICRO = "m-东关南里-1-2"

ADMIN = Principal.admin("admin")
"""The acting principal of a test that calls the ledger directly: the whole tree in scope."""

TOKEN_SECRET = "test-token-secret"
"""The key stored tokens are hashed with in tests (the app's settings use the same)."""

CHECKPOINT_KEY = "test-checkpoint-key"
"""The key checkpoints are sealed with in tests: the test ledger, the app's settings and
(through ``LEDGER_CHECKPOINT_KEY``) the command line all use it."""

_keys = itertools.count()


NOTHING_SWEPT = {"holds_expired": 0, "lots_expired": 0, "points_expired": 0, "audit_rows_purged": 0, "tokens_purged": 0}
"""The sweep's report when nothing was due: no hold, lot, audit row or token past its time."""


def key() -> str:
    return f"k-{next(_keys)}-{uuid.uuid4().hex[:8]}"


def recently(minutes: int = 60) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def tree(ledger: Ledger) -> None:
    """街道 → 社区 → 大网格 → two 微网格, with Chinese names."""
    await ledger.register_unit(ADMIN, STREET, "东大街街道", Level.STREET, None)
    await ledger.register_unit(ADMIN, COMMUNITY, "东关南里社区", Level.COMMUNITY, STREET)
    await ledger.register_unit(ADMIN, GRID, "东关南里第一大网格", Level.GRID, COMMUNITY)
    await ledger.register_unit(ADMIN, MICRO, "东关南里1-1微网格", Level.MICRO_GRID, GRID)
    await ledger.register_unit(ADMIN, OTHER_MICRO, "东关南里1-2微网格", Level.MICRO_GRID, GRID)


async def member(
    ledger: Ledger, member_id: str = "m-张三", home: str = MICRO, party: bool = False, name: str = "张三"
) -> str:
    await ledger.register_member(ADMIN, member_id, name, home, party, (Role.VOLUNTEER,))
    return member_id


def award_body(member_id: str, points: int = 10, **overrides: Any) -> dict[str, Any]:
    body = {
        "member_id": member_id,
        "points": points,
        "category": "patrol",
        "occurred_at": recently(),
        "memo": "日巡千步",
    }
    body.update(overrides)
    return body


async def award(client: AsyncClient, member_id: str, points: int = 10, **overrides: Any) -> dict[str, Any]:
    response = await client.post(
        routes.api(routes.AWARDS), json=award_body(member_id, points, **overrides), headers={"Idempotency-Key": key()}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def count_transactions(ledger: Ledger) -> int:
    report = await ledger.verify()
    return report.transactions


def assert_problem(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code (and offending field)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert (status, code) == (response.status_code, body["code"]), body
    assert status == body["status"]
    assert body["title"] and body["detail"]
    if field is not None:
        assert field == body["field"], body
    return body


TEST_RULES = """
rules:
  - {code: patrol, name_zh: 网格巡查, name_en: Patrol, category: patrol, unit: patrol, points_per_unit: 1,
     min_steps: 1000, caps: {day: 2, year: 500}, roles: [micro_grid_worker, volunteer]}
  - {code: diary, name_zh: 民情日记, name_en: Diary, category: diary, unit: character, unit_size: 500,
     points_per_unit: 1, caps: {day: 4}}
  - {code: report, name_zh: 事件上报, name_en: Report, category: event_report, unit: report, points_per_unit: 2,
     bonus_handled_within_limit: 3, caps: {week: 12}}
  - {code: task, name_zh: 交办任务, name_en: Task, category: task, unit: task, points_per_unit: 5,
     caps: {year: 12}, roles: [grid_worker]}
  - {code: hour, name_zh: 志愿服务, name_en: Volunteer hour, category: activity, unit: hour, points_per_unit: 1,
     quantity_max: 12, caps: {day: 8}}
  - {code: old, name_zh: 旧规则, name_en: Retired rule, category: other, unit: task, points_per_unit: 1,
     active_from: "2020-01-01", active_to: "2020-12-31"}
"""


async def rules(ledger: Ledger, text: str = TEST_RULES) -> None:
    await ledger.load_rules(Principal.admin("test"), text)


def rule_body(member_id: str, rule: str, quantity: int, **overrides: Any) -> dict[str, Any]:
    body = {"member_id": member_id, "rule": rule, "quantity": quantity, "occurred_at": recently()}
    body.update(overrides)
    return body


async def post(client: AsyncClient, path: str, body: Any = None, **headers: str) -> Any:
    """A POST that moves points, with a fresh Idempotency-Key unless one is given."""
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    named.setdefault("Idempotency-Key", key())
    return await client.post(path, json=body, headers=named)


TEST_TIERS = """
schemes:
  - tiers: [{name: 合格, points: 10}, {name: 良好, points: 20}, {name: 优秀, points: 30}]
    advanced_worker_roles: [volunteer, micro_grid_worker, grid_worker, grid_leader]
    notice_working_days: 5
"""


async def tiers(ledger: Ledger, text: str = TEST_TIERS) -> None:
    await ledger.load_tiers(Principal.admin("test"), text)


NOWHERE = "m-无此网格"
"""An org unit code that names no unit of ``tree``."""

# A file of each kind with every kind of error its checks find: the schema's, a repeated
# code or unit, dates or thresholds out of order, a unit that does not exist. An entry the
# schema refuses still counts for repeats, and the checks of one entry skip it: each holds
# a value that would trip them (an int where a date or threshold belongs). Each file's
# errors are listed as the ledger lists them, in document order.

BAD_RULES = """
rules:
  - {code: patrol, name_zh: 网格巡查, name_en: Patrol, category: patrol, unit: patrol, points_per_unit: 1}
  - {code: diary, name_zh: 民情日记, name_en: Diary, category: diary, unit: furlong, points_per_unit: 1}
  - {code: patrol, name_zh: 重复, name_en: Duplicate, category: patrol, unit: patrol, points_per_unit: 0}
  - {code: hour, name_zh: 志愿服务, name_en: Volunteer hour, category: activity, unit: hour, points_per_unit: 1,
     active_from: "2026-03-01", active_to: "2026-02-01"}
  - {code: task, name_zh: 交办任务, name_en: Task, category: task, unit: task, points_per_unit: 5,
     active_from: 20260301, active_to: "2026-02-01"}
  - 7
"""
BAD_RULES_ERRORS = [
    ("/rules/1/unit", "'furlong' is not one of ['patrol', 'hour', 'character', 'report', 'task', 'activity']"),
    ("/rules/2/code", "code 'patrol' appears twice"),
    ("/rules/2/points_per_unit", "0 is less than the minimum of 1"),
    ("/rules/3/active_to", "active_to is before active_from"),
    ("/rules/4/active_from", "20260301 is not of type 'string'"),
    ("/rules/5", "7 is not of type 'object'"),
]

BAD_TIERS = f"""
schemes:
  - tiers: [{{name: 优秀, points: 30}}, {{name: 合格, points: 10}}]
  - {{org_unit: {MICRO}, tiers: [{{name: 合格, points: 10}}], notice_working_days: 99}}
  - tiers: [{{name: 合格, points: 10}}]
  - {{org_unit: {NOWHERE}, tiers: [{{name: 合格, points: 10}}]}}
  - {{org_unit: {MICRO}, tiers: [{{name: 合格, points: 10}}, {{name: 优秀, points: ten}}]}}
"""
BAD_TIERS_ERRORS = [
    ("/schemes/0/tiers", "thresholds must rise from tier to tier"),
    ("/schemes/1/notice_working_days", "99 is greater than the maximum of 30"),
    ("/schemes/2/org_unit", "a second scheme for the default"),
    ("/schemes/3/org_unit", f"org unit '{NOWHERE}' does not exist"),
    ("/schemes/4/org_unit", f"a second scheme for {MICRO}"),
    ("/schemes/4/tiers/1/points", "'ten' is not of type 'integer'"),
]

BAD_POLICIES = f"""
policies:
  - valid: forever
  - {{org_unit: {MICRO}, valid: sometimes}}
  - valid: end_of_year
  - {{org_unit: {NOWHERE}, valid: months, months: 6}}
  - {{org_unit: {MICRO}, valid: months}}
"""
BAD_POLICIES_ERRORS = [
    ("/policies/1/valid", "'sometimes' is not one of ['forever', 'end_of_year', 'months']"),
    ("/policies/2/org_unit", "a second policy for the default"),
    ("/policies/3/org_unit", f"org unit '{NOWHERE}' does not exist"),
    ("/policies/4", "'months' is a required property"),
    ("/policies/4/org_unit", f"a second policy for {MICRO}"),
]


def file_errors(refused: DataFileInvalid) -> list[tuple[str, str]]:
    """A refused data file's errors as (path, reason)."""
    return [(e.path, e.reason) for e in refused.errors]


async def spend(ledger: Ledger, member_id: str, points: int) -> None:
    """Spend points at the member's unit shop. The points shop has its own transactions;
    this posts the plain movement (member → the unit's redemption account, nothing earned)
    straight through journal.post, for tests of what spending must not change."""
    holder = await ledger.member(ADMIN, member_id)
    unit = await ledger.unit(holder.org_unit)
    draft = TxnDraft(
        kind=TxnKind.AWARD,
        category=Category.OTHER,
        member_id=member_id,
        org_unit=unit.code,
        occurred_at=ledger.clock(),
        recorded_by="shop",
        memo="积分超市",
        postings=(Posting(holder.account_id, -points), Posting(unit.redemption_account_id, points)),
        period=ledger.current_period(),
    )
    async with ledger.db.write() as conn:
        await posting.post(conn, [draft], ledger.clock(), ledger.journal)


class Clock:
    """A clock a test moves by hand (hold TTLs, expiry dates)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def reward_body(code: str = "r-毛巾", org_unit: str = COMMUNITY, cost: int = 20, **overrides: Any) -> dict[str, Any]:
    body = {"code": code, "org_unit": org_unit, "name_zh": "毛巾", "kind": "goods", "cost_points": cost, "stock": 10}
    body.update(overrides)
    return body


async def reward(client: AsyncClient, code: str = "r-毛巾", **overrides: Any) -> dict[str, Any]:
    response = await client.post(routes.api(routes.REWARDS), json=reward_body(code, **overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def redeem(client: AsyncClient, member_id: str, code: str = "r-毛巾", **headers: str) -> Any:
    return await post(client, routes.api(routes.REDEMPTIONS), {"reward": code, "member_id": member_id}, **headers)


OTHER_COMMUNITY, OTHER_GRID, FAR_MICRO = "c-西关", "g-西关-1", "m-西关-1-1"


async def other_community(ledger: Ledger) -> None:
    """A second community under the same street: outside an organizer of the first."""
    await ledger.register_unit(ADMIN, OTHER_COMMUNITY, "西关社区", Level.COMMUNITY, STREET)
    await ledger.register_unit(ADMIN, OTHER_GRID, "西关第一大网格", Level.GRID, OTHER_COMMUNITY)
    await ledger.register_unit(ADMIN, FAR_MICRO, "西关1-1微网格", Level.MICRO_GRID, OTHER_GRID)


async def principal(
    ledger: Ledger, role: str, org_unit: str | None = None, member_id: str | None = None, **fields: Any
) -> tuple[str, str]:
    """A stored principal of this role: its id and the token it signs in with."""
    stored, secret = await ledger.create_principal(
        Principal.admin("test"),
        role=Access(role),
        label=f"{role} {org_unit or member_id or ''}",
        org_unit=org_unit,
        member_id=member_id,
        expires_at=fields.get("expires_at"),
        key=TOKEN_SECRET.encode(),
    )
    return stored.id, secret


async def token(
    ledger: Ledger, role: str, org_unit: str | None = None, member_id: str | None = None, **fields: Any
) -> tuple[str, dict[str, str]]:
    """A stored principal of this role and its Authorization header."""
    principal_id, secret = await principal(ledger, role, org_unit, member_id, **fields)
    return principal_id, {"Authorization": f"Bearer {secret}"}


async def tamper(ledger: Ledger, sql: str, table: str, rows: list[dict[str, Any]] | None = None) -> None:
    """Change rows behind the ledger's back, with the append-only triggers out of the way
    (``rows``: the statement's parameters, once per row)."""
    async with ledger.db.write() as conn:
        if ledger.db.is_postgres:
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            await conn.execute(text(sql), rows)
            await conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            triggers = (
                await conn.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}
                )
            ).all()
            for name, _ in triggers:
                await conn.execute(text(f"DROP TRIGGER {name}"))
            await conn.execute(text(sql), rows)
            for _, create in triggers:
                await conn.execute(text(create))
