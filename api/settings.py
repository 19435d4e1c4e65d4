"""Service settings, read once from the environment (and overridden by ``ledger serve`` flags)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ledger.journal.periods import DEFAULT_TIMEZONE
from ledger.shop.redemptions import HOLD_TTL_DEFAULT
from ledger.storage.database import database_url

REQUEST_BODY_BYTES_MAX = 1_048_576
"""1 MiB: the largest legitimate body is a roster of a few thousand lines; anything
bigger is a mistake or an attack, refused before it is read into memory."""

IMPORT_BODY_BYTES_MAX = 33_554_432
"""32 MiB, for the import routes only (Litestar takes a limit per route): 100,000 members
are about 4 MB as CSV and less as XLSX, and an office's sheet may carry columns the
ledger ignores; the body is held in memory while it is read, so the limit stays modest."""


SWEEP_INTERVAL_SECONDS = 300
"""How often a serving process releases overdue holds and expires points: a hold's
72 hours or a lot's date is late by at most five minutes, at the cost of one cheap query
a few times an hour when nothing is due. 0 turns the timer off (run ``ledger sweep``)."""


WRITES_PER_SECOND = 20.0
"""Writes a token may make per second, sustained. A person at a desk makes a write every
few seconds and a roster settles in one request; 20 a second leaves a system that
imports awards room, and stops a runaway script long before it crowds the others.
0 turns the limit off."""

WRITE_BURST = 60
"""Writes a token may make at once after a pause: a page that saves a few forms together,
or a client retrying a batch, is not refused."""

PRINCIPAL_CACHE_SECONDS = 5.0
"""How long a serving process trusts a token it has looked up. A revocation or expiry is
seen at once by the process that made it and within five seconds by the others, and a
busy token costs one lookup per five seconds instead of one per request."""

TOKEN_SECRET_FILE = "var/token-secret"
"""Where the key that hashes stored tokens is kept when ``LEDGER_TOKEN_SECRET`` is not
set: created on first use beside the default SQLite file, readable by its owner only."""


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def token_secret() -> str:
    """``LEDGER_TOKEN_SECRET``, or the key in ``LEDGER_TOKEN_SECRET_FILE`` (made once)."""
    if secret := os.environ.get("LEDGER_TOKEN_SECRET"):
        return secret
    path = Path(os.environ.get("LEDGER_TOKEN_SECRET_FILE") or TOKEN_SECRET_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked into place: a process starting at
        # the same moment either wins the link or reads the winner's key, never half a file.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


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
    token_secret: str = field(default_factory=token_secret)
    writes_per_second: float = field(default_factory=lambda: _number("LEDGER_WRITES_PER_SECOND", WRITES_PER_SECOND))
    write_burst: int = field(default_factory=lambda: int(_number("LEDGER_WRITE_BURST", WRITE_BURST)))
    principal_cache_seconds: float = PRINCIPAL_CACHE_SECONDS

    @property
    def token_key(self) -> bytes:
        return self.token_secret.encode()
