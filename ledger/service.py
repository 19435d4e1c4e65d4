"""The ledger as one object: each method is one database transaction.

This is the surface the HTTP layer and the command line call. It owns the clock and
the time zone, opens the database transaction, and keeps every write that moves points
exactly-once through ``idempotency.once``.

A method that touches a member's or a unit's records, or records who did something,
takes the acting principal first (``actor``) and checks the actor's scope
(``ledger.access.scopes``) inside its own transaction, before the work: the check and
the work see the same rows, and a caller makes one call. Which roles may call at all is
the caller's to declare. The reads every role may make (the rules, the catalogue, one
unit) and the operator's (verify, checkpoints, the sweep) take no actor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Generic, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import erasure, verify
from ledger import member_copy as copies
from ledger.access import audit, principals, retention, scopes
from ledger.access.principals import Principal
from ledger.earning import activities, awards, claims, deductions, rules, summary
from ledger.earning.activities import Activity, Settlement
from ledger.earning.award_batch import AWARD_BATCH_MAX, AwardOutcome, AwardRequest, award_many
from ledger.earning.claims import Approved, Claim, Decided, Decision, Reviewed
from ledger.earning.rules import CapRoom
from ledger.errors import (
    AccessDenied,
    AlreadyReversed,
    DatabaseUnavailable,
    ImportConflict,
    InsufficientPoints,
    LedgerError,
    NoticeNotFound,
)
from ledger.honours import nominations, notice_board, notices, reports, tiers
from ledger.honours.exports import NominationExport
from ledger.journal import checkpoints, queries
from ledger.journal.group_commit import GroupCommit
from ledger.journal.idempotency import IdempotentRequest, R, item_request, once
from ledger.journal.periods import DEFAULT_TIMEZONE, period_of, zone
from ledger.journal.posting import AfterPosting, Journal, post
from ledger.org import imports, members, units
from ledger.org.members import Member, MemberChanges
from ledger.org.units import Move, Unit, UnitChanges, UnitCount
from ledger.shop import expiry, expiry_policies, redemptions, rewards
from ledger.shop.redemptions import HeldRedemption, HoldRequest, Redemption
from ledger.shop.rewards import RewardView
from ledger.storage import unit_versions
from ledger.storage.database import Database, is_write_conflict
from ledger.storage.datafiles import Stored
from ledger.values import Access, Balance, Level, Role

Clock = Callable[[], datetime]

AUDIT_BATCH_MAX = 500
"""Audit rows written per database transaction when writes arrive together: one insert
of 500 short rows is a few milliseconds, well under one commit's wait."""


IMPORT_ATTEMPTS = 3
"""Runs of one import file that may each lose a race with another import of the same rows
(``Ledger._import``). Each lost race means the other import committed, so a second run finds
its rows; three cover three offices' clerks importing the same file at once."""

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class Served(Generic[Request]):
    """A request of a group-committed write, who asks for it and what it touches (checked
    in the batch's own transaction), and the audit row of the HTTP request asking for it."""

    request: Request
    actor: Principal
    subjects: tuple[scopes.Subject, ...]
    pending: audit.Pending | None


BatchWrite = Callable[[AsyncConnection, Sequence[Request], datetime], Awaitable[Sequence[Result | LedgerError]]]
"""How a group-committed write does a batch inside its database transaction: each request's
result, or the ledger error that refuses it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


TIMER_PRINCIPAL = Principal.admin("timer")
"""Who the journal says sealed a checkpoint on the serving process's timer."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    holds_expired: int = 0
    lots_expired: int = 0
    points_expired: int = 0
    audit_rows_purged: int = 0
    tokens_purged: int = 0


@dataclass(frozen=True, slots=True)
class MemberOverview:
    """What a page shows of one member (the desk's member page, a resident's own), read in
    one transaction after one scope check. A part the page did not ask for is empty."""

    member: Member
    unit: Unit
    balance: Balance
    tier: reports.MemberTier
    statement: queries.StatementPage
    rooms: list[CapRoom]
    moves: list[Move]
    claims: list[Claim]
    redemptions: list[Redemption]


def _scope(actor: Principal) -> str | None:
    """The path an importer's rows must lie under; None for the whole tree."""
    return None if scopes.unscoped(actor) else actor.unit_path


