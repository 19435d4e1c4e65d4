"""An app holds nothing beyond its own life: once nobody refers to it, it is freed, even
after serving requests with bodies (whose strict decoders are kept for the next app)."""

import gc

import pytest
from litestar import Litestar

from api import routes
from api.app import create_app
from tests.conftest import http_client, settings


def _apps_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Litestar))


@pytest.mark.sqlite_only
async def test_an_app_that_has_served_bodies_is_freed(ledger):
    """Module-level caches must not key on an app's own handler copies."""
    before = _apps_alive()
    app = create_app(settings(ledger), ledger)
    async with http_client(app) as http:
        response = await http.post(routes.api(routes.ORG_UNITS), json={"code": "s", "name": "街道", "level": "street"})
        assert 201 == response.status_code
        refused = await http.post(
            routes.api(routes.ORG_UNITS), json={"code": "t", "name": "街道", "level": "street", "x": 1}
        )
        assert 422 == refused.status_code
    assert before + 1 == _apps_alive()
    del app, http
    assert before == _apps_alive()
