"""The ledger's errors: a small typed tree with stable codes.

    LedgerError                      code            meaning
    ├── InvalidInput                 invalid_input   a value breaks a domain rule (names its field)
    ├── DataFileInvalid              invalid_data_file  a rules, tiers or expiry file, every error with its path
    ├── ImportRefused                import_refused  an org or member file with a refused row, not written
    ├── Unauthenticated              unauthenticated no token, or one unknown, expired or revoked
    ├── AccessDenied                 forbidden       the principal's role or org subtree does not cover the request
    ├── DatabaseUnavailable          database_unavailable  the connection to the database was lost or not made
    │   └── DatabaseBusy             database_busy   a lock wait, statement, pool wait or disk ran out
    ├── DatabaseMissing              database_missing  there is no SQLite file at the URL's path
    ├── DatabaseNotMigrated          database_not_migrated  the schema is not at this release's revision
    │   └── DatabaseFromNewerRelease database_from_newer_release  a newer release migrated it past this one
    ├── BackupFailed                 backup_failed   a backup or restore was not made (a missing file, a tool's error)
    │   ├── BackupToolMissing        backup_tool_missing  pg_dump or pg_restore is not installed
    │   └── RestoreTargetNotEmpty    restore_target_not_empty  a restore goes into an empty database only
    ├── NotFound                     not_found       an org unit, member or transaction is unknown
    │   ├── OrgUnitNotFound
    │   ├── MemberNotFound
    │   ├── TransactionNotFound
    │   ├── RuleNotFound
    │   ├── ActivityNotFound
    │   ├── ClaimNotFound
    │   ├── NominationNotFound
    │   ├── NoticeNotFound
    │   ├── RewardNotFound
    │   ├── RedemptionNotFound
    │   └── PrincipalNotFound
    └── Conflict                     (various)       the request is valid but the ledger's state refuses it
        ├── AlreadyExists            already_exists  a unit or member with that key is registered already
        ├── ImportConflict           import_conflict  other imports of the same rows kept winning the race
        ├── MemberInactive           member_inactive a deactivated member receives no new awards
        ├── AlreadyReversed          already_reversed a transaction is reversed at most once
        ├── NotReversible            not_reversible  only awards and deductions are reversed
        ├── InsufficientPoints       insufficient_points  an account would go below zero
        ├── IdempotencyKeyReused     exists_with_different_body  the key was used for another request
        ├── IdempotencyKeyTaken      idempotency_key_taken  another principal used the key first
        ├── RuleInactive             rule_inactive   the rule is outside its active dates
        ├── NotEligible              not_eligible    the member has no role the rule rewards
        ├── CapExceeded              cap_exceeded    a per-day/week/year cap has no room (names it)
        ├── NothingToDeduct          nothing_to_deduct  the member has no available points to take
        ├── AlreadySettled           already_settled an activity is settled once
        ├── ClaimNotPending          claim_not_pending  a claim is reviewed once
        ├── NominationStateConflict  nomination_state_conflict  a step that the flag's state does not allow
        ├── RewardInactive           reward_inactive outside the reward's active window
        ├── RewardNotOffered         reward_not_offered  the reward belongs to a unit outside the member's line
        ├── OutOfStock               out_of_stock    every unit of stock is held or sold
        ├── OverLimit                over_limit      the member's limit per period is used up
        ├── TierTooLow               tier_too_low    the reward asks for a tier the member has not reached
        ├── RedemptionNotHeld        redemption_not_held  fulfil or cancel of a redemption already settled
        ├── HoldExpired              hold_expired    a hold past its time is not fulfilled
        └── ErasureBlocked           erasure_blocked a member on an open notice or with a held redemption

Every error carries structured fields (``fields()``) so that the one boundary that
turns errors into HTTP (``api.problems``) needs no knowledge of any particular error.
The HTTP status is not decided here: the boundary maps the class to a status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.org.imports import ImportReport


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code = "ledger_error"

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self._fields = fields

    def fields(self) -> dict[str, Any]:
        return dict(self._fields)


class InvalidInput(LedgerError):
    """A value breaks a domain rule; ``field`` names the offending input."""

    code = "invalid_input"

    def __init__(self, field: str, detail: str, **fields: Any) -> None:
        super().__init__(detail, field=field, **fields)
        self.field = field


class Unauthenticated(LedgerError):
    code = "unauthenticated"


class AccessDenied(LedgerError):
    code = "forbidden"


class DatabaseUnavailable(LedgerError):
    """The database connection broke (or could not be opened) before the work finished.
    A transaction that did not commit left nothing behind; the caller may not know
    whether a COMMIT in flight landed, which is why writes carry idempotency keys."""

    code = "database_unavailable"

    def __init__(
        self,
        detail: str = "the connection to the database was lost before the request finished: retry with the same "
        "Idempotency-Key (a write that did not commit left nothing behind; one that did is answered "
        "again, never repeated)",
    ) -> None:
        super().__init__(detail)


class DatabaseBusy(DatabaseUnavailable):
    """The database did not answer in time: a lock held elsewhere, a statement over its
    time limit, a full pool or a full disk. The request was rolled back and changed nothing."""

    code = "database_busy"

    def __init__(self) -> None:
        super().__init__(
            "the database is busy and the request changed nothing: retry after Retry-After seconds with the "
            "same Idempotency-Key"
        )


class DatabaseMissing(LedgerError):
    """There is no SQLite file at the URL's path; only a migration creates one."""

    code = "database_missing"

    def __init__(self, path: str) -> None:
        super().__init__(f"there is no database at {path}: run ledger migrate to create it", path=path)


