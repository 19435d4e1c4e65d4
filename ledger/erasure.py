"""Erasure: a resident's personal information deleted on request, the books left whole.

PIPL art. 47 lets a person ask for their data to be deleted; the ledger must still add up
and verify afterwards, and the points, tiers and nomination flags the person earned are
the community's record, not personal text. So an erasure

- replaces the member's name with a stable pseudonym (``已注销-7f3a``, from a digest of the
  id, so a nomination list or export still tells erased members apart) and clears the phone;
- erases the memo and evidence URL of every transaction of the member — text and salt,
  keeping the digest the chain covers (``ledger.journal.personal``), so verify still passes;
- clears the memo and evidence URL of the member's claims (the text the awards came from);
- scrubs the erased text out of the stored replies of idempotent requests about the
  member: a replay after the erasure answers the first result without the erased text,
  rather than hand back what was deleted (the reply's figures and ids are unchanged);
- records itself: an ``erasure`` row (who, why, when, how many values), and the request's
  audit row like every write.

It is refused while a public notice (公示) shows the member's name or a redemption of
theirs is held at the counter: the notice must name the person to be a notice, and the
counter must know whom to hand the goods to. Both end on their own; erase afterwards.

Nothing of the journal, postings, balances, lots, flags or notices changes. Stored replies
are read whole (they are JSON, the text may sit anywhere in them), so an erasure costs a
pass over the replies that name the member — rare work, done once per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import ErasureBlocked, InvalidInput
from ledger.honours.nominations import IN_NOTICE
from ledger.journal import personal
from ledger.journal.idempotency import Reply
from ledger.org import members
from ledger.shop.redemptions import HELD
from ledger.storage.tables import Claim, Erasure, IdempotencyRecord, NominationCurrent, Redemption, table_of
from ledger.values import MEMO_LENGTH_MAX

REPLY_FETCH_ROWS = 1_000
"""Stored replies read per round trip while scrubbing: memory stays flat however many there are."""

_claims = table_of(Claim)
_erasures = table_of(Erasure)
_replies = table_of(IdempotencyRecord)
_current = table_of(NominationCurrent)
_redemptions = table_of(Redemption)


@dataclass(frozen=True, slots=True)
class Erased(Reply):
    """What an erasure did: the member's new name and how many things it cleared."""

    member_id: str
    pseudonym: str
    values_erased: int  # memos and evidence URLs of transactions
    claims_cleared: int
    replies_scrubbed: int
    erasure_id: int


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MEMO_LENGTH_MAX:
        raise InvalidInput("reason", f"say why the member is erased, in 1 to {MEMO_LENGTH_MAX} characters")
    return reason


async def _blockers(conn: AsyncConnection, member_id: str) -> tuple[list[int], list[int]]:
    notices = await conn.execute(
        select(_current.c.notice_id)
        .where(_current.c.member_id == member_id, _current.c.state == IN_NOTICE)
        .order_by(_current.c.notice_id)
        .distinct()
    )
    held = await conn.execute(
        select(_redemptions.c.id)
        .where(_redemptions.c.member_id == member_id, _redemptions.c.state == HELD)
        .order_by(_redemptions.c.id)
    )
    return [n for (n,) in notices if n is not None], [r for (r,) in held]


async def erase(conn: AsyncConnection, member_id: str, reason: str, by: str, now: datetime) -> Erased:
    reason = check_reason(reason)
    notices, held = await _blockers(conn, member_id)
    if notices or held:
        raise ErasureBlocked(member_id, notices, held)
    name, phone = await members.replace_with_pseudonym(conn, member_id)
    texts = await personal.erase(conn, member_id, now)
    claim_texts = [
        text
        for row in await conn.execute(
            select(_claims.c.memo, _claims.c.evidence_url).where(_claims.c.member_id == member_id)
        )
        for text in row
        if text
    ]
    cleared = await conn.execute(
        update(_claims).where(_claims.c.member_id == member_id).values(memo="", evidence_url=None)
    )
    pseudonym = members.pseudonym(member_id)
    replacements = {text: "" for text in (*texts, *claim_texts, phone or "") if text} | {name: pseudonym}
    scrubbed = await _scrub_replies(conn, member_id, replacements)
    erasure_id = (
        await conn.execute(
            insert(_erasures)
            .values(member_id=member_id, reason=reason, erased_by=by, erased_at=now, values_erased=len(texts))
            .returning(_erasures.c.id)
        )
    ).scalar_one()
    return Erased(member_id, pseudonym, len(texts), cleared.rowcount, scrubbed, erasure_id)


def _scrubbed(value: Any, replacements: dict[str, str]) -> Any:
    """``value`` (a stored reply, as JSON) with every field that holds an erased text
    replaced. Whole values only: a reply's fields are its memo, name and phone, and a short
    memo ("1", "held") replaced inside other fields would corrupt ids, times and states."""
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [_scrubbed(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item, replacements) for key, item in value.items()}
    return value


def _names(value: Any, member_id: str) -> bool:
    """The stored reply concerns the member: it holds their id as a value somewhere."""
    if isinstance(value, dict):
        return any(_names(item, member_id) for item in value.values())
    if isinstance(value, list):
        return any(_names(item, member_id) for item in value)
    return isinstance(value, str) and value == member_id


async def _scrub_replies(conn: AsyncConnection, member_id: str, replacements: dict[str, str]) -> int:
    """Scrub the erased text out of the stored replies that name the member; how many changed."""
    changed = []
    rows = await conn.stream(
        select(_replies.c.key, _replies.c.result)
        .where(_replies.c.result.is_not(None))
        .execution_options(yield_per=REPLY_FETCH_ROWS)
    )
    async for key, result in rows:
        if _names(result, member_id) and (clean := _scrubbed(result, replacements)) != result:
            changed.append({"k": key, "result": clean})
    for change in changed:
        await conn.execute(update(_replies).where(_replies.c.key == change["k"]).values(result=change["result"]))
    return len(changed)
