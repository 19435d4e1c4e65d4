"""The landing page (``/``): what the service is, and the way to a resident's points and
to the organizer's desk. Nothing here needs signing in or reads the ledger."""

from __future__ import annotations

from litestar import Controller, get
from litestar.response import Template

from api import routes


class LandingController(Controller):
    include_in_schema = False

    @get(routes.PAGE_HOME)
    async def home(self) -> Template:
        return Template(template_name="home.html")
