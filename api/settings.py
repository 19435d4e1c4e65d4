"""Service settings, read once from the environment (and overridden by ``ledger serve`` flags)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ledger import DEFAULT_TIMEZONE, HOLD_TTL_DEFAULT, database_url

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


CHECKPOINT_KEY_FILE = "var/checkpoint-key"
"""Where the key that seals checkpoints is kept when ``LEDGER_CHECKPOINT_KEY`` is not set:
made on first use by what seals (the service, ``ledger checkpoint``, ``ledger export``)
beside the token secret, readable by its owner only. A key of its own,
not one derived from the token secret: rotating the token secret (every token stops
working) must not turn every checkpoint ever sealed into a forgery, and the key can be
handed to an auditor without handing over the power to mint tokens. Never in the
database: a database writer who could read it could forge checkpoints."""

CHECKPOINT_INTERVAL_SECONDS = 600
"""How often a serving process seals the chain head when it has moved since the last
checkpoint. A database writer who rewrites transactions undetected must do it within ten
minutes of their posting; the cost is at most 144 rows a day per serving process (some
50,000 a year, a few MB, checked by verify in one streamed query), none on a day without
writes. 0 turns the timer off (notices, exports and ``ledger checkpoint`` still seal)."""


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def _kept_secret(variable: str, default_file: str, create: bool) -> str | None:
    """The secret in ``variable``, or the one in the file ``{variable}_FILE`` names
    (``default_file`` by default), made there on first use when ``create``."""
    if secret := os.environ.get(variable):
        return secret
    path = Path(os.environ.get(f"{variable}_FILE") or default_file)
    if not path.exists():
        if not create:
            return None
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


def token_secret() -> str:
    """``LEDGER_TOKEN_SECRET``, or the key in ``LEDGER_TOKEN_SECRET_FILE`` (made once)."""
    secret = _kept_secret("LEDGER_TOKEN_SECRET", TOKEN_SECRET_FILE, create=True)
    assert secret is not None
    return secret


def checkpoint_key(create: bool = True) -> bytes | None:
    """``LEDGER_CHECKPOINT_KEY``, or the key in ``LEDGER_CHECKPOINT_KEY_FILE``. What seals
    makes the file on first use; what only checks (``ledger verify``) never does, for a
    new key would call every existing checkpoint forged instead of saying none could be
    checked."""
    secret = _kept_secret("LEDGER_CHECKPOINT_KEY", CHECKPOINT_KEY_FILE, create)
    return None if secret is None else secret.encode()


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
    checkpoint_key: bytes | None = field(default_factory=checkpoint_key)
    checkpoint_interval_seconds: float = field(
        default_factory=lambda: _number("LEDGER_CHECKPOINT_INTERVAL_SECONDS", CHECKPOINT_INTERVAL_SECONDS)
    )
    writes_per_second: float = field(default_factory=lambda: _number("LEDGER_WRITES_PER_SECOND", WRITES_PER_SECOND))
    write_burst: int = field(default_factory=lambda: int(_number("LEDGER_WRITE_BURST", WRITE_BURST)))
    principal_cache_seconds: float = PRINCIPAL_CACHE_SECONDS

    @property
    def token_key(self) -> bytes:
        return self.token_secret.encode()
