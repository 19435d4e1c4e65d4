"""Signing in to the web pages: a token in a cookie, and the pages' answer to failures.

A resident signs in by opening the link an organizer printed (``/me/signin?token=…``, or
its QR code) or by pasting the token into the form; an organizer does the same at
``/desk/signin``. The token is checked exactly as the API checks a bearer token
(``api.auth.Authenticator``), then kept in an HttpOnly, SameSite=Strict cookie (Secure
over https), and the browser moves on to the page, so the token leaves the address bar.
Every later page request looks the token up again, so a revoked or expired token stops
working at once.

The move is a page that refreshes itself, not an HTTP redirect: the link usually arrives
from elsewhere (a chat message, the phone's QR scanner), and a browser keeps SameSite=Strict
cookies off every hop of a navigation that another site started, redirects included, so
a redirect would land on ``/me`` without the cookie it has just set. A navigation this
service's own page starts is same-site and carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from api import routes
from api.auth import SESSION_COOKIE
from api.pages import zh
from api.problems import from_ledger_error, from_unexpected, problem_members
from ledger import TOKEN_LENGTH_MAX, Access, LedgerError, Principal, Unauthenticated

Req = Request[Any, Any, Any]
Me = NamedDependency[Principal]
"""The signed-in person, as a page handler declares it (``actor: Me``)."""

MEMBER_COOKIE_MAX_AGE_SECONDS = 180 * 24 * 3600
"""A resident signs in once on their own phone from a printed link: half a year spares
them looking for the paper again, and the token's own expiry or revocation still ends
it at once."""

DESK_COOKIE_MAX_AGE_SECONDS = 12 * 3600
"""An organizer's token awards and reverses points: it is kept for a working day, so a
desk left signed in on a shared computer does not stay open overnight."""

DESK_ROLES = frozenset({Access.ORGANIZER, Access.ADMIN})


@dataclass
class SignInRequired(Exception):
    """The page needs someone signed in (in a role) who is not: answered with a redirect
    to the sign-in form, which says why."""

    signin_path: str
    why: str


async def _principal(request: Req) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    principal: Principal | None = await request.app.state.authenticator.principal(request.app.state.ledger, token)
    return principal


async def signed_in(request: Req, roles: frozenset[Access], signin_path: str, role_note: str) -> Principal:
    try:
        principal = await _principal(request)
    except Unauthenticated as error:
        raise SignInRequired(signin_path, "expired") from error
    if principal is None:
        raise SignInRequired(signin_path, "")
    if principal.role not in roles:
        raise SignInRequired(signin_path, role_note)
    return principal


async def resident(request: Req) -> Principal:
    """The signed-in member (a dependency of the resident's pages)."""
    return await signed_in(request, frozenset({Access.MEMBER}), routes.PAGE_ME_SIGNIN, "member")


async def organizer(request: Req) -> Principal:
    """The signed-in organizer or admin (a dependency of the desk's pages)."""
    return await signed_in(request, DESK_ROLES, routes.PAGE_DESK_SIGNIN, "desk")


def _home(principal: Principal) -> str:
    return routes.PAGE_ME if principal.role is Access.MEMBER else routes.PAGE_DESK


def _signin_form(request: Req, error: str | None = None, status_code: int = 200) -> Template:
    desk = request.url.path.startswith(routes.PAGE_DESK)
    note = zh.SIGNIN_NOTES.get(request.query_params.get("why", ""))
    return Template(
        template_name="signin.html",
        context={"desk": desk, "action": request.url.path, "error": error, "note": note},
        status_code=status_code,
    )


def _token_in(text: str) -> str:
    """The token of a pasted sign-in link (``…/me/signin?token=…``), or the text itself."""
    text = text.strip()
    if "token=" in text:
        return parse_qs(urlsplit(text).query).get("token", [""])[0].strip()
    return text


async def _sign_in(request: Req, token: str) -> Response[Any]:
    token = _token_in(token)
    errors = zh.SIGNIN_ERRORS if request.url.path.startswith(routes.PAGE_DESK) else zh.RESIDENT_SIGNIN_ERRORS
    if not token or len(token) > TOKEN_LENGTH_MAX:
        return _signin_form(request, errors[""], 401)
    try:
        principal = await request.app.state.authenticator.principal(request.app.state.ledger, token)
    except Unauthenticated as error:
        return _signin_form(request, errors.get(error.fields().get("reason", ""), errors[""]), 401)
    max_age = MEMBER_COOKIE_MAX_AGE_SECONDS if principal.role is Access.MEMBER else DESK_COOKIE_MAX_AGE_SECONDS
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _move_on(_home(principal), signed_in=True, cookies=[cookie])


def _move_on(path: str, signed_in: bool, cookies: list[Cookie] | None = None) -> Template:
    """A page that goes on to ``path`` by itself: a same-site navigation, which carries the
    SameSite=Strict cookie whoever sent the browser here."""
    return Template(
        template_name="entering.html",
        context={"home": path, "signed_in": signed_in},
        cookies=cookies or [],
        # The sign-in's address holds the token: kept from caches, and from any Referer.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


class SessionController(Controller):
    include_in_schema = False

    @get([routes.PAGE_ME_SIGNIN, routes.PAGE_DESK_SIGNIN])
    async def form(self, request: Req) -> Response[Any]:
        """The sign-in form; with ``?token=`` (the printed link) it signs in at once."""
        token = request.query_params.get("token")
        return _signin_form(request) if token is None else await _sign_in(request, token)

    @post([routes.PAGE_ME_SIGNIN, routes.PAGE_DESK_SIGNIN], status_code=200)
    async def submit(
        self, request: Req, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
    ) -> Response[Any]:
        return await _sign_in(request, data.get("token", ""))

    @post(routes.PAGE_SIGNOUT, status_code=HTTP_303_SEE_OTHER)
    async def sign_out(
        self, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
    ) -> Redirect:
        """Forget the token; back to the sign-in form the page came from (``to``)."""
        target = routes.PAGE_DESK_SIGNIN if data.get("to") == routes.PAGE_DESK_SIGNIN else routes.PAGE_ME_SIGNIN
        response = Redirect(path=f"{target}?why=signed_out", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def on_sign_in_required(request: Req, error: SignInRequired) -> Response[Any]:
    if not error.why and request.headers.get("sec-fetch-site") == "cross-site":
        # A link from elsewhere (a chat message) came without the cookie, which may well
        # exist: once more from this site, and only then to the sign-in form if still none.
        return _move_on(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""), False)
    query = f"?why={error.why}" if error.why else ""
    response = Redirect(path=f"{error.signin_path}{query}", status_code=HTTP_303_SEE_OTHER)
    if error.why == "expired":
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def error_page(request: Req, problem: dict[str, Any], status_code: int) -> Template:
    home = routes.PAGE_DESK if request.url.path.startswith(routes.PAGE_DESK) else routes.PAGE_ME
    return Template(
        template_name="error.html",
        context={"message": zh.message(problem), "home": home},
        status_code=status_code,
    )


def on_ledger_error(request: Req, error: LedgerError) -> Template:
    """A page whose read the ledger refused (out of scope, not found) says why in Chinese."""
    problem = from_ledger_error(error)
    return error_page(request, problem_members(problem), problem.status_code)


def on_http_error(request: Req, error: HTTPException) -> Template:
    return error_page(request, {"code": f"http_{error.status_code}", "detail": error.detail}, error.status_code)


def on_unexpected(request: Req, error: Exception) -> Template:
    problem = from_unexpected(error)  # logs it
    return error_page(request, problem_members(problem), problem.status_code)
