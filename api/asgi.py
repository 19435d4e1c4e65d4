"""The ASGI entry point a production server imports (``uvicorn api.asgi:app``): the
application, its access log, and where the access log's lines go (standard error, beside
uvicorn's own warnings).

Before the application is built its database's schema is checked: a database from a newer
release, one not migrated, or a missing SQLite file stops the process with one line and
exit code 2. Found only at the first request, it would be a 500 on every request (or
this release's writes in another release's tables) behind a server that looks healthy.
A database that cannot be reached does not stop it: it may come back, and until then
every request is answered 503."""

import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from api.access_log import AccessLog
from api.app import create_app
from api.cli import EXIT_REFUSED
from api.settings import Settings
from ledger import Database, DatabaseUnavailable, LedgerError, check_schema

_access = logging.getLogger("api.access")
if not _access.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    _access.addHandler(handler)
    _access.setLevel(logging.INFO)
    _access.propagate = False


async def _check(url: str) -> None:
    db = Database(url)
    try:
        await check_schema(db)
    finally:
        await db.dispose()


def _refuse_unless_servable(url: str) -> None:
    # uvicorn imports this module inside its running event loop, where asyncio.run is
    # refused; a thread of its own runs the check on a loop of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pool.submit(asyncio.run, _check(url)).result()
        except DatabaseUnavailable:
            pass
        except LedgerError as error:
            print(error.detail, file=sys.stderr)
            raise SystemExit(EXIT_REFUSED) from None


_settings = Settings()
_refuse_unless_servable(_settings.database_url)
app = AccessLog(create_app(_settings))