class DatabaseNotMigrated(LedgerError):
    """The database's schema is not at the revision this release reads and writes."""

    code = "database_not_migrated"

    def __init__(self, found: str | None, head: str) -> None:
        at = "has no schema" if found is None else f"is at schema revision {found}, this release's is {head}"
        super().__init__(f"the database {at}: run ledger migrate", found=found, head=head)


class DatabaseFromNewerRelease(DatabaseNotMigrated):
    """The database is at a schema revision this release does not know: a newer release
    migrated it. This release can neither read it nor migrate it back down (only the
    release that wrote a migration knows how to undo it), so it refuses to touch it."""

    code = "database_from_newer_release"

    def __init__(self, found: str, head: str) -> None:
        LedgerError.__init__(
            self,
            f"the database was upgraded by a newer release (schema revision {found}; this release's is {head}): "
            "install that release or restore a backup",
            found=found,
            head=head,
        )


class BackupFailed(LedgerError):
    """A backup or restore was not made, and left nothing behind: no partial file, no
    half-restored database. ``detail`` is one line for the operator."""

    code = "backup_failed"


class BackupToolMissing(BackupFailed):
    """PostgreSQL is backed up and restored by its own client tools, which are not installed."""

    code = "backup_tool_missing"

    def __init__(self, tool: str) -> None:
        super().__init__(
            f"{tool} is not installed: install the PostgreSQL client tools of the server's major version or later "
            "(Debian/Ubuntu: apt install postgresql-client)",
            tool=tool,
        )


class RestoreTargetNotEmpty(BackupFailed):
    """A restore writes into an empty database only: merged into a ledger, a second journal
    would break the chain of both, and overwriting one is not a thing to do by accident."""

    code = "restore_target_not_empty"

    def __init__(self, target: str, tables: int) -> None:
        super().__init__(
            f"{target} is not empty ({tables} tables): restore into a new, empty database", target=target, tables=tables
        )


class NotFound(LedgerError):
    code = "not_found"


class OrgUnitNotFound(NotFound):
    code = "org_unit_not_found"

    def __init__(self, code: str, field: str = "org_unit") -> None:
        super().__init__(f"org unit {code!r} does not exist", org_unit=code, field=field)


class MemberNotFound(NotFound):
    code = "member_not_found"

    def __init__(self, member_id: str, field: str = "member_id") -> None:
        super().__init__(f"member {member_id!r} does not exist", member_id=member_id, field=field)


