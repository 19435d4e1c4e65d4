"""Evaluation periods: points earned are counted per calendar year in the community's
own time zone, so an award at 23:59 on 31 December in Shanghai belongs to that year
even though it is already 1 January nowhere else that matters."""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from ledger.errors import InvalidInput

DEFAULT_TIMEZONE = "Asia/Shanghai"


def zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def period_of(moment: datetime, tz: tzinfo) -> str:
    """The period (calendar year, e.g. "2026") that ``moment`` falls in."""
    assert moment.tzinfo is not None
    return str(moment.astimezone(tz).year)


def check_period(period: str) -> None:
    """A period named by a client must be a calendar year."""
    if not (len(period) == 4 and period.isdigit()):
        raise InvalidInput("period", "a period is a calendar year such as 2026")
