"""The ledger as one object: each method is one database transaction.

This is the surface the HTTP layer and the command line call. It owns the clock and
the time zone, opens the database transaction, and keeps every write that moves points
exactly-once through ``idempotency.once``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import erasure, verify
from ledger import member_copy as copies
from ledger.access import audit, principals, retention, scopes
from ledger.access.principals import Principal
from ledger.earning import activities, awards, claims, deductions, rules, summary
from ledger.earning.activities import Activity, Settlement
from ledger.earning.award_batch import AWARD_BATCH_MAX, AwardOutcome, AwardRequest, award_many
from ledger.earning.claims import Claim, Decided, Decision, Reviewed
from ledger.earning.rules import CapRoom
from ledger.errors import (
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
Served = tuple[Request, audit.Pending | None]
"""A request of a group-committed write and the audit row of the HTTP request asking for it."""

BatchWrite = Callable[[AsyncConnection, Sequence[Request], datetime], Awaitable[Sequence[Result | LedgerError]]]
"""How a group-committed write does a batch inside its database transaction: each request's
result, or the ledger error that refuses it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


TIMER_PRINCIPAL = "timer"
"""Who the journal says sealed a checkpoint on the serving process's timer."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    holds_expired: int = 0
    lots_expired: int = 0
    points_expired: int = 0
    audit_rows_purged: int = 0
    tokens_purged: int = 0


def _scope(principal: principals.Principal | None) -> str | None:
    """The path an importer's rows must lie under; None for the whole tree."""
    return None if principal is None or principal.role is Access.ADMIN else principal.unit_path


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
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that also stores the audit row of the request it serves,
        so the write and its row commit together (``ledger.access.audit``)."""
        serving = audit.current()
        async with self.db.write() as conn:
            yield conn
            stored = await audit.store(conn, [serving], self.clock())
        audit.committed(stored)

    async def _write_once(
        self,
        request: IdempotentRequest,
        work: Callable[[AsyncConnection, datetime], Awaitable[R]],
        reply: type[R],
    ) -> tuple[R, bool]:
        async with self._write() as conn:
            now = self.clock()
            return await once(conn, request, now, lambda: work(conn, now), reply)

    # Org tree and members.

    async def register_unit(self, code: str, name: str, level: Level, parent: str | None) -> Unit:
        async with self._write() as conn:
            return await units.register_unit(conn, code, name, level, parent, self.clock())

    async def unit(self, code: str) -> Unit:
        async with self.db.read() as conn:
            return await units.get_unit(conn, code, field="code")

    async def units(self, under: str | None, limit: int, after: str | None) -> list[UnitCount]:
        async with self.db.read() as conn:
            return await units.list_units(conn, under, limit, after)

    async def change_unit(self, code: str, changes: UnitChanges, by: str) -> Unit:
        async with self._write() as conn:
            return await units.change_unit(conn, code, changes, by, self.clock())

    async def unit_moves(self, code: str, limit: int, after: int | None) -> list[Move]:
        async with self.db.read() as conn:
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
        member_id: str,
        name: str,
        org_unit: str,
        party_member: bool,
        roles: tuple[Role, ...],
        phone: str | None = None,
    ) -> Member:
        async with self._write() as conn:
            return await members.register_member(
                conn, member_id, name, org_unit, party_member, roles, self.clock(), phone
            )

    async def erase_member(
        self, member_id: str, reason: str, by: str, request: IdempotentRequest
    ) -> tuple[erasure.Erased, bool]:
        """Erase the member's personal information on request (``ledger.erasure``)."""

        async def work(conn: AsyncConnection, now: datetime) -> erasure.Erased:
            return await erasure.erase(conn, member_id, reason, by, now)

        return await self._write_once(request, work, erasure.Erased)

    async def member(self, member_id: str) -> Member:
        async with self.db.read() as conn:
            return await members.get_member(conn, member_id, field="id")

    async def change_member(self, member_id: str, changes: MemberChanges, by: str) -> Member:
        async with self._write() as conn:
            return await members.change_member(conn, member_id, changes, by, self.clock())

    async def member_moves(self, member_id: str, limit: int, after: int | None) -> list[Move]:
        async with self.db.read() as conn:
            return await members.member_moves(conn, member_id, limit, after)

    async def members(self, org_unit: str, limit: int, after: str | None) -> list[Member]:
        async with self.db.read() as conn:
            return await members.list_members(conn, org_unit, limit, after)

    async def find_members(self, member_ids: Sequence[str]) -> dict[str, Member]:
        """The members of ``member_ids`` that exist, by id."""
        async with self.db.read() as conn:
            return await members.find_members(conn, member_ids)

    async def member_copy(self, member_id: str) -> copies.MemberCopy:
        """Everything kept about the member, read from one snapshot (``ledger.member_copy``)."""
        async with self.db.snapshot() as conn:
            return await copies.member_copy(conn, member_id, self.clock())

    async def search_members(self, org_unit: str, text: str, limit: int) -> list[Member]:
        async with self.db.read() as conn:
            return await members.search_members(conn, org_unit, text, limit)

    async def import_units(
        self, file: BinaryIO, *, dry_run: bool, principal: Principal | None = None
    ) -> imports.ImportReport:
        """Import an org unit file (see ``ledger.org.imports``): a dry run reads, an apply
        writes the whole file in one transaction or, with a refused row, raises
        ImportRefused and writes nothing. ``principal`` None: the command line."""
        scope = _scope(principal)
        return await self._import(
            file, dry_run, lambda conn: imports.import_units(conn, file, scope=scope, dry_run=dry_run, now=self.clock())
        )

    async def import_members(
        self,
        file: BinaryIO,
        *,
        dry_run: bool,
        by: str,
        principal: Principal | None = None,
        progress: imports.Progress | None = None,
    ) -> imports.ImportReport:
        """Import a member file, as ``import_units`` does; ``progress`` hears of each chunk.
        A move it makes is recorded as ``by``'s, who does the import."""
        return await self._import(
            file,
            dry_run,
            lambda conn: imports.import_members(
                conn, file, scope=_scope(principal), dry_run=dry_run, now=self.clock(), by=by, progress=progress
            ),
        )

    async def _import(
        self, file: BinaryIO, dry_run: bool, work: Callable[[AsyncConnection], Awaitable[imports.ImportReport]]
    ) -> imports.ImportReport:
        """Run an import; an apply that lost a race on PostgreSQL with another import of
        the same rows (the same new member twice: a unique violation; the same members in
        another order: a deadlock) is rolled back whole and run again from the file's
        start, when it finds the other import's rows and reports them unchanged or updated."""
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            file.seek(0)
            try:
                async with self.db.read() if dry_run else self._write() as conn:
                    return await work(conn)
            except DBAPIError as error:
                if not is_write_conflict(error):
                    raise
                if attempt == IMPORT_ATTEMPTS:
                    raise ImportConflict(IMPORT_ATTEMPTS) from error
        raise AssertionError("unreachable: the last attempt returns or raises")

    # Moving points.

    async def award(self, command: awards.AwardCommand, recorded_by: str, request: IdempotentRequest) -> AwardOutcome:
        """Award points; concurrent awards share a database transaction (group commit)."""
        return await self._awards.submit((AwardRequest(command, recorded_by, request), audit.current()))

    async def _award_batch(self, batch: Sequence[Served[AwardRequest]]) -> list[AwardOutcome | Exception]:
        async def write(
            conn: AsyncConnection, requests: Sequence[AwardRequest], now: datetime
        ) -> list[AwardOutcome | LedgerError]:
            return await award_many(conn, requests, now, self.journal)

        return await self._batch(write, batch)

    async def _batch(
        self, write: BatchWrite[Request, Result], batch: Sequence[Served[Request]]
    ) -> list[Result | Exception]:
        """One group-committed batch in one database transaction; each request's outcome."""
        try:
            async with self.db.write() as conn:
                now = self.clock()
                outcomes = await write(conn, [r for r, _ in batch], now)
                # The batch runs in the task of whichever request started it: each request
                # brings its own audit row, stored only if its write is in this commit.
                served = [p for (_, p), o in zip(batch, outcomes, strict=True) if not isinstance(o, Exception)]
                stored = await audit.store(conn, served, now)
            audit.committed(stored)
            return list(outcomes)
        except Exception as error:
            if len(batch) == 1:
                return [error]
            # Whatever broke the batch must not become every request's error: retry alone.
            return [outcome for served in batch for outcome in await self._batch(write, [served])]

    async def reverse(
        self, transaction_id: int, reason: str, recorded_by: str, request: IdempotentRequest
    ) -> tuple[awards.Reversal, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> awards.Reversal:
            draft = await awards.prepare_reversal(conn, transaction_id, reason, recorded_by)
            [posted] = await post(conn, [draft], now, self.journal)
            return awards.reversal_result(transaction_id, draft, posted)

        try:
            return await self._write_once(request, work, awards.Reversal)
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
        self, command: deductions.DeductionCommand, recorded_by: str, request: IdempotentRequest
    ) -> tuple[deductions.Deduction, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> deductions.Deduction:
            return await deductions.deduct(conn, command, recorded_by, now, self.journal)

        return await self._write_once(request, work, deductions.Deduction)

    # Earning rules, activities, claims.

    async def load_rules(self, text: str, loaded_by: str) -> rules.LoadReport:
        file = rules.parse_rules_file(text)
        async with self._write() as conn:
            return await rules.load_rules(conn, file, loaded_by, self.clock())

    async def rules(self) -> list[rules.Rule]:
        async with self.db.read() as conn:
            return sorted((await rules.current_rules(conn)).values(), key=lambda r: r.code)

    async def create_activity(self, command: activities.ActivityCommand, created_by: str) -> Activity:
        async with self._write() as conn:
            return await activities.create_activity(conn, command, created_by, self.clock())

    async def activity(self, activity_id: int) -> Activity:
        async with self.db.read() as conn:
            return await activities.get_activity(conn, activity_id)

    async def activities(self, org_unit: str, limit: int, before: int | None) -> list[Activity]:
        async with self.db.read() as conn:
            return await activities.list_activities(conn, org_unit, limit, before)

    async def put_roster(self, activity_id: int, participants: list[tuple[str, int]]) -> Activity:
        async with self._write() as conn:
            return await activities.put_roster(conn, activity_id, participants)

    async def preview_settlement(self, activity_id: int) -> Settlement:
        async with self.db.read() as conn:
            return await activities.preview(conn, activity_id, self.clock(), self.journal)

    async def settle(self, activity_id: int, settled_by: str, request: IdempotentRequest) -> tuple[Settlement, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Settlement:
            return await activities.settle(conn, activity_id, settled_by, now, self.journal)

        return await self._write_once(request, work, Settlement)

    async def submit_claim(self, command: claims.ClaimCommand, created_by: str) -> Claim:
        async with self._write() as conn:
            return await claims.submit(conn, command, created_by, self.clock(), self.tz)

    async def claim(self, claim_id: int) -> Claim:
        async with self.db.read() as conn:
            return await claims.get_claim(conn, claim_id)

    async def claims(self, status: str | None, org_unit: str | None, limit: int, after: int | None) -> list[Claim]:
        async with self.db.read() as conn:
            return await claims.queue(conn, status, org_unit, limit, after)

    async def approve_claim(self, claim_id: int, reviewer: str, request: IdempotentRequest) -> tuple[Decided, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Decided:
            return await claims.approve(conn, claim_id, reviewer, now, self.journal)

        return await self._write_once(request, work, Decided)

    async def decline_claim(self, claim_id: int, reason: str, reviewer: str) -> Claim:
        async with self._write() as conn:
            return await claims.decline(conn, claim_id, reason, reviewer, self.clock())

    async def review_claims(
        self, decisions: Sequence[Decision], reviewer: str, request: IdempotentRequest
    ) -> list[Reviewed]:
        """Decide each claim by itself, in its own database transaction under its own key
        (``idempotency.item_request``): one refused claim leaves the others decided, and a
        retry with the batch's key replays what was done. A lost database fails the whole
        request instead: the retry it asks for replays the claims already decided."""
        claims.check_decisions(list(decisions))
        reviewed = []
        for decision in decisions:
            item = item_request(
                request, f"claim:{decision.claim_id}", "review", decision.claim_id, decision.approve, decision.reason
            )
            try:
                result, replayed = await self._review(decision, reviewer, item)
            except DatabaseUnavailable:
                raise
            except LedgerError as refused:
                reviewed.append(Reviewed(decision, None, refused=refused))
                continue
            reviewed.append(Reviewed(decision, result, replayed))
        return reviewed

    async def _review(self, decision: Decision, reviewer: str, request: IdempotentRequest) -> tuple[Decided, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Decided:
            if decision.approve:
                return await claims.approve(conn, decision.claim_id, reviewer, now, self.journal)
            assert decision.reason is not None, "check_decisions gives every decline its reason"
            await claims.decline(conn, decision.claim_id, decision.reason, reviewer, now)
            return Decided(decision.claim_id)

        return await self._write_once(request, work, Decided)

    async def member_claims(self, member_id: str, limit: int, before: int | None) -> list[Claim]:
        async with self.db.read() as conn:
            return await claims.member_claims(conn, member_id, limit, before)

    async def unit_summary(self, code: str, period: str | None, top: int) -> summary.UnitSummary:
        async with self.db.read() as conn:
            return await summary.unit_summary(conn, code, period or self.current_period(), top)

    async def unit_months(self, code: str, period: str | None) -> summary.UnitMonths:
        async with self.db.read() as conn:
            return await summary.monthly_by_category(conn, code, period or self.current_period(), self.tz)

    async def cap_room(self, member_id: str) -> list[CapRoom]:
        """Each rule's room left for the member in today's day, week and year."""
        async with self.db.read() as conn:
            member = await members.get_member(conn, member_id, field="id")
            return await rules.cap_room(conn, member.account_id, member.roles, self.clock(), self.tz)

    # Tiers and nominations.

    async def load_tiers(self, text: str, loaded_by: str) -> list[tuple[str, int]]:
        file = tiers.parse_tiers_file(text)
        async with self._write() as conn:
            return await tiers.load_schemes(conn, file, loaded_by, self.clock())

    async def tier_schemes(self) -> list[tiers.Scheme]:
        async with self.db.read() as conn:
            return sorted((await tiers.current_schemes(conn)).values(), key=lambda s: s.org_unit)

    async def member_tier(self, member_id: str, period: str | None) -> reports.MemberTier:
        async with self.db.read() as conn:
            return await reports.member_tier(conn, member_id, period or self.current_period())

    async def nominations(self, period: str | None, org_unit: str, flag: str | None) -> list[reports.Nomination]:
        async with self.db.read() as conn:
            return await reports.nominations(conn, period or self.current_period(), org_unit, flag)

    async def evidence(
        self, member_id: str, period: str | None, limit: int, after: int | None
    ) -> list[reports.EvidenceLine]:
        async with self.db.read() as conn:
            return await reports.evidence(conn, member_id, period or self.current_period(), limit, after)

    async def export_nominations(
        self, period: str | None, org_unit: str | None, flag: str | None, by: str
    ) -> NominationExport:
        """The nomination list, read from one snapshot as its rows are consumed, with the
        checkpoint of that snapshot's chain head. A bad filter is raised here, before any
        row is asked for and before anything is sealed."""
        period = period or self.current_period()
        items = self._export_items(period, org_unit, flag, by)
        head = await anext(items)
        assert isinstance(head, tuple)
        checkpoint, unit_name = head
        return NominationExport(checkpoint, period, unit_name, flag, _rows_after(items))

    async def _export_items(
        self, period: str, org_unit: str | None, flag: str | None, by: str
    ) -> AsyncIterator[tuple[checkpoints.Checkpoint, str | None] | dict[str, Any]]:
        """The checkpoint and the unit's name, then the rows: one generator, so the
        snapshot stays open from the head it seals to the last row, and closes when the
        rows are done or dropped."""
        async with self.db.snapshot() as conn:
            at = await checkpoints.head(conn)
            rows = reports.export_rows(conn, period, org_unit, flag)
            first = await anext(rows, None)  # the filters are checked here
            unit_name = None if org_unit is None else (await units.get_unit(conn, org_unit)).name
            # Sealed by another transaction while the snapshot stays open: the head it
            # seals is the snapshot's, whatever was posted since.
            async with self.db.write() as writer:
                checkpoint = await checkpoints.seal(writer, self._key(), at, self.clock(), by)
            yield checkpoint, unit_name  # committed: a consumer that stops here leaves the seal made
            if first is not None:
                yield first
                async for row in rows:
                    yield row

    async def open_notice(
        self, period: str | None, org_unit: str, flag: str | None, working_days: int | None, by: str
    ) -> notices.OpenedNotice:
        """Open the notice and, in the same transaction, seal the checkpoint its names rest on."""
        async with self._write() as conn:
            now = self.clock()
            opened = await notices.open_notice(
                conn, period or self.current_period(), org_unit, flag, working_days, by, now, self.tz
            )
            # After the names were read: every transaction they rest on is at or before the head.
            checkpoint = await checkpoints.seal(conn, self._key(), await checkpoints.head(conn), now, by)
            await notices.record_checkpoint(conn, opened.id, checkpoint.id)
            return replace(opened, checkpoint=checkpoint)

    async def object_to(self, member_id: str, period: str, flag: str, reason: str, by: str) -> notices.NominationState:
        async with self._write() as conn:
            return await notices.object_to(conn, member_id, period, flag, reason, by, self.clock())

    async def decide(
        self, member_id: str, period: str, flag: str, confirm: bool, reason: str, by: str
    ) -> notices.NominationState:
        async with self._write() as conn:
            return await notices.decide(conn, member_id, period, flag, confirm, reason, by, self.clock(), self.tz)

    async def notices(self, org_unit: str | None, limit: int, before: int | None) -> list[notice_board.NoticeSummary]:
        """The notices of the subtree at ``org_unit`` (every notice without one), newest first."""
        async with self.db.read() as conn:
            root = (await units.get_unit(conn, org_unit)).path if org_unit is not None else None
            return await notice_board.listing(conn, root, limit, before, self.tz)

    async def notice(self, notice_id: int) -> notice_board.NoticeView:
        async with self.db.read() as conn:
            return await notice_board.view(conn, notice_id, self.tz)

    def notice_public_code(self, notice_id: int) -> str:
        """The code of the notice's public link (``notice_board.public_code``)."""
        return notice_board.public_code(self._key(), notice_id)

    async def public_notice(self, notice_id: int, code: str) -> notice_board.NoticeView:
        """The notice behind a public link; a wrong code is the same "not found" as a
        notice that does not exist, so a link tells nothing about other notices."""
        if not notice_board.public_code_matches(self._key(), notice_id, code):
            raise NoticeNotFound(notice_id)
        return await self.notice(notice_id)

    def today(self) -> str:
        """Today's date in the ledger's zone, as notices give their last day."""
        return self.clock().astimezone(self.tz).date().isoformat()

    # The points shop.

    async def load_expiry_policies(self, text: str, loaded_by: str) -> list[tuple[str, int]]:
        file = expiry_policies.parse_policies_file(text)
        async with self._write() as conn:
            return await expiry_policies.load_policies(conn, file, loaded_by, self.clock())

    async def expiry_policies(self) -> list[expiry_policies.Policy]:
        async with self.db.read() as conn:
            return sorted((await expiry_policies.current_policies(conn)).values(), key=lambda p: p.org_unit)

    async def create_reward(self, command: rewards.RewardCommand, created_by: str) -> RewardView:
        async with self._write() as conn:
            return await rewards.create_reward(conn, command, created_by, self.clock())

    async def change_reward(self, code: str, changes: rewards.RewardChanges) -> RewardView:
        async with self._write() as conn:
            return await rewards.change_reward(conn, code, changes, self.clock(), self.journal.for_update)

    async def reward(self, code: str) -> RewardView:
        async with self.db.read() as conn:
            return rewards.view(await rewards.get_reward(conn, code), self.clock())

    async def rewards(self, org_unit: str | None, limit: int, after: str | None) -> list[RewardView]:
        async with self.db.read() as conn:
            return await rewards.catalog(conn, org_unit, self.clock(), limit, after)

    async def redeem(self, reward: str, member_id: str, by: str, request: IdempotentRequest) -> tuple[Redemption, bool]:
        """Place a hold on one unit of ``reward`` for the member (Idempotency-Key); concurrent
        holds share a database transaction (group commit), as awards do."""
        return await self._holds.submit((HoldRequest(reward, member_id, by, request), audit.current()))

    async def _hold_batch(self, batch: Sequence[Served[HoldRequest]]) -> list[tuple[Redemption, bool] | Exception]:
        async def write(
            conn: AsyncConnection, requests: Sequence[HoldRequest], now: datetime
        ) -> list[tuple[Redemption, bool] | LedgerError]:
            return await redemptions.hold_many(conn, requests, now, self.hold_ttl, self.journal)

        return await self._batch(write, batch)

    async def fulfil(self, redemption_id: int, by: str, request: IdempotentRequest) -> tuple[Redemption, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Redemption:
            return await redemptions.fulfil(conn, redemption_id, by, now, self.journal)

        return await self._write_once(request, work, Redemption)

    async def cancel(self, redemption_id: int, by: str, request: IdempotentRequest) -> tuple[Redemption, bool]:
        async def work(conn: AsyncConnection, now: datetime) -> Redemption:
            return await redemptions.cancel(conn, redemption_id, by, now, self.journal)

        return await self._write_once(request, work, Redemption)

    async def redemption(self, redemption_id: int) -> Redemption:
        async with self.db.read() as conn:
            return await redemptions.get_redemption(conn, redemption_id)

    async def redemptions(self, limit: int, before: int | None, **of: str | None) -> list[Redemption]:
        """A member's (``member_id=``) or a reward's (``reward_code=``, ``state=``) redemptions."""
        async with self.db.read() as conn:
            return await redemptions.listing(conn, limit=limit, before=before, **of)

    async def held_at_counter(
        self,
        org_unit: str,
        limit: int,
        after: tuple[datetime, int] | None = None,
        pickup_code: str | None = None,
    ) -> list[HeldRedemption]:
        """The unit's open holds, soonest to expire first; with ``pickup_code``, the one shown."""
        async with self.db.read() as conn:
            return await redemptions.held_at_counter(conn, org_unit, pickup_code=pickup_code, limit=limit, after=after)

    async def sweep(self) -> SweepReport:
        """Release the holds past their time, expire the lots past their date, then purge
        the audit rows and tokens past their retention, each in batches of short
        transactions until none is left. Safe to run concurrently. The purge touches
        neither the journal nor anything a balance rests on."""
        holds = lots = points = 0
        while True:
            async with self._write() as conn:
                released = await redemptions.release_expired(conn, self.clock(), self.journal)
            holds += released
            if released < redemptions.RELEASE_BATCH:
                break
        while True:
            async with self._write() as conn:
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
        *,
        role: Access,
        label: str,
        org_unit: str | None,
        member_id: str | None,
        expires_at: datetime | None,
        created_by: str,
        key: bytes,
    ) -> tuple[Principal, str]:
        async with self._write() as conn:
            return await principals.create_principal(
                conn,
                role=role,
                label=label,
                org_unit=org_unit,
                member_id=member_id,
                expires_at=expires_at,
                created_by=created_by,
                now=self.clock(),
                key=key,
            )

    async def authenticate(self, token: str, key: bytes) -> Principal:
        async with self.db.read() as conn:
            return await principals.authenticate(conn, token, key, self.clock())

    async def principal(self, principal_id: str) -> Principal:
        async with self.db.read() as conn:
            return await principals.get_principal(conn, principal_id)

    async def principals(self, limit: int, after: str | None) -> list[Principal]:
        async with self.db.read() as conn:
            return await principals.list_principals(conn, limit, after)

    async def revoke_principal(self, principal_id: str, by: str) -> Principal:
        async with self._write() as conn:
            return await principals.revoke_principal(conn, principal_id, by, self.clock())

    async def authorize(self, principal: Principal, *subjects: scopes.Subject) -> None:
        """Refuse unless the principal's scope covers every subject (see ``ledger.access.scopes``)."""
        if principal.role is Access.ADMIN:
            return  # the whole tree: not even a lookup (an unknown subject fails in the write)
        async with self.db.read() as conn:
            await scopes.authorize(conn, principal, subjects)

    async def authorize_members(self, principal: Principal, member_ids: Sequence[str], field: str) -> None:
        if principal.role is Access.ADMIN:
            return
        async with self.db.read() as conn:
            await scopes.authorize_members(conn, principal, member_ids, field)

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
        self, principal: str | None, since: datetime | None, limit: int, after: int | None, subject: str | None = None
    ) -> list[audit.Recorded]:
        async with self.db.read() as conn:
            return await audit.entries(conn, principal, since, limit, after, subject)

    # Reads.

    def current_period(self) -> str:
        return period_of(self.clock(), self.tz)

    async def balance(self, member_id: str) -> Balance:
        async with self.db.read() as conn:
            return await queries.balance(conn, member_id, self.current_period(), self.clock())

    async def statement(self, member_id: str, limit: int, cursor: str | None) -> queries.StatementPage:
        async with self.db.read() as conn:
            return await queries.statement(conn, member_id, limit, cursor)

    async def transaction(self, transaction_id: int) -> queries.TransactionView:
        async with self.db.read() as conn:
            return await queries.transaction(conn, transaction_id)

    async def verify(self) -> verify.Report:
        async with self.db.snapshot() as conn:
            return await verify.verify(conn, self.checkpoint_key)

    # Checkpoints.

    def _key(self) -> bytes:
        assert self.checkpoint_key is not None, "sealing a checkpoint needs the ledger's checkpoint key"
        return self.checkpoint_key

    async def checkpoint(self, by: str) -> checkpoints.Checkpoint:
        """Seal the chain head now."""
        async with self.db.write() as conn:
            return await checkpoints.seal(conn, self._key(), await checkpoints.head(conn), self.clock(), by)

    async def checkpoint_if_moved(self) -> checkpoints.Checkpoint | None:
        """Seal the chain head unless the latest checkpoint already covers it (the timer's seal)."""
        async with self.db.write() as conn:
            return await checkpoints.seal_if_moved(
                conn, self._key(), self.clock(), TIMER_PRINCIPAL, self.journal.for_update
            )

    async def checkpoints(self, limit: int, before: int | None) -> list[checkpoints.Checkpoint]:
        async with self.db.read() as conn:
            return await checkpoints.listing(conn, limit, before)


async def _rows_after(
    items: AsyncIterator[tuple[checkpoints.Checkpoint, str | None] | dict[str, Any]],
) -> AsyncIterator[dict[str, Any]]:
    async for item in items:
        assert isinstance(item, dict)
        yield item
