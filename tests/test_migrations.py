"""The migrations build exactly the schema the tables declare: a column, index or
constraint added to ``ledger.storage.tables`` without a migration fails here, not in
production. And a migration that rewrites data does it right on a database that holds it."""

import hashlib
from datetime import datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import ledger.storage.tables  # noqa: F401 - the tables register themselves on SQLModel.metadata
from ledger import AwardCommand, Category, Database, IdempotencyKeyTaken, IdempotentRequest, Ledger, Principal, migrate
from ledger.storage.migrate import alembic_config
from tests.builders import ADMIN, member, tree


async def test_migrated_schema_is_the_declared_one(db: Database):
    async with db.write() as conn:
        differences = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    assert differences == []
    assert "member" in SQLModel.metadata.tables  # the comparison saw the tables


async def test_every_primary_key_is_the_declared_one(db: Database):
    """Alembic's comparison leaves primary keys out, so they are compared here."""
    async with db.read() as conn:
        migrated = await conn.run_sync(
            lambda sync: {
                name: inspect(sync).get_pk_constraint(name)["constrained_columns"] for name in SQLModel.metadata.tables
            }
        )
    declared = {name: [c.name for c in table.primary_key] for name, table in SQLModel.metadata.tables.items()}
    assert declared == migrated
    assert ["key"] == migrated["idempotency"]


LONG_PRINCIPAL, LONG_KEY = "p" * 64, "x" * 128
EARLY = datetime(2026, 11, 1, 8, 0)
USES = [
    # (principal, key, seconds after EARLY): "k" is used by three principals, not in the order of their names.
    ("organizer-b", "k", 0),
    ("organizer-a", "k", 5),
    ("organizer-c", "k", 5),
    ("organizer-a", "alone", 9),
    ("short", LONG_KEY, 0),
    (LONG_PRINCIPAL, LONG_KEY, 1),
]


async def _keys(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        return dict((await conn.execute(text('SELECT "key", principal FROM idempotency'))).all())


async def _migrated_from_0006_with(db: Database, uses: list[tuple[str, str, int]]) -> None:
    """A database at 0006 holding ``uses`` (principal, key, seconds after EARLY), migrated to the head."""
    await migrate(db, "0006")
    async with db.write() as conn:
        await conn.execute(
            text(
                'INSERT INTO idempotency (principal, "key", fingerprint, result, created_at) '
                "VALUES (:principal, :key, 'f', '{\"transaction_id\": 1}', :at)"
            ),
            [{"principal": p, "key": k, "at": EARLY + timedelta(seconds=s)} for p, k, s in uses],
        )
    await migrate(db)


async def test_a_key_used_by_several_principals_stays_with_the_earliest(empty_database_url: str):
    """Migrating a database where principals shared keys keeps each key with its first
    use and renames the later ones principal + US + key (or a digest, when too long)."""
    db = Database(empty_database_url, create=True)
    try:
        await _migrated_from_0006_with(db, USES)
        long_name = f"{LONG_PRINCIPAL}\x1f{LONG_KEY}"
        digested = f"{long_name[:63]}\x1f{hashlib.sha256(long_name.encode()).hexdigest()}"
        assert {
            "k": "organizer-b",
            "organizer-a\x1fk": "organizer-a",
            "organizer-c\x1fk": "organizer-c",
            "alone": "organizer-a",
            LONG_KEY: "short",
            digested: LONG_PRINCIPAL,
        } == await _keys(db)
        assert 128 == len(digested)
        with pytest.raises(IntegrityError):
            async with db.write() as conn:
                await conn.execute(
                    text(
                        'INSERT INTO idempotency (principal, "key", fingerprint, created_at) '
                        "VALUES ('organizer-d', 'alone', 'f', :at)"
                    ),
                    {"at": EARLY},
                )
    finally:
        await db.dispose()


async def test_after_the_migration_a_shared_key_is_its_first_user_s(empty_database_url: str):
    """A key two principals used before the migration is refused to the later one after it."""
    db = Database(empty_database_url, create=True)
    try:
        await _migrated_from_0006_with(db, [("a", "k", 0), ("b", "k", 1)])
        ledger = Ledger(db)
        await tree(ledger)
        command = AwardCommand(await member(ledger), 9, Category.PATROL, ledger.clock() - timedelta(hours=1), "巡查")
        with pytest.raises(IdempotencyKeyTaken):
            await ledger.award(Principal.admin("b"), command, IdempotentRequest("b", "k", "f"))
        assert 0 == (await ledger.balance(ADMIN, command.member_id)).available_points
    finally:
        await db.dispose()


async def test_the_migration_goes_back_down(empty_database_url: str):
    """Downgraded, a key is unique per principal again and may be used by two."""
    db = Database(empty_database_url, create=True)
    try:
        await migrate(db)
        async with db.write() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0006"))
        async with db.write() as conn:
            await conn.execute(
                text(
                    'INSERT INTO idempotency (principal, "key", fingerprint, created_at) '
                    "VALUES (:principal, 'k', 'f', :at)"
                ),
                [{"principal": p, "at": EARLY} for p in ("a", "b")],
            )
        async with db.read() as conn:
            users = (await conn.execute(text("SELECT principal FROM idempotency WHERE \"key\" = 'k'"))).scalars()
            assert ["a", "b"] == sorted(users)
    finally:
        await db.dispose()
