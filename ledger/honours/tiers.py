"""Tier schemes: thresholds on points *earned* in an evaluation period.

A scheme names its tiers in ascending order (e.g. 合格 / 良好 / 优秀), the roles eligible
for 先进工作者 (a unit's scheme without them takes the default's) and the notice (公示)
length. Schemes are data, checked against ``schemas/tiers.schema.json`` and versioned
append-only; a unit's scheme applies to its subtree, the nearest ancestor's winning, else
the default. The nomination flags and the
shop's minimum tier both read them here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import FileError
from ledger.storage import datafiles, unit_versions
from ledger.storage.tables import TierScheme, table_of

ADVANCED_WORKER = "先进工作者"
PARTY_MEMBER = "优秀共产党员"
FLAGS = (ADVANCED_WORKER, PARTY_MEMBER)
DEFAULT_SCHEME_KEY = unit_versions.DEFAULT_KEY

SCHEMA_PATH = datafiles.SCHEMAS / "tiers.schema.json"

_schemes = table_of(TierScheme)
TABLE = _schemes
"""The versioned table whose latest versions the nomination flags read from a posting's locks."""


@dataclass(frozen=True, slots=True)
class Scheme:
    org_unit: str  # "" for the default
    version: int
    tiers: tuple[tuple[str, int], ...]  # (name, points), ascending
    advanced_worker_roles: frozenset[str]
    notice_working_days: int

    @property
    def top(self) -> tuple[str, int]:
        return self.tiers[-1]

    def tier_of(self, points: int) -> str | None:
        reached = [name for name, threshold in self.tiers if points >= threshold]
        return reached[-1] if reached else None

    def next_after(self, points: int) -> tuple[str, int] | None:
        return next(((name, threshold) for name, threshold in self.tiers if points < threshold), None)

    def flags_for(self, points: int, roles: Sequence[str], party_member: bool) -> set[str]:
        if points < self.top[1]:
            return set()
        flags = {PARTY_MEMBER} if party_member else set()
        if self.advanced_worker_roles & set(roles):
            flags.add(ADVANCED_WORKER)
        return flags


DEFAULT_NOTICE_WORKING_DAYS = 5
"""公示: at least five working days before an honour, as public schemes require."""


def _scheme(org_unit: str, version: int, d: dict[str, Any], default_roles: frozenset[str]) -> Scheme:
    roles = d.get("advanced_worker_roles")
    return Scheme(
        org_unit=org_unit,
        version=version,
        tiers=tuple((t["name"], t["points"]) for t in d["tiers"]),
        advanced_worker_roles=default_roles if roles is None else frozenset(roles),
        notice_working_days=d.get("notice_working_days", DEFAULT_NOTICE_WORKING_DAYS),
    )


def schemes_from(definitions: Mapping[str, tuple[int, dict[str, Any]]]) -> dict[str, Scheme]:
    """The schemes of the stored (version, definition) per unit, "" the default.

    A unit scheme that leaves out ``advanced_worker_roles`` takes the current default
    scheme's, so overriding a subtree's thresholds does not quietly end 先进工作者 there;
    ``[]`` says, deliberately, that no role is eligible in that subtree. The default
    itself has no scheme above it: without the field, no role is eligible anywhere it
    applies."""
    default = definitions.get(DEFAULT_SCHEME_KEY)
    default_roles = frozenset(default[1].get("advanced_worker_roles", ())) if default else frozenset()
    return {key: _scheme(key, version, d, default_roles) for key, (version, d) in definitions.items()}


def default_tiers_text() -> str:
    return resources.files("ledger.data").joinpath("tiers.default.yaml").read_text(encoding="utf-8")


def parse_tiers_file(text: str) -> datafiles.DataFile:
    """The schemes of a file with every error of the schema and of the checks below; the
    units named are checked against the database when the file is loaded."""
    file = datafiles.parse(text, SCHEMA_PATH, "schemes")
    return file.plus(_consistency_errors(file))


def _consistency_errors(file: datafiles.DataFile) -> Iterator[FileError]:
    for i, key in datafiles.repeats(file, "org_unit", absent=DEFAULT_SCHEME_KEY):
        yield file.error(i, "org_unit", f"a second scheme for {key or 'the default'}")
    for i, scheme in file.valid():
        points = [t["points"] for t in scheme["tiers"]]
        if points != sorted(set(points)):
            yield file.error(i, "tiers", "thresholds must rise from tier to tier")


async def current_schemes(conn: AsyncConnection) -> dict[str, Scheme]:
    return schemes_from(await unit_versions.latest(conn, _schemes))


async def load_schemes(
    conn: AsyncConnection, file: datafiles.DataFile, by: str, now: datetime
) -> list[datafiles.Stored]:
    """Store a new version of each scheme that changed, or refuse the file with every error
    (a unit named that does not exist among them)."""

    def same(old: dict[str, Any], new: dict[str, Any]) -> bool:
        # Leaving out advanced_worker_roles (take the default's) and [] (none) are two
        # schemes, though both read as no roles here.
        inherits = ("advanced_worker_roles" not in old) == ("advanced_worker_roles" not in new)
        return inherits and _scheme("", 0, old, frozenset()) == _scheme("", 0, new, frozenset())

    return await unit_versions.store(conn, _schemes, file, same, by, now)


def scheme_for(path: str, schemes: dict[str, Scheme]) -> Scheme | None:
    """The nearest ancestor's scheme (the unit's own first), else the default."""
    return unit_versions.nearest(path, schemes)
