"""Retention: the sweep purges audit rows past their retention and tokens long dead,
never the journal; the database keeps a year of audit rows whatever the setting says."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import routes
from ledger import Ledger, Principal, audit
from ledger.access.retention import AUDIT_DAYS_VARIABLE, Retention
from ledger.errors import InvalidInput
from tests.builders import ADMIN, COMMUNITY, Clock, award, count_transactions, member, token, tree

DAY = timedelta(days=1)

AWARDS = routes.api(routes.AWARDS)  # the path the fabricated audit rows name


async def _audit_rows_at(ledger: Ledger, *ages_days: int) -> None:
    async with ledger.db.write() as conn:
        for age in ages_days:
            entry = audit.Entry("old-principal", "organizer", "POST", f"{AWARDS}#{age}", 201)
            await audit.record(conn, [entry], datetime.now(UTC) - age * DAY)


async def _paths(ledger: Ledger) -> list[str]:
    return [row.path for row in await ledger.audit(ADMIN, "old-principal", None, 100, None)]


async def test_the_sweep_purges_audit_rows_past_their_retention_and_never_the_journal(client, ledger):
    """Rows older than three years go; younger ones and every transaction stay, and the books verify."""
    await tree(ledger)
    await award(client, await member(ledger), 7)
    await _audit_rows_at(ledger, 1200, 1100, 1000, 10)
    transactions = await count_transactions(ledger)

    report = await ledger.sweep()

    assert (report.audit_rows_purged, report.tokens_purged) == (2, 0)
    assert [f"{AWARDS}#1000", f"{AWARDS}#10"] == await _paths(ledger)
    assert transactions == await count_transactions(ledger)
    assert (await ledger.verify()).ok
    assert 0 == (await ledger.sweep()).audit_rows_purged


async def test_a_longer_retention_keeps_more(db):
    """LEDGER_AUDIT_RETENTION_DAYS=1150 keeps the row of 1100 days ago."""
    ledger = Ledger(db, keep=Retention(audit_days=1150))
    await _audit_rows_at(ledger, 1200, 1100)
    assert 1 == (await ledger.sweep()).audit_rows_purged
    assert [f"{AWARDS}#1100"] == await _paths(ledger)


@pytest.mark.parametrize("sql", ["DELETE FROM audit", "UPDATE audit SET principal = 'someone-else'"])
async def test_the_database_refuses_to_change_or_delete_a_recent_audit_row(ledger, sql):
    """A console session cannot wipe the last year's evidence: only old rows may be deleted."""
    await _audit_rows_at(ledger, 300)
    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger.db.write() as conn:
            await conn.execute(text(sql))
    assert [f"{AWARDS}#300"] == await _paths(ledger)


async def test_the_sweep_purges_tokens_expired_or_revoked_past_their_retention(db):
    """Half a year after a token died, its row goes; a live token, or one dead lately, stays."""
    now = datetime.now(UTC)
    clock = Clock(now - 400 * DAY)
    ledger = Ledger(db, clock=clock)
    await tree(ledger)
    revoked_long_ago, _ = await token(ledger, "organizer", COMMUNITY)
    await ledger.revoke_principal(Principal.admin("test"), revoked_long_ago)
    await token(ledger, "auditor", expires_at=now - 181 * DAY)
    expired_lately, _ = await token(ledger, "auditor", expires_at=now - 100 * DAY)
    clock.now = now - 10 * DAY
    revoked_lately, _ = await token(ledger, "auditor")
    await ledger.revoke_principal(Principal.admin("test"), revoked_lately)
    live, _ = await token(ledger, "auditor")
    clock.now = now

    report = await ledger.sweep()

    assert 2 == report.tokens_purged
    kept = {p.id for p in await ledger.principals(100, None)}
    assert {revoked_lately, expired_lately, live} == kept
    assert 0 == (await ledger.sweep()).tokens_purged


async def test_the_sweep_over_http_says_what_it_purged(client, ledger):
    await _audit_rows_at(ledger, 2000)
    response = await client.post(routes.api(routes.ADMIN_SWEEP))
    assert 200 == response.status_code, response.text
    body = response.json()
    assert (1, 0) == (body["audit_rows_purged"], body["tokens_purged"])


@pytest.mark.parametrize(
    ("variable", "value"),
    [(AUDIT_DAYS_VARIABLE, "100"), (AUDIT_DAYS_VARIABLE, "three years"), ("LEDGER_TOKEN_RETENTION_DAYS", "-1")],
)
def test_a_retention_setting_below_the_floor_or_not_a_number_is_refused_naming_it(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInput) as refused:
        Retention.from_environment()
    assert variable == refused.value.field
