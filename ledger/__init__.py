"""The grid points ledger: an append-only, double-entry journal of points (积分).

This package is the domain core. It knows SQL (through SQLAlchemy) but nothing of
HTTP: the web layer in ``api`` calls ``Ledger`` and maps ``LedgerError`` to responses.
"""

from ledger.earning.awards import AwardCommand
from ledger.errors import (
    AlreadyExists,
    AlreadyReversed,
    Conflict,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidInput,
    LedgerError,
    MemberInactive,
    MemberNotFound,
    NotFound,
    NotReversible,
    OrgUnitNotFound,
    TransactionNotFound,
)
from ledger.journal.idempotency import IdempotentRequest, fingerprint
from ledger.org.members import Member, MemberChanges
from ledger.org.units import Move, Unit, UnitChanges, UnitCount
from ledger.service import Ledger
from ledger.storage.database import Database
from ledger.storage.migrate import migrate
from ledger.values import Balance, Category, Level, Role, TxnKind

__all__ = [
    "AlreadyExists",
    "AlreadyReversed",
    "AwardCommand",
    "Balance",
    "Category",
    "Conflict",
    "Database",
    "IdempotencyKeyReused",
    "IdempotentRequest",
    "InsufficientPoints",
    "InvalidInput",
    "Ledger",
    "LedgerError",
    "Level",
    "Member",
    "MemberChanges",
    "MemberInactive",
    "MemberNotFound",
    "Move",
    "NotFound",
    "NotReversible",
    "OrgUnitNotFound",
    "Role",
    "TransactionNotFound",
    "TxnKind",
    "Unit",
    "UnitChanges",
    "UnitCount",
    "fingerprint",
    "migrate",
]
