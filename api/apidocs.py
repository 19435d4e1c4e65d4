"""The API's documentation page, served whole by the service itself.

Swagger UI's script and style are the files of its ``swagger-ui-dist`` release (Apache-2.0;
its LICENSE and NOTICE beside them), kept in ``api/static/vendor`` and served under
``/schema/assets``, not fetched from a public CDN: a street office's network often has no
way out, and public CDNs often fail inside mainland China. Version 5 is the first to read
OpenAPI 3.1, which Litestar writes. The page loads no font and no favicon from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from api import routes

SWAGGER_UI_VERSION = "5.32.0"
ASSETS = Path(__file__).parent / "static" / "vendor" / f"swagger-ui-{SWAGGER_UI_VERSION}"
ASSETS_PATH = f"{routes.OPENAPI}/assets"

ASSETS_CACHE_SECONDS = 86_400
"""Swagger UI's files change only with the package: a day's caching spares a reload."""


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at ``/schema`` and ``/schema/swagger``; the description itself stays at
    ``/schema/openapi.json``."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            path=["/", "/swagger"],
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        )
    ]


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS],
        cache_control=CacheControlHeader(max_age=ASSETS_CACHE_SECONDS),
        include_in_schema=False,
        opt={"exclude_from_auth": True},
    )
