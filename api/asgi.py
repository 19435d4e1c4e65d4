"""The ASGI entry point a production server imports (``uvicorn api.asgi:app``): the
application, its access log, and where the access log's lines go (standard error, beside
uvicorn's own warnings)."""

import logging
import sys

from api.access_log import AccessLog
from api.app import create_app
from api.settings import Settings

_access = logging.getLogger("api.access")
if not _access.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    _access.addHandler(handler)
    _access.setLevel(logging.INFO)
    _access.propagate = False

app = AccessLog(create_app(Settings()))