class TransactionNotFound(NotFound):
    code = "transaction_not_found"

    def __init__(self, transaction_id: int) -> None:
        super().__init__(f"transaction {transaction_id} does not exist", transaction_id=transaction_id)


class Conflict(LedgerError):
    code = "conflict"


class AlreadyExists(Conflict):
    code = "already_exists"


class ImportConflict(Conflict):
    """An import rolled back, run again and rolled back each time by other imports of the
    same rows committing first: it wrote nothing, and a later run finds their rows."""

    code = "import_conflict"

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"other imports of the same rows committed first, {attempts} times: nothing of this file was imported; "
            "import it again, and it reports the rows they wrote as unchanged or updated",
            attempts=attempts,
        )


class MemberInactive(Conflict):
    code = "member_inactive"

    def __init__(self, member_id: str, consequence: str = "receives no new awards") -> None:
        super().__init__(
            f"member {member_id!r} is deactivated and {consequence}",
            member_id=member_id,
            field="member_id",
        )


class AlreadyReversed(Conflict):
    code = "already_reversed"

    def __init__(self, transaction_id: int, reversal_id: int | None) -> None:
        super().__init__(
            f"transaction {transaction_id} has already been reversed",
            transaction_id=transaction_id,
            reversal_id=reversal_id,
        )


class NotReversible(Conflict):
    code = "not_reversible"

    def __init__(self, transaction_id: int, kind: str) -> None:
        super().__init__(
            f"a {kind} transaction cannot be reversed",
            transaction_id=transaction_id,
            kind=kind,
        )


class InsufficientPoints(Conflict):
    code = "insufficient_points"

    def __init__(
        self, member_id: str | None, available: int, needed: int, detail: str | None = None, **fields: Any
    ) -> None:
        super().__init__(
            detail
            or f"{needed} points needed but only {available} available"
            + (f" to member {member_id!r}" if member_id else ""),
            member_id=member_id,
            available_points=available,
            needed_points=needed,
            **fields,
        )


class IdempotencyKeyReused(Conflict):
    code = "exists_with_different_body"

    def __init__(self, key: str) -> None:
        super().__init__(
            "this Idempotency-Key was already used for a different request",
            idempotency_key=key,
            field="Idempotency-Key",
        )


class IdempotencyKeyTaken(Conflict):
    """A key belongs to the ledger, not to a token: the first principal to use it holds it.
    Another principal's request with that key is refused whatever its body, so that a
    client that changed its token between an attempt and its retry learns of it instead
    of being awarded twice, and no principal ever sees another's stored answer."""

    code = "idempotency_key_taken"

    def __init__(self, key: str) -> None:
        super().__init__(
            "this Idempotency-Key was already used by another principal, and nothing was done: a retry is sent "
            "with the token of its first attempt, a new request with a new key",
            idempotency_key=key,
            field="Idempotency-Key",
        )


class RuleNotFound(NotFound):
    code = "rule_not_found"

    def __init__(self, rule: str, field: str = "rule") -> None:
        super().__init__(f"no earning rule {rule!r} is loaded", rule=rule, field=field)


@dataclass(frozen=True, slots=True)
class FileError:
    """One problem of a data file: where it is (the keys and indices down to it) and why."""

    at: tuple[str | int, ...]
    reason: str

    @property
    def path(self) -> str:
        """``at`` as a JSON pointer (RFC 6901): ``/rules/3/code``; "" is the whole file."""
        return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in self.at)


class DataFileInvalid(LedgerError):
    """A data file (rules, tiers, expiry) is refused whole; ``errors`` lists its problems
    with their paths, and ``omitted`` says how many more were found but not listed."""

    code = "invalid_data_file"

    def __init__(self, errors: Sequence[FileError], omitted: int = 0) -> None:
        total = len(errors) + omitted
        listed = f"; the first {len(errors)} are listed" if omitted else ""
        super().__init__(
            f"the file has {total} error(s) and was not loaded{listed}",
            errors=[{"path": e.path, "reason": e.reason} for e in errors],
            errors_omitted=omitted,
        )
        self.errors = tuple(errors)
        self.omitted = omitted


