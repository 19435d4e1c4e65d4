"""The ASGI entry point a production server imports (``uvicorn api.asgi:app``)."""

from api.app import create_app
from api.settings import Settings

app = create_app(Settings())
