"""Service settings, read once from the environment (and overridden by ``ledger serve`` flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ledger.database import database_url
from ledger.periods import DEFAULT_TIMEZONE
from ledger.redemptions import HOLD_TTL_DEFAULT

REQUEST_BODY_BYTES_MAX = 1_048_576
"""1 MiB: the largest legitimate body is a roster of a few thousand lines; anything
bigger is a mistake or an attack, refused before it is read into memory."""


SWEEP_INTERVAL_SECONDS = 300
"""How often a serving process releases overdue holds and expires points: a hold's
72 hours or a lot's date is late by at most five minutes, at the cost of one cheap query
a few times an hour when nothing is due. 0 turns the timer off (run ``ledger sweep``)."""


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    admin_token: str | None = field(default_factory=lambda: os.environ.get("LEDGER_ADMIN_TOKEN") or None)
    timezone: str = field(default_factory=lambda: os.environ.get("LEDGER_TIMEZONE", DEFAULT_TIMEZONE))
    request_body_bytes_max: int = REQUEST_BODY_BYTES_MAX
    hold_ttl_hours: float = field(
        default_factory=lambda: _number("LEDGER_HOLD_TTL_HOURS", HOLD_TTL_DEFAULT.total_seconds() / 3600)
    )
    sweep_interval_seconds: float = field(
        default_factory=lambda: _number("LEDGER_SWEEP_INTERVAL_SECONDS", SWEEP_INTERVAL_SECONDS)
    )
