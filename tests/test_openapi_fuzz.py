"""The service against its own OpenAPI description, by schemathesis.

For every operation schemathesis generates requests from the description, valid and
invalid (wrong types, unknown fields, out-of-range numbers, odd Unicode), and sends them
to the service in-process, on each database. Every answer must not be a 5xx, must carry
a status and a content type the description lists for the operation, must match the
described body, and an invalid request must be refused.

The service runs on a small seeded community; a valid request names one of its units,
members, rewards, transactions, redemptions and activities half the time, so operations
are exercised past their 404s. The run is bounded in examples and seeded, so it takes
the same path every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from api.app import create_app
from ledger import AwardCommand, Category, Database, IdempotentRequest, Ledger
from ledger.earning.activities import ActivityCommand
from ledger.shop.rewards import RewardCommand
from tests.builders import ADMIN, COMMUNITY, GRID, MICRO, OTHER_MICRO, STREET, key, member, rules, tree
from tests.conftest import AUTH, service_settings

EXAMPLES_PER_OPERATION = 25
"""Requests per operation and database: some 1,200 a database, 15-20 s each on two cores.
With this seed, 25 is enough to find again the id overflow this run first found (10 was
not). Runs of 100 and 200 with other seeds found nothing more; worth repeating after a
change to the API (raise this and change the seed)."""

PROBLEM = "application/problem+json"

REQUEST_SECONDS_MAX = 10
"""A request that takes longer has hung: it fails the run instead of stalling it."""

CONFIG = {
    "seed": 20261125,
    "headers": AUTH,
    "request-timeout": REQUEST_SECONDS_MAX,
    "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
    # The description carries no examples, and schemathesis's coverage phase only adds
    # boundary cases that the fuzzing phase's invalid requests already send.
    "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        # A refusal is any problem the API answers invalid input with, a body over the
        # size limit (413) among them, which schemathesis's default list leaves out.
        "negative_data_rejection": {"enabled": True, "expected-statuses": [400, 401, 403, 404, 409, 413, 422, 429]},
    },
}

# The description as the service serves it at /schema/openapi.json (no database is opened).
schema = schemathesis.openapi.from_dict(
    create_app(service_settings("sqlite+aiosqlite://")).openapi_schema.to_schema(),
    config=SchemathesisConfig.from_dict(CONFIG),
)

HOSTILE_ID = "m-';--%_\\ئا"
"""A member id with SQL's quote, comment and LIKE wildcards, a backslash and
right-to-left letters, which every path naming a member must carry intact."""


async def _seed(ledger: Ledger) -> dict[str, list[Any]]:
    """A small community; the values a request may name, by field name."""
    await tree(ledger)
    await rules(ledger)
    members = [await member(ledger, "m-张三"), await member(ledger, HOSTILE_ID, OTHER_MICRO)]
    when = datetime.now(UTC) - timedelta(hours=2)
    award, _ = await ledger.award(
        ADMIN,
        AwardCommand(members[0], 50, Category.PATROL, when, "巡查"),
        IdempotentRequest("admin", "a", "a"),
    )
    await ledger.create_reward(ADMIN, RewardCommand("r-毛巾", COMMUNITY, "毛巾", "goods", 5, stock=10))
    held, _ = await ledger.redeem(ADMIN, "r-毛巾", members[0], IdempotentRequest("admin", "h", "h"))
    command = ActivityCommand("义剪", MICRO, "hour", when - timedelta(hours=3), when, members[0])
    activity = await ledger.create_activity(ADMIN, command)
    await ledger.put_roster(ADMIN, activity.id, [(m, 2) for m in members])
    units = [STREET, COMMUNITY, GRID, MICRO, OTHER_MICRO]
    return {
        "member_id": members,
        "organizer": members,
        "org_unit": units,
        "parent": units,
        "code": [*units, "r-毛巾"],
        "reward": ["r-毛巾"],
        "rule": ["hour", "patrol", "report", "diary", "task"],
        "occurred_at": [when.isoformat()],
        "transaction_id": [award.transaction_id],
        "redemption_id": [held.id],
        "activity_id": [activity.id],
    }


@pytest.fixture(scope="module")
async def service(backend):
    """The service on a seeded database of its own, and the values a request may name.
    The service opens the database itself, in the event loop schemathesis runs it in."""
    url = await backend.create()
    seeder = Ledger(Database(url))
    known = await _seed(seeder)
    await seeder.db.dispose()
    yield create_app(service_settings(url, sweep_interval_seconds=0)), known
    await backend.drop(url)


def _name_known_values(value: Any, known: dict[str, list[Any]], data: st.DataObject) -> None:
    """Replace, each with even odds, the fields of ``value`` that name something the
    community has by one of its values (in place, at any depth)."""
    if isinstance(value, dict):
        for name in list(value):
            if name in known and data.draw(st.booleans()):
                value[name] = data.draw(st.sampled_from(known[name]))
            else:
                _name_known_values(value[name], known, data)
    elif isinstance(value, list):
        for item in value:
            _name_known_values(item, known, data)


@schema.parametrize()
@schema.given(data=st.data())
def test_every_answer_is_as_the_openapi_description_says(case, data, service):
    """No 5xx, and every status, content type and body as described; invalid input refused,
    and every refusal a problem (RFC 9457) that states its own status."""
    app, known = service
    if not case.meta.generation.mode.is_negative:  # an invalid request stays as invalid as it was made
        for part in (case.path_parameters, case.query, case.body):
            _name_known_values(part, known, data)
    # Raises, naming each check in CONFIG that the answer failed.
    response = case.call_and_validate(app=app, headers={"Idempotency-Key": key()})
    where = f"{case.method} {case.formatted_path} → {response.status_code}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith(PROBLEM), where
        assert response.status_code == response.json()["status"], where
