"""What the pages' forms share, whoever serves them (the desk, the resident's page)."""

from __future__ import annotations

from datetime import datetime

from ledger import Ledger


def form_time(moment: datetime, ledger: Ledger) -> dict[str, str]:
    """A moment as a datetime-local field shows it, and the ledger zone's offset that the
    script appends when it sends the field (the browser's own zone may differ)."""
    local = moment.astimezone(ledger.tz)
    offset = local.strftime("%z")
    return {"value": local.strftime("%Y-%m-%dT%H:%M"), "offset": f"{offset[:3]}:{offset[3:]}"}