IMPORT_REFUSALS_LISTED_MAX = 100
"""Refused rows a problem lists (as ``DATA_FILE_ERRORS_LISTED_MAX`` for data files): a
person fixes a file by reading them, and a hundred is more than one careful edit leaves."""


class ImportRefused(LedgerError):
    """An import with any refused row writes nothing; ``report`` (an
    ``ledger.org.imports.ImportReport``) has every row's outcome, refused rows first."""

    code = "import_refused"

    def __init__(self, report: ImportReport) -> None:
        refusals = [o for o in report.outcomes if o.reason is not None]
        super().__init__(
            f"{report.refused} of {report.rows} row(s) refused: nothing was imported; fix them and import again",
            rows=report.rows,
            refused=report.refused,
            refusals=[
                {
                    "row": o.row,
                    "column": o.column,
                    "key": o.key,
                    "code": o.code,
                    "reason": o.reason,
                    "reason_zh": o.reason_zh,
                }
                for o in refusals[:IMPORT_REFUSALS_LISTED_MAX]
            ],
            refusals_omitted=report.refused - min(len(refusals), IMPORT_REFUSALS_LISTED_MAX),
        )
        self.report = report


class RuleInactive(Conflict):
    code = "rule_inactive"

    def __init__(self, rule: str, day: str) -> None:
        super().__init__(f"rule {rule!r} is not active on {day}", rule=rule, day=day, field="rule")


class NotEligible(Conflict):
    code = "not_eligible"

    def __init__(self, member_id: str, rule: str, roles: list[str]) -> None:
        super().__init__(
            f"member {member_id!r} has none of the roles rule {rule!r} rewards: {', '.join(roles)}",
            member_id=member_id,
            rule=rule,
            eligible_roles=roles,
        )


class CapExceeded(Conflict):
    code = "cap_exceeded"

    def __init__(self, rule: str, cap: str, cap_points: int, used_points: int, points: int) -> None:
        room = max(0, cap_points - used_points)
        super().__init__(
            f"rule {rule!r} pays at most {cap_points} points per {cap}; {used_points} already earned, "
            f'{room} left, {points} asked (send "clip": true to award what is left)',
            rule=rule,
            cap=cap,
            cap_points=cap_points,
            used_points=used_points,
            room_points=room,
            requested_points=points,
        )


class NothingToDeduct(Conflict):
    code = "nothing_to_deduct"

    def __init__(self, member_id: str, requested: int) -> None:
        super().__init__(
            f"member {member_id!r} has no available points to deduct ({requested} asked)",
            member_id=member_id,
            requested_points=requested,
            available_points=0,
        )


class ActivityNotFound(NotFound):
    code = "activity_not_found"

    def __init__(self, activity_id: int) -> None:
        super().__init__(f"activity {activity_id} does not exist", activity_id=activity_id)


class AlreadySettled(Conflict):
    code = "already_settled"

    def __init__(self, activity_id: int) -> None:
        super().__init__(f"activity {activity_id} is settled; its roster and awards are final", activity_id=activity_id)


class ClaimNotFound(NotFound):
    code = "claim_not_found"

    def __init__(self, claim_id: int) -> None:
        super().__init__(f"claim {claim_id} does not exist", claim_id=claim_id)


class ClaimNotPending(Conflict):
    code = "claim_not_pending"

    def __init__(self, claim_id: int, status: str) -> None:
        super().__init__(f"claim {claim_id} is {status}, not pending", claim_id=claim_id, claim_status=status)


class NoticeNotFound(NotFound):
    code = "notice_not_found"

    def __init__(self, notice_id: int, field: str = "notice_id") -> None:
        super().__init__(f"notice {notice_id} does not exist", notice_id=notice_id, field=field)


class NominationNotFound(NotFound):
    code = "nomination_not_found"

    def __init__(self, member_id: str, period: str, flag: str) -> None:
        super().__init__(
            f"member {member_id!r} holds no {flag} flag for {period}", member_id=member_id, period=period, flag=flag
        )