class Ledger:
    def __init__(
        self,
        db: Database,
        timezone_name: str = DEFAULT_TIMEZONE,
        clock: Clock = utc_now,
        hold_ttl: timedelta = redemptions.HOLD_TTL_DEFAULT,
        checkpoint_key: bytes | None = None,
        keep: retention.Retention | None = None,
    ):
        """``checkpoint_key`` seals and checks checkpoints; a ledger without one seals
        none (a notice or export asks for one: a programmer error) and verify says the
        checkpoints went unchecked. ``keep`` says how long the sweep keeps audit rows and
        dead tokens (by default the environment's ``LEDGER_*_RETENTION_DAYS``)."""
        self.db = db
        self.tz = zone(timezone_name)
        tz = self.tz

        def expiry_dates(
            loaded: unit_versions.Loaded, units: Sequence[str], arrived_at: datetime
        ) -> Mapping[str, datetime | None]:
            return expiry_policies.expiry_dates(loaded, units, arrived_at, tz)

        # What posting needs from the features: the journal itself knows none of them.
        versioned = (expiry_policies.TABLE, tiers.TABLE)
        flags = AfterPosting(nominations.read_before, nominations.evaluate)
        self.journal = Journal(tz, db.is_postgres, expiry_dates, (flags,), versioned)
        self.clock = clock
        self.hold_ttl = hold_ttl
        self.checkpoint_key = checkpoint_key
        self.retention = keep or retention.Retention.from_environment()
        self._awards: GroupCommit[Served[AwardRequest], AwardOutcome] = GroupCommit(self._award_batch, AWARD_BATCH_MAX)
        self._holds: GroupCommit[Served[HoldRequest], tuple[Redemption, bool]] = GroupCommit(
            self._hold_batch, redemptions.HOLD_BATCH_MAX
        )
        self._audit: GroupCommit[audit.Entry, None] = GroupCommit(self._audit_batch, AUDIT_BATCH_MAX)

    @asynccontextmanager
    async def _read(self, actor: Principal, *subjects: scopes.Subject) -> AsyncIterator[AsyncConnection]:
        """A read transaction that first refuses what lies outside the actor's scope."""
        async with self.db.read() as conn:
            await scopes.authorize(conn, actor, subjects)
            yield conn

    @asynccontextmanager
    async def _write(self, actor: Principal, *subjects: scopes.Subject) -> AsyncIterator[AsyncConnection]:
        """A write transaction that first refuses what lies outside the actor's scope, and
        also stores the audit row of the request it serves, so the write and its row commit
        together (``ledger.access.audit``)."""
        serving = audit.current()
        async with self.db.write() as conn:
            await scopes.authorize(conn, actor, subjects)
            yield conn
            stored = await audit.store(conn, [serving], self.clock())
        audit.committed(stored)

    async def _write_once(
        self,
        actor: Principal,
        subjects: Sequence[scopes.Subject],
        request: IdempotentRequest,
        work: Callable[[AsyncConnection, datetime], Awaitable[R]],
        reply: type[R],
    ) -> tuple[R, bool]:
        async with self._write(actor, *subjects) as conn:
            now = self.clock()
            return await once(conn, request, now, lambda: work(conn, now), reply)

    # Org tree and members.

    async def register_unit(self, actor: Principal, code: str, name: str, level: Level, parent: str | None) -> Unit:
        """A new unit under ``parent`` (in the actor's subtree); only an admin opens a street office."""
        if parent is None and not scopes.unscoped(actor):
            raise AccessDenied("only an admin opens a street office", field="parent")
        under = () if parent is None else (scopes.unit(parent, field="parent"),)
        async with self._write(actor, *under) as conn:
            return await units.register_unit(conn, code, name, level, parent, self.clock())

    async def unit(self, code: str) -> Unit:
        async with self.db.read() as conn:
            return await units.get_unit(conn, code, field="code")

    async def acting_unit(self, actor: Principal, code: str, field: str = "code") -> Unit:
        """The unit an actor works on (a desk's): refused outside the actor's scope, naming ``field``."""
        async with self._read(actor, scopes.unit(code, field=field)) as conn:
            return await units.get_unit(conn, code, field=field)

    async def units(self, actor: Principal, under: str | None, limit: int, after: str | None) -> list[UnitCount]:
        """The subtree at ``under`` in tree order; None: the whole tree (an admin's)."""
        root = () if under is None else (scopes.unit(under, field="under"),)
        async with self._read(actor, *root) as conn:
            return await units.list_units(conn, under, limit, after)

    async def change_unit(self, actor: Principal, code: str, changes: UnitChanges) -> Unit:
        moved_to = () if changes.parent is None else (scopes.unit(changes.parent, field="parent"),)
        async with self._write(actor, scopes.unit(code, field="code"), *moved_to) as conn:
            return await units.change_unit(conn, code, changes, actor.id, self.clock())

    async def unit_moves(self, actor: Principal, code: str, limit: int, after: int | None) -> list[Move]:
        async with self._read(actor, scopes.unit(code, field="code")) as conn:
            return await units.unit_moves(conn, code, limit, after)

    async def unit_names(self, codes: Sequence[str]) -> dict[str, str]:
        """The Chinese names of the units of ``codes`` that exist, by code."""
        async with self.db.read() as conn:
            return {code: unit.name for code, unit in (await units.find_units(conn, codes)).items()}

    async def reward_names(self, codes: Sequence[str]) -> dict[str, str]:
        """The Chinese names of the rewards of ``codes`` that exist, by code."""
        async with self.db.read() as conn:
            return await rewards.reward_names(conn, codes)

    async def offices(self, limit: int) -> list[Unit]:
        async with self.db.read() as conn:
            return await units.offices(conn, limit)

    async def register_member(
        self,
        actor: Principal,
        member_id: str,
        name: str,
        org_unit: str,
        party_member: bool,
        roles: tuple[Role, ...],
        phone: str | None = None,
    ) -> Member:
        async with self._write(actor, scopes.unit(org_unit)) as conn:
            return await members.register_member(
                conn, member_id, name, org_unit, party_member, roles, self.clock(), phone
            )

    async def erase_member(
        self, actor: Principal, member_id: str, reason: str, request: IdempotentRequest
    ) -> tuple[erasure.Erased, bool]:
        """Erase the member's personal information on request (``ledger.erasure``)."""

        async def work(conn: AsyncConnection, now: datetime) -> erasure.Erased:
            return await erasure.erase(conn, member_id, reason, actor.id, now)

        return await self._write_once(actor, [scopes.member(member_id)], request, work, erasure.Erased)

    async def member(self, actor: Principal, member_id: str) -> Member:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await members.get_member(conn, member_id, field="id")

    async def change_member(self, actor: Principal, member_id: str, changes: MemberChanges) -> Member:
        moved_to = () if changes.org_unit is None else (scopes.unit(changes.org_unit),)
        async with self._write(actor, scopes.member(member_id), *moved_to) as conn:
            return await members.change_member(conn, member_id, changes, actor.id, self.clock())

    async def member_moves(self, actor: Principal, member_id: str, limit: int, after: int | None) -> list[Move]:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await members.member_moves(conn, member_id, limit, after)

    async def members(self, actor: Principal, org_unit: str, limit: int, after: str | None) -> list[Member]:
        async with self._read(actor, scopes.unit(org_unit)) as conn:
            return await members.list_members(conn, org_unit, limit, after)

    async def member_overview(
        self,
        actor: Principal,
        member_id: str,
        *,
        lines: int,
        with_rooms: bool = False,
        moves_shown: int = 0,
        claims_shown: int = 0,
        redemptions_shown: int = 0,
    ) -> MemberOverview:
        """The member with its unit, balance, tier and first ``lines`` statement lines, and,
        as asked, each rule's cap room and the latest moves, claims and redemptions: what
        would be seven calls, each checking the same member's scope, in one."""
        async with self._read(actor, scopes.member(member_id)) as conn:
            member = await members.get_member(conn, member_id, field="id")
            now, period = self.clock(), self.current_period()
            shown_redemptions = (
                await redemptions.listing(conn, limit=redemptions_shown, before=None, member_id=member_id)
                if redemptions_shown
                else []
            )
            return MemberOverview(
                member=member,
                unit=await units.get_unit(conn, member.org_unit),
                balance=await queries.balance(conn, member_id, period, now),
                tier=await reports.member_tier(conn, member_id, period),
                statement=await queries.statement(conn, member_id, lines, None),
                rooms=await rules.cap_room(conn, member.account_id, member.roles, now, self.tz) if with_rooms else [],
                moves=await members.member_moves(conn, member_id, moves_shown, None) if moves_shown else [],
                claims=await claims.member_claims(conn, member_id, claims_shown, None) if claims_shown else [],
                redemptions=shown_redemptions,
            )

    async def find_members(self, member_ids: Sequence[str]) -> dict[str, Member]:
        """The members of ``member_ids`` that exist, by id."""
        async with self.db.read() as conn:
            return await members.find_members(conn, member_ids)

    async def member_copy(self, actor: Principal, member_id: str) -> copies.MemberCopy:
        """Everything kept about the member, read from one snapshot (``ledger.member_copy``)."""
        async with self.db.snapshot() as conn:
            await scopes.authorize(conn, actor, [scopes.member(member_id)])
            return await copies.member_copy(conn, member_id, self.clock())

    async def search_members(self, actor: Principal, org_unit: str, text: str, limit: int) -> list[Member]:
        async with self._read(actor, scopes.unit(org_unit)) as conn:
            return await members.search_members(conn, org_unit, text, limit)

    async def import_units(self, actor: Principal, file: BinaryIO, *, dry_run: bool) -> imports.ImportReport:
        """Import an org unit file (see ``ledger.org.imports``): a dry run reads, an apply
        writes the whole file in one transaction or, with a refused row, raises
        ImportRefused and writes nothing. Every row must lie in the actor's subtree."""
        scope = _scope(actor)
        return await self._import(
            actor,
            file,
            dry_run,
            lambda conn: imports.import_units(conn, file, scope=scope, dry_run=dry_run, now=self.clock()),
        )

    async def import_members(
        self, actor: Principal, file: BinaryIO, *, dry_run: bool, progress: imports.Progress | None = None
    ) -> imports.ImportReport:
        """Import a member file, as ``import_units`` does; ``progress`` hears of each chunk.
        A move it makes is recorded as the actor's."""
        return await self._import(
            actor,
            file,
            dry_run,
            lambda conn: imports.import_members(
                conn, file, scope=_scope(actor), dry_run=dry_run, now=self.clock(), by=actor.id, progress=progress
            ),
        )

    async def _import(
        self,
        actor: Principal,
        file: BinaryIO,
        dry_run: bool,
        work: Callable[[AsyncConnection], Awaitable[imports.ImportReport]],
    ) -> imports.ImportReport:
        """Run an import; an apply that lost a race on PostgreSQL with another import of
        the same rows (the same new member twice: a unique violation; the same members in
        another order: a deadlock) is rolled back whole and run again from the file's
        start, when it finds the other import's rows and reports them unchanged or updated."""
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            file.seek(0)
            try:
                async with self._read(actor) if dry_run else self._write(actor) as conn:
                    return await work(conn)
            except DBAPIError as error:
                if not is_write_conflict(error):
                    raise
                if attempt == IMPORT_ATTEMPTS:
                    raise ImportConflict(IMPORT_ATTEMPTS) from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    # Moving points.

    async def award(self, actor: Principal, command: awards.AwardCommand, request: IdempotentRequest) -> AwardOutcome:
        """Award points; concurrent awards share a database transaction (group commit)."""
        issuer = () if command.org_unit is None else (scopes.unit(command.org_unit),)
        subjects = (scopes.member(command.member_id), *issuer)
        return await self._awards.submit(
            Served(AwardRequest(command, actor.id, request), actor, subjects, audit.current())
        )

    async def _award_batch(self, batch: Sequence[Served[AwardRequest]]) -> list[AwardOutcome | Exception]:
        async def write(
            conn: AsyncConnection, requests: Sequence[AwardRequest], now: datetime
        ) -> list[AwardOutcome | LedgerError]:
            return await award_many(conn, requests, now, self.journal)

        return await self._batch(write, batch)

    async def _batch(
        self, write: BatchWrite[Request, Result], batch: Sequence[Served[Request]]
    ) -> list[Result | Exception]:
        """One group-committed batch in one database transaction; each request's outcome.
        A request outside its actor's scope is refused by itself, in the same transaction."""
        try:
            async with self.db.write() as conn:
                now = self.clock()
                refused = await scopes.refusals(conn, [(s.actor, s.subjects) for s in batch])
                admitted = [s.request for s, error in zip(batch, refused, strict=True) if error is None]
                written = iter(await write(conn, admitted, now) if admitted else [])
                outcomes: list[Result | LedgerError] = [next(written) if e is None else e for e in refused]
                # The batch runs in the task of whichever request started it: each request
                # brings its own audit row, stored only if its write is in this commit.
                served = [s.pending for s, o in zip(batch, outcomes, strict=True) if not isinstance(o, Exception)]
                stored = await audit.store(conn, served, now)
            audit.committed(stored)
            return list(outcomes)
        except Exception as error:
            if len(batch) == 1:
                return [error]
            # Whatever broke the batch must not become every request's error: retry alone.
            return [outcome for served in batch for outcome in await self._batch(write, [served])]

    async def reverse(
        self, actor: Principal, transaction_id: int, reason: str, request: IdempotentRequest
    ) -> tuple[awards.Reversal, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> awards.Reversal:
            draft = await awards.prepare_reversal(conn, transaction_id, reason, actor.id)
            [posted] = await post(conn, [draft], now, self.journal)
            return awards.reversal_result(transaction_id, draft, posted)

        try:
            return await self._write_once(actor, [_transaction(transaction_id)], request, work, awards.Reversal)
        except (InsufficientPoints, IntegrityError) as error:
            # A concurrent reversal of the same transaction may have won the race: say so,
            # rather than report the overdraft or the unique violation it caused.
            async with self.db.read() as conn:
                winner = await awards.reversal_of(conn, transaction_id)
            if winner is not None:
                raise AlreadyReversed(transaction_id, winner) from error
            if isinstance(error, InsufficientPoints):
                raise awards.already_spent(error, transaction_id) from error
            raise

    async def deduct(
        self, actor: Principal, command: deductions.DeductionCommand, request: IdempotentRequest
    ) -> tuple[deductions.Deduction, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> deductions.Deduction:
            return await deductions.deduct(conn, command, actor.id, now, self.journal)

        return await self._write_once(actor, [scopes.member(command.member_id)], request, work, deductions.Deduction)

    # Earning rules, activities, claims.

    async def load_rules(self, actor: Principal, text: str) -> rules.LoadReport:
        file = rules.parse_rules_file(text)
        async with self._write(actor) as conn:
            return await rules.load_rules(conn, file, actor.id, self.clock())

    async def rules(self) -> list[rules.Rule]:
        async with self.db.read() as conn:
            return sorted((await rules.current_rules(conn)).values(), key=lambda r: r.code)

    async def create_activity(self, actor: Principal, command: activities.ActivityCommand) -> Activity:
        async with self._write(actor, scopes.unit(command.org_unit)) as conn:
            return await activities.create_activity(conn, command, actor.id, self.clock())

    async def activity(self, actor: Principal, activity_id: int) -> Activity:
        async with self._read(actor, _activity(activity_id)) as conn:
            return await activities.get_activity(conn, activity_id)

    async def activities(self, actor: Principal, org_unit: str, limit: int, before: int | None) -> list[Activity]:
        async with self._read(actor, scopes.unit(org_unit)) as conn:
            return await activities.list_activities(conn, org_unit, limit, before)

    async def put_roster(self, actor: Principal, activity_id: int, participants: list[tuple[str, int]]) -> Activity:
        """Replace the roster; every participant must lie in the actor's subtree."""
        async with self._write(actor, _activity(activity_id)) as conn:
            await scopes.authorize_members(conn, actor, [member_id for member_id, _ in participants], "participants")
            return await activities.put_roster(conn, activity_id, participants)

    async def _check_roster(self, conn: AsyncConnection, actor: Principal, activity_id: int) -> None:
        if not scopes.unscoped(actor):  # an admin's settle reads no roster to check
            roster = (await activities.get_activity(conn, activity_id)).roster
            await scopes.authorize_members(conn, actor, [line.member_id for line in roster], "participants")

    async def preview_settlement(self, actor: Principal, activity_id: int) -> Settlement:
        async with self._read(actor, _activity(activity_id)) as conn:
            return await activities.preview(conn, activity_id, self.clock(), self.journal)

    async def settle(self, actor: Principal, activity_id: int, request: IdempotentRequest) -> tuple[Settlement, bool]:
        """Award the roster in one transaction; every participant must lie in the actor's
        subtree (checked in that transaction, so a member moved out since the roster was
        put is refused, not awarded)."""
        async with self._write(actor, _activity(activity_id)) as conn:
            await self._check_roster(conn, actor, activity_id)
            now = self.clock()
            return await once(
                conn,
                request,
                now,
                lambda: activities.settle(conn, activity_id, actor.id, now, self.journal),
                Settlement,
            )

    async def submit_claim(self, actor: Principal, command: claims.ClaimCommand) -> Claim:
        async with self._write(actor, scopes.member(command.member_id)) as conn:
            return await claims.submit(conn, command, actor.id, self.clock(), self.tz)

    async def claim(self, actor: Principal, claim_id: int) -> Claim:
        async with self._read(actor, _claim(claim_id)) as conn:
            return await claims.get_claim(conn, claim_id)

    async def claims(
        self, actor: Principal, status: str | None, org_unit: str | None, limit: int, after: int | None
    ) -> list[Claim]:
        """The queue of the subtree at ``org_unit``; None: the whole tree's."""
        scope = () if org_unit is None else (scopes.unit(org_unit),)
        async with self._read(actor, *scope) as conn:
            return await claims.queue(conn, status, org_unit, limit, after)

    async def approve_claim(self, actor: Principal, claim_id: int, request: IdempotentRequest) -> tuple[Approved, bool]:
        """Approve: award by rule, caps applied; the claim as it now stands, with its award."""
        decided = await self._decide(actor, Decision(claim_id, approve=True), request, _claim(claim_id))
        assert decided.result is not None and decided.result.award is not None and decided.claim is not None
        return Approved(decided.claim, decided.result.award), decided.replayed

    async def decline_claim(self, actor: Principal, claim_id: int, reason: str) -> Claim:
        async with self._write(actor, _claim(claim_id)) as conn:
            return await claims.decline(conn, claim_id, reason, actor.id, self.clock())

    async def review_claims(
        self, actor: Principal, decisions: Sequence[Decision], request: IdempotentRequest
    ) -> list[Reviewed]:
        """Decide each claim by itself, in its own database transaction under its own key
        (``idempotency.item_request``): one refused claim leaves the others decided, and a
        retry with the batch's key replays what was done. A lost database fails the whole
        request instead: the retry it asks for replays the claims already decided.
        Every claim must lie in the actor's scope before any is decided: a batch that names
        one outside is refused whole, naming its line, as a roster is."""
        claims.check_decisions(list(decisions))
        if not scopes.unscoped(actor):  # an admin's review opens no transaction to check
            lines = [_claim(d.claim_id, f"decisions[{i}].claim_id") for i, d in enumerate(decisions)]
            async with self.db.read() as conn:  # refused whole here, before the first claim's own transaction
                await scopes.authorize(conn, actor, lines)
        reviewed = []
        for decision in decisions:
            item = item_request(
                request, f"claim:{decision.claim_id}", "review", decision.claim_id, decision.approve, decision.reason
            )
            try:
                reviewed.append(await self._decide(actor, decision, item))
            except DatabaseUnavailable:
                raise
            except LedgerError as refused:
                reviewed.append(Reviewed(decision, None, refused=refused))
        return reviewed

    async def _decide(
        self, actor: Principal, decision: Decision, request: IdempotentRequest, *subjects: scopes.Subject
    ) -> Reviewed:
        """One decision exactly once, with the claim as it stands after it, read in the same
        transaction."""

        async def work(conn: AsyncConnection, now: datetime) -> Decided:
            if decision.approve:
                return await claims.approve(conn, decision.claim_id, actor.id, now, self.journal)
            assert decision.reason is not None, "check_decisions gives every decline its reason"
            await claims.decline(conn, decision.claim_id, decision.reason, actor.id, now)
            return Decided(decision.claim_id)

        async with self._write(actor, *subjects) as conn:
            now = self.clock()
            result, replayed = await once(conn, request, now, lambda: work(conn, now), Decided)
            return Reviewed(decision, result, replayed, claim=await claims.get_claim(conn, decision.claim_id))

    async def member_claims(self, actor: Principal, member_id: str, limit: int, before: int | None) -> list[Claim]:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await claims.member_claims(conn, member_id, limit, before)

    async def unit_summary(self, actor: Principal, code: str, period: str | None, top: int) -> summary.UnitSummary:
        async with self._read(actor, scopes.unit(code, field="code")) as conn:
            return await summary.unit_summary(conn, code, period or self.current_period(), top)

    async def unit_months(self, actor: Principal, code: str, period: str | None) -> summary.UnitMonths:
        async with self._read(actor, scopes.unit(code, field="code")) as conn:
            return await summary.monthly_by_category(conn, code, period or self.current_period(), self.tz)

    async def cap_room(self, actor: Principal, member_id: str) -> list[CapRoom]:
        """Each rule's room left for the member in today's day, week and year."""
        async with self._read(actor, scopes.member(member_id)) as conn:
            member = await members.get_member(conn, member_id, field="id")
            return await rules.cap_room(conn, member.account_id, member.roles, self.clock(), self.tz)

    # Tiers and nominations.

    async def load_tiers(self, actor: Principal, text: str) -> list[Stored]:
        file = tiers.parse_tiers_file(text)
        async with self._write(actor) as conn:
            return await tiers.load_schemes(conn, file, actor.id, self.clock())

    async def tier_schemes(self) -> list[tiers.Scheme]:
        async with self.db.read() as conn:
            return sorted((await tiers.current_schemes(conn)).values(), key=lambda s: s.org_unit)

    async def member_tier(self, actor: Principal, member_id: str, period: str | None) -> reports.MemberTier:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await reports.member_tier(conn, member_id, period or self.current_period())

    async def nominations(
        self, actor: Principal, period: str | None, org_unit: str, flag: str | None
    ) -> list[reports.Nomination]:
        async with self._read(actor, scopes.unit(org_unit)) as conn:
            return await reports.nominations(conn, period or self.current_period(), org_unit, flag)

    async def evidence(
        self, actor: Principal, member_id: str, period: str | None, limit: int, after: int | None
    ) -> list[reports.EvidenceLine]:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await reports.evidence(conn, member_id, period or self.current_period(), limit, after)

    async def export_nominations(
        self, actor: Principal, period: str | None, org_unit: str | None, flag: str | None
    ) -> NominationExport:
        """The nomination list of the subtree at ``org_unit`` (None: the whole tree), read
        from one snapshot as its rows are consumed, with the checkpoint of that snapshot's
        chain head. A bad filter or a unit outside the actor's scope is raised here, before
        any row is asked for and before anything is sealed."""
        period = period or self.current_period()
        items = self._export_items(actor, period, org_unit, flag)
        head = await anext(items)
        assert isinstance(head, tuple)
        checkpoint, unit_name = head
        return NominationExport(checkpoint, period, unit_name, flag, _rows_after(items))

    async def _export_items(
        self, actor: Principal, period: str, org_unit: str | None, flag: str | None
    ) -> AsyncIterator[tuple[checkpoints.Checkpoint, str | None] | reports.ExportRow]:
        """The checkpoint and the unit's name, then the rows: one generator, so the
        snapshot stays open from the head it seals to the last row, and closes when the
        rows are done or dropped."""
        async with self.db.snapshot() as conn:
            await scopes.authorize(conn, actor, [] if org_unit is None else [scopes.unit(org_unit)])
            at = await checkpoints.head(conn)
            rows = reports.export_rows(conn, period, org_unit, flag)
            first = await anext(rows, None)  # the filters are checked here
            unit_name = None if org_unit is None else (await units.get_unit(conn, org_unit)).name
            # Sealed by another transaction while the snapshot stays open: the head it
            # seals is the snapshot's, whatever was posted since.
            async with self.db.write() as writer:
                checkpoint = await checkpoints.seal(writer, self._key(), at, self.clock(), actor.id)
            yield checkpoint, unit_name  # committed: a consumer that stops here leaves the seal made
            if first is not None:
                yield first
                async for row in rows:
                    yield row

    async def open_notice(
        self, actor: Principal, period: str | None, org_unit: str, flag: str | None, working_days: int | None
    ) -> notices.OpenedNotice:
        """Open the notice and, in the same transaction, seal the checkpoint its names rest on."""
        async with self._write(actor, scopes.unit(org_unit)) as conn:
            now = self.clock()
            opened = await notices.open_notice(
                conn, period or self.current_period(), org_unit, flag, working_days, actor.id, now, self.tz
            )
            # After the names were read: every transaction they rest on is at or before the head.
            checkpoint = await checkpoints.seal(conn, self._key(), await checkpoints.head(conn), now, actor.id)
            await notices.record_checkpoint(conn, opened.id, checkpoint.id)
            return replace(opened, checkpoint=checkpoint)

    async def object_to(
        self, actor: Principal, member_id: str, period: str, flag: str, reason: str
    ) -> notices.NominationState:
        async with self._write(actor, scopes.member(member_id)) as conn:
            return await notices.object_to(conn, member_id, period, flag, reason, actor.id, self.clock())

    async def decide(
        self, actor: Principal, member_id: str, period: str, flag: str, confirm: bool, reason: str
    ) -> notices.NominationState:
        async with self._write(actor, scopes.member(member_id)) as conn:
            return await notices.decide(conn, member_id, period, flag, confirm, reason, actor.id, self.clock(), self.tz)

    async def notices(
        self, actor: Principal, org_unit: str | None, limit: int, before: int | None
    ) -> list[notice_board.NoticeSummary]:
        """The notices of the subtree at ``org_unit`` (every notice without one), newest first."""
        async with self._read(actor, *(() if org_unit is None else (scopes.unit(org_unit),))) as conn:
            root = (await units.get_unit(conn, org_unit)).path if org_unit is not None else None
            return await notice_board.listing(conn, root, limit, before, self.tz)

    async def notice(self, actor: Principal, notice_id: int) -> notice_board.NoticeView:
        async with self._read(actor, scopes.Subject("notice", notice_id, "notice_id")) as conn:
            return await notice_board.view(conn, notice_id, self.tz)

    def notice_public_code(self, notice_id: int) -> str:
        """The code of the notice's public link (``notice_board.public_code``)."""
        return notice_board.public_code(self._key(), notice_id)

    async def public_notice(self, notice_id: int, code: str) -> notice_board.NoticeView:
        """The notice behind a public link; a wrong code is the same "not found" as a
        notice that does not exist, so a link tells nothing about other notices."""
        if not notice_board.public_code_matches(self._key(), notice_id, code):
            raise NoticeNotFound(notice_id)
        async with self.db.read() as conn:
            return await notice_board.view(conn, notice_id, self.tz)

    def today(self) -> str:
        """Today's date in the ledger's zone, as notices give their last day."""
        return self.clock().astimezone(self.tz).date().isoformat()

    # The points shop.

    async def load_expiry_policies(self, actor: Principal, text: str) -> list[Stored]:
        file = expiry_policies.parse_policies_file(text)
        async with self._write(actor) as conn:
            return await expiry_policies.load_policies(conn, file, actor.id, self.clock())

    async def expiry_policies(self) -> list[expiry_policies.Policy]:
        async with self.db.read() as conn:
            return sorted((await expiry_policies.current_policies(conn)).values(), key=lambda p: p.org_unit)

    async def create_reward(self, actor: Principal, command: rewards.RewardCommand) -> RewardView:
        async with self._write(actor, scopes.unit(command.org_unit)) as conn:
            return await rewards.create_reward(conn, command, actor.id, self.clock())

    async def change_reward(self, actor: Principal, code: str, changes: rewards.RewardChanges) -> RewardView:
        async with self._write(actor, _reward(code)) as conn:
            return await rewards.change_reward(conn, code, changes, self.clock(), self.journal.for_update)

    async def reward(self, code: str) -> RewardView:
        async with self.db.read() as conn:
            return rewards.view(await rewards.get_reward(conn, code), self.clock())

    async def rewards(self, org_unit: str | None, limit: int, after: str | None) -> list[RewardView]:
        async with self.db.read() as conn:
            return await rewards.catalog(conn, org_unit, self.clock(), limit, after)

    async def redeem(
        self, actor: Principal, reward: str, member_id: str, request: IdempotentRequest
    ) -> tuple[Redemption, bool]:
        """Place a hold on one unit of ``reward`` for the member (Idempotency-Key); concurrent
        holds share a database transaction (group commit), as awards do."""
        hold = HoldRequest(reward, member_id, actor.id, request)
        return await self._holds.submit(Served(hold, actor, (scopes.member(member_id),), audit.current()))

    async def _hold_batch(self, batch: Sequence[Served[HoldRequest]]) -> list[tuple[Redemption, bool] | Exception]:
        async def write(
            conn: AsyncConnection, requests: Sequence[HoldRequest], now: datetime
        ) -> list[tuple[Redemption, bool] | LedgerError]:
            return await redemptions.hold_many(conn, requests, now, self.hold_ttl, self.journal)

        return await self._batch(write, batch)

    async def fulfil(self, actor: Principal, redemption_id: int, request: IdempotentRequest) -> tuple[Redemption, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Redemption:
            return await redemptions.fulfil(conn, redemption_id, actor.id, now, self.journal)

        return await self._write_once(actor, [_redemption(redemption_id)], request, work, Redemption)

    async def cancel(self, actor: Principal, redemption_id: int, request: IdempotentRequest) -> tuple[Redemption, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Redemption:
            return await redemptions.cancel(conn, redemption_id, actor.id, now, self.journal)

        return await self._write_once(actor, [_redemption(redemption_id)], request, work, Redemption)

    async def redemption(self, actor: Principal, redemption_id: int) -> Redemption:
        async with self._read(actor, _redemption(redemption_id)) as conn:
            return await redemptions.get_redemption(conn, redemption_id)

    async def member_redemptions(
        self, actor: Principal, member_id: str, limit: int, before: int | None
    ) -> list[Redemption]:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await redemptions.listing(conn, limit=limit, before=before, member_id=member_id)

    async def reward_redemptions(
        self, actor: Principal, code: str, state: str | None, limit: int, before: int | None
    ) -> list[Redemption]:
        async with self._read(actor, _reward(code)) as conn:
            return await redemptions.listing(conn, limit=limit, before=before, reward_code=code, state=state)

    async def held_at_counter(
        self,
        actor: Principal,
        org_unit: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
        pickup_code: str | None = None,
    ) -> list[HeldRedemption]:
        """The unit's open holds, soonest to expire first; with ``pickup_code``, the one shown.
        The unit is the scope: a code held in another community is simply not found here."""
        async with self._read(actor, scopes.unit(org_unit)) as conn:
            return await redemptions.held_at_counter(conn, org_unit, pickup_code=pickup_code, limit=limit, after=after)

    async def sweep(self) -> SweepReport:
        """Release the holds past their time, expire the lots past their date, then purge
        the audit rows and tokens past their retention, each in batches of short
        transactions until none is left. Safe to run concurrently. The purge touches
        neither the journal nor anything a balance rests on."""
        holds = lots = points = 0
        while True:
            async with self._write(TIMER_PRINCIPAL) as conn:
                released = await redemptions.release_expired(conn, self.clock(), self.journal)
            holds += released
            if released < redemptions.RELEASE_BATCH:
                break
        while True:
            async with self._write(TIMER_PRINCIPAL) as conn:
                seen, expired, taken = await expiry.expire_lots(conn, self.clock(), self.journal)
            lots, points = lots + expired, points + taken
            if seen < expiry.EXPIRY_BATCH:
                break
        return SweepReport(
            holds,
            lots,
            points,
            await self._purged(retention.purge_audit),
            await self._purged(retention.purge_tokens),
        )

    async def _purged(self, purge: Callable[[AsyncConnection, retention.Retention, datetime], Awaitable[int]]) -> int:
        total = 0
        while True:
            # Not a request's write: the purge leaves no audit row of its own.
            async with self.db.write() as conn:
                purged = await purge(conn, self.retention, self.clock())
            total += purged
            if purged < retention.PURGE_BATCH:
                return total

    # Principals, scopes and the audit log.

    async def create_principal(
        self,
        actor: Principal,
        *,
        role: Access,
        label: str,
        org_unit: str | None,
        member_id: str | None,
        expires_at: datetime | None,
        key: bytes,
    ) -> tuple[Principal, str]:
        """A new token and its principal: an admin creates any; an organizer only member
        tokens, of members in its subtree."""
        if actor.role is Access.ORGANIZER and role is not Access.MEMBER:
            raise AccessDenied("an organizer creates member tokens only", field="role")
        of_member = () if member_id is None else (scopes.member(member_id),)
        async with self._write(actor, *of_member) as conn:
            return await principals.create_principal(
                conn,
                role=role,
                label=label,
                org_unit=org_unit,
                member_id=member_id,
                expires_at=expires_at,
                created_by=actor.id,
                now=self.clock(),
                key=key,
            )

    async def authenticate(self, token: str, key: bytes) -> Principal:
        async with self.db.read() as conn:
            return await principals.authenticate(conn, token, key, self.clock())

    async def principal(self, actor: Principal, principal_id: str) -> Principal:
        async with self._read(actor, _principal(principal_id)) as conn:
            return await principals.get_principal(conn, principal_id)

    async def principals(self, limit: int, after: str | None) -> list[Principal]:
        async with self.db.read() as conn:
            return await principals.list_principals(conn, limit, after)

    async def revoke_principal(self, actor: Principal, principal_id: str) -> Principal:
        async with self._write(actor, _principal(principal_id)) as conn:
            return await principals.revoke_principal(conn, principal_id, actor.id, self.clock())

    async def record_audit(self, entry: audit.Entry) -> None:
        """The row of a request whose answer no committed transaction recorded (a refused
        write), or of a read of personal data, stored before the data is shown.
        Concurrent rows share a database transaction, as awards do, so a busy member list
        costs one commit per batch of reads, not one per read."""
        await self._audit.submit(entry)

    async def _audit_batch(self, entries: Sequence[audit.Entry]) -> list[None]:
        async with self.db.write() as conn:
            await audit.record(conn, list(entries), self.clock())
        return [None] * len(entries)

    async def audit(
        self,
        actor: Principal,
        principal: str | None,
        since: datetime | None,
        limit: int,
        after: int | None,
        subject: str | None = None,
    ) -> list[audit.Recorded]:
        """The audit rows, oldest first: read by admins and by auditors of the whole tree."""
        if actor.unit_path is not None:
            raise AccessDenied("the audit log is read by admins and by auditors of the whole tree")
        async with self.db.read() as conn:
            return await audit.entries(conn, principal, since, limit, after, subject)

    # Reads.

    def current_period(self) -> str:
        return period_of(self.clock(), self.tz)

    async def balance(self, actor: Principal, member_id: str) -> Balance:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await queries.balance(conn, member_id, self.current_period(), self.clock())

    async def statement(
        self, actor: Principal, member_id: str, limit: int, cursor: str | None
    ) -> queries.StatementPage:
        async with self._read(actor, scopes.member(member_id)) as conn:
            return await queries.statement(conn, member_id, limit, cursor)

    async def transaction(self, actor: Principal, transaction_id: int) -> queries.TransactionView:
        async with self._read(actor, _transaction(transaction_id)) as conn:
            return await queries.transaction(conn, transaction_id)

    async def verify(self) -> verify.Report:
        async with self.db.snapshot() as conn:
            return await verify.verify(conn, self.checkpoint_key)

    # Checkpoints.

    def _key(self) -> bytes:
        assert self.checkpoint_key is not None, "sealing a checkpoint needs the ledger's checkpoint key"
        return self.checkpoint_key

    async def checkpoint(self, actor: Principal) -> checkpoints.Checkpoint:
        """Seal the chain head now."""
        async with self.db.write() as conn:
            return await checkpoints.seal(conn, self._key(), await checkpoints.head(conn), self.clock(), actor.id)

    async def checkpoint_if_moved(self) -> checkpoints.Checkpoint | None:
        """Seal the chain head unless the latest checkpoint already covers it (the timer's seal)."""
        async with self.db.write() as conn:
            return await checkpoints.seal_if_moved(
                conn, self._key(), self.clock(), TIMER_PRINCIPAL.id, self.journal.for_update
            )

    async def checkpoints(self, limit: int, before: int | None) -> list[checkpoints.Checkpoint]:
        async with self.db.read() as conn:
            return await checkpoints.listing(conn, limit, before)


def _activity(activity_id: int) -> scopes.Subject:
    return scopes.Subject("activity", activity_id, "activity_id")


def _claim(claim_id: int, field: str = "claim_id") -> scopes.Subject:
    return scopes.Subject("claim", claim_id, field)


def _transaction(transaction_id: int) -> scopes.Subject:
    return scopes.Subject("transaction", transaction_id, "transaction_id")


def _redemption(redemption_id: int) -> scopes.Subject:
    return scopes.Subject("redemption", redemption_id, "redemption_id")


def _reward(code: str) -> scopes.Subject:
    return scopes.Subject("reward", code, "code")


def _principal(principal_id: str) -> scopes.Subject:
    return scopes.Subject("principal", principal_id, "principal_id")


async def _rows_after(
    items: AsyncIterator[tuple[checkpoints.Checkpoint, str | None] | reports.ExportRow],
) -> AsyncIterator[reports.ExportRow]:
    async for item in items:
        assert isinstance(item, reports.ExportRow)
        yield item
