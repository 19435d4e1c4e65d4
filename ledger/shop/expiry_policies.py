"""Expiry policies: how long points stay valid, as data per unit subtree.

A policy is read when points reach a member (a new lot): the lot's expiry date is fixed
then, so loading a new policy changes points awarded afterwards and never a date already
promised. Dates are counted in the community's time zone from the moment the points were
recorded, not from when the work happened: a patrol from 31 December recorded on
2 January is not born expired.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import datafiles, unit_versions
from ledger.storage.tables import ExpiryPolicy, table_of

SCHEMA_PATH = datafiles.SCHEMAS / "expiry.schema.json"
FOREVER, END_OF_YEAR, MONTHS = "forever", "end_of_year", "months"

_policies = table_of(ExpiryPolicy)
TABLE = _policies
"""The versioned table whose latest versions ``expiry_dates`` reads from a posting's locks."""


@dataclass(frozen=True, slots=True)
class Policy:
    org_unit: str  # "" for the default
    version: int
    valid: str
    extra_years: int = 0
    months: int = 0

    def expires_at(self, arrived_at: datetime, tz: tzinfo) -> datetime | None:
        """The instant points that arrived at ``arrived_at`` stop being valid (None: never)."""
        local = arrived_at.astimezone(tz)
        if self.valid == END_OF_YEAR:
            return datetime(local.year + 1 + self.extra_years, 1, 1, tzinfo=tz)
        if self.valid == MONTHS:
            month_index = local.month - 1 + self.months
            year, month = local.year + month_index // 12, month_index % 12 + 1
            day = min(local.day, calendar.monthrange(year, month)[1])
            return local.replace(year=year, month=month, day=day)
        return None


FOREVER_POLICY = Policy(unit_versions.DEFAULT_KEY, 0, FOREVER)
"""What applies before any policy is loaded: points promised without a date keep none."""


def _policy(org_unit: str, version: int, d: dict[str, Any]) -> Policy:
    return Policy(org_unit, version, d["valid"], d.get("extra_years", 0), d.get("months", 0))


def default_policies_text() -> str:
    return resources.files("ledger.data").joinpath("expiry.default.yaml").read_text(encoding="utf-8")


def parse_policies_file(text: str) -> datafiles.DataFile:
    """The policies of a file with every error of the schema and a second policy for one
    unit; the units named are checked against the database when the file is loaded."""
    file = datafiles.parse(text, SCHEMA_PATH, "policies")
    return file.plus(
        file.error(i, "org_unit", f"a second policy for {key or 'the default'}")
        for i, key in datafiles.repeats(file, "org_unit", absent=unit_versions.DEFAULT_KEY)
    )


async def current_policies(conn: AsyncConnection) -> dict[str, Policy]:
    latest = await unit_versions.latest(conn, _policies)
    return {key: _policy(key, version, d) for key, (version, d) in latest.items()}


async def load_policies(
    conn: AsyncConnection, file: datafiles.DataFile, by: str, now: datetime
) -> list[datafiles.Stored]:
    """Store a new version of each policy that changed, or refuse the file with every error
    (a unit named that does not exist among them)."""

    def same(old: dict[str, Any], new: dict[str, Any]) -> bool:
        return _policy("", 0, old) == _policy("", 0, new)

    return await unit_versions.store(conn, _policies, file, same, by, now)


def policy_for(path: str, policies: dict[str, Policy]) -> Policy:
    return unit_versions.nearest(path, policies) or FOREVER_POLICY


def expiry_dates(
    loaded: unit_versions.Loaded, units: Sequence[str], arrived_at: datetime, tz: tzinfo
) -> dict[str, datetime | None]:
    """When points issued by each unit at ``arrived_at`` expire, by the policy nearest it:
    the dates the journal books new lots with (``ledger.journal.lots``), from the policies
    and paths it read with its locks (``Journal.versioned`` names this table)."""
    latest = loaded.latest[_policies.name]
    policies = {key: _policy(key, version, d) for key, (version, d) in latest.items()}
    return {unit: policy_for(loaded.paths[unit], policies).expires_at(arrived_at, tz) for unit in units}