class NominationStateConflict(Conflict):
    code = "nomination_state_conflict"

    def __init__(self, member_id: str, flag: str, state: str, wanted: str) -> None:
        super().__init__(
            f"the {flag} flag of {member_id!r} is {state}; {wanted}",
            member_id=member_id,
            flag=flag,
            nomination_state=state,
        )


class RewardNotFound(NotFound):
    code = "reward_not_found"

    def __init__(self, reward: str, field: str = "reward") -> None:
        super().__init__(f"no reward {reward!r} is listed at the points shop", reward=reward, field=field)


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"

    def __init__(self, redemption_id: int) -> None:
        super().__init__(f"redemption {redemption_id} does not exist", redemption_id=redemption_id)


class RewardInactive(Conflict):
    code = "reward_inactive"

    def __init__(self, reward: str, active_from: Any, active_until: Any) -> None:
        super().__init__(
            f"reward {reward!r} is not on offer now",
            reward=reward,
            active_from=active_from,
            active_until=active_until,
        )


class RewardNotOffered(Conflict):
    code = "reward_not_offered"

    def __init__(self, reward: str, reward_unit: str, member_id: str) -> None:
        super().__init__(
            f"reward {reward!r} is offered by {reward_unit!r}, which is not member {member_id!r}'s unit "
            "or one above it",
            reward=reward,
            reward_org_unit=reward_unit,
            member_id=member_id,
        )


class OutOfStock(Conflict):
    code = "out_of_stock"

    def __init__(self, reward: str, stock: int, reserved: int, sold: int) -> None:
        super().__init__(
            f"reward {reward!r} is out of stock: {stock} in all, {reserved} held, {sold} handed over",
            reward=reward,
            stock=stock,
            reserved=reserved,
            sold=sold,
        )


class OverLimit(Conflict):
    code = "over_limit"

    def __init__(self, reward: str, limit: int, per: str, used: int) -> None:
        super().__init__(
            f"reward {reward!r} may be redeemed {limit} time(s) per {per}; this member has {used}",
            reward=reward,
            limit=limit,
            limit_period=per,
            used=used,
        )


class TierTooLow(Conflict):
    code = "tier_too_low"

    def __init__(self, reward: str, min_tier: str, tier: str | None, earned: int, needed: int | None) -> None:
        super().__init__(
            f"reward {reward!r} is for members of tier {min_tier} or above; "
            + (f"this member is at {tier} ({earned} points earned)" if tier else f"{earned} points earned"),
            reward=reward,
            min_tier=min_tier,
            member_tier=tier,
            earned_points=earned,
            needed_points=needed,
        )


class RedemptionNotHeld(Conflict):
    code = "redemption_not_held"

    def __init__(self, redemption_id: int, state: str) -> None:
        super().__init__(
            f"redemption {redemption_id} is {state}, no longer held",
            redemption_id=redemption_id,
            redemption_state=state,
        )


class HoldExpired(Conflict):
    code = "hold_expired"

    def __init__(self, redemption_id: int, expires_at: Any) -> None:
        super().__init__(
            f"the hold of redemption {redemption_id} ran out at {expires_at}; its points go back to the member",
            redemption_id=redemption_id,
            expires_at=expires_at,
        )


class PrincipalNotFound(NotFound):
    code = "principal_not_found"

    def __init__(self, principal_id: str) -> None:
        super().__init__(f"no principal {principal_id!r}", principal_id=principal_id, field="principal_id")


class ErasureBlocked(Conflict):
    """A member's personal information is not erased while a public notice shows their name
    or a hold waits at the counter: both need the person to be known until they end."""

    code = "erasure_blocked"

    def __init__(self, member_id: str, notice_ids: Sequence[int], redemption_ids: Sequence[int]) -> None:
        blockers = [f"open notice {n}" for n in notice_ids] + [f"held redemption {r}" for r in redemption_ids]
        super().__init__(
            f"member {member_id!r} is not erased while {', '.join(blockers)} names them; "
            "end the notice or settle the redemption first",
            member_id=member_id,
            notice_ids=list(notice_ids),
            redemption_ids=list(redemption_ids),
        )
