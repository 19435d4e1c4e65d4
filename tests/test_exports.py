"""The nomination list leaves with a Chinese file name (RFC 6266 ``filename*``) and, as
CSV, exactly one charset."""

from datetime import datetime

from ledger import Role
from ledger.honours import exports
from ledger.journal.checkpoints import Checkpoint
from tests.builders import MICRO, STREET, award, tiers, tree

MEMBERS = 20  # each raises both flags: 40 rows, a page or two of the list
STREET_NAME_QUOTED = "%E4%B8%9C%E5%A4%A7%E8%A1%97%E8%A1%97%E9%81%93"  # 东大街街道
LIST_QUOTED = "%E6%8F%90%E5%90%8D%E5%90%8D%E5%8D%95"  # 提名名单


async def _forty_rows(client, ledger) -> str:
    """Twenty party members over 优秀 in one micro-grid, each flagged twice; the period."""
    await tree(ledger)
    await tiers(ledger)
    for i in range(MEMBERS):
        member_id = f"w-{i:02d}"
        await ledger.register_member(member_id, "欧阳建国", MICRO, True, (Role.MICRO_GRID_WORKER,))
        await award(client, member_id, 30 + i)
    return ledger.current_period()


def _disposition(period: str, extension: str, unit_quoted: str = STREET_NAME_QUOTED) -> str:
    """The header as sent: an ASCII name for old clients, then the UTF-8 one, %-encoded."""
    fallback = f"nominations-{period}.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{LIST_QUOTED}-{unit_quoted}-{period}.{extension}"


async def test_the_csv_says_its_charset_once_and_carries_a_chinese_name(client, ledger):
    """CSV: one charset (Litestar adds it to text types), the BOM, and the same file name as
    the XLSX; without a unit the name says it is the whole ledger."""
    period = await _forty_rows(client, ledger)
    by_unit = await client.get("/v1/exports/nominations", params={"org_unit": STREET, "period": period})
    whole = await client.get("/v1/exports/nominations", params={"period": period})
    assert ("text/csv; charset=utf-8", "text/csv; charset=utf-8") == (
        by_unit.headers["content-type"],
        whole.headers["content-type"],
    )
    whole_quoted = "%E5%85%A8%E9%83%A8%E5%8D%95%E4%BD%8D"  # 全部单位
    assert (_disposition(period, "csv"), _disposition(period, "csv", whole_quoted)) == (
        by_unit.headers["content-disposition"],
        whole.headers["content-disposition"],
    )
    names = [response.content.split(b"\r\n\r\n")[0] for response in (by_unit, whole)]
    assert names[0].startswith("\ufeff".encode()) and names[0] == names[1]  # everyone is in 东大街街道


def test_a_unit_name_never_makes_a_bad_file_name():
    """Characters Windows refuses in a file name become underscores."""
    checkpoint = Checkpoint(1, 1, "0" * 64, datetime(2026, 1, 1), "test", "0" * 64)

    async def nothing():
        yield {}

    export = exports.NominationExport(checkpoint, "2026", '东/大:街*"街道"', "优秀共产党员", nothing())
    assert "提名名单-东_大_街__街道_-2026.xlsx" == exports.filename(export, "xlsx")
