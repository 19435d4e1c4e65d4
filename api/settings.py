"""Service settings, read once from the environment (and overridden by ``ledger serve`` flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ledger.database import database_url
from ledger.periods import DEFAULT_TIMEZONE

REQUEST_BODY_BYTES_MAX = 1_048_576
"""1 MiB: the largest legitimate body is a roster of a few thousand lines; anything
bigger is a mistake or an attack, refused before it is read into memory."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = field(default_factory=database_url)
    admin_token: str | None = field(default_factory=lambda: os.environ.get("LEDGER_ADMIN_TOKEN") or None)
    timezone: str = field(default_factory=lambda: os.environ.get("LEDGER_TIMEZONE", DEFAULT_TIMEZONE))
    request_body_bytes_max: int = REQUEST_BODY_BYTES_MAX
