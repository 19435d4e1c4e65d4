"""Every route path of the HTTP API, in one place.

The constants are Litestar path templates (``/members/{member_id:str}``); ``path`` and ``api``
fill them, so a test or a link names a route by its constant, and a renamed route fails there.
"""

import re

API_PREFIX = "/v1"

ORG_UNITS = "/org-units"
ORG_UNIT = "/org-units/{code:str}"
ORG_UNIT_MOVES = "/org-units/{code:str}/moves"
MEMBERS = "/members"
MEMBER = "/members/{member_id:str}"
MEMBER_BALANCE = "/members/{member_id:str}/balance"
MEMBER_STATEMENT = "/members/{member_id:str}/statement"
MEMBER_CAPS = "/members/{member_id:str}/caps"
MEMBER_MOVES = "/members/{member_id:str}/moves"
MEMBER_ERASURE = "/members/{member_id:str}/erasure"
MEMBER_EXPORT = "/members/{member_id:str}/export"
AWARDS = "/awards"
TRANSACTION = "/transactions/{transaction_id:int}"
TRANSACTION_REVERSAL = "/transactions/{transaction_id:int}/reversal"
LEDGER_VERIFY = "/ledger/verify"
CHECKPOINTS = "/checkpoints"
ORG_UNIT_SUMMARY = "/org-units/{code:str}/summary"
ORG_UNIT_MONTHS = "/org-units/{code:str}/months"
DEDUCTIONS = "/deductions"
RULES = "/rules"
ACTIVITIES = "/activities"
ACTIVITY = "/activities/{activity_id:int}"
ACTIVITY_ROSTER = "/activities/{activity_id:int}/roster"
ACTIVITY_SETTLE = "/activities/{activity_id:int}/settle"
ACTIVITY_PREVIEW = "/activities/{activity_id:int}/preview"
CLAIMS = "/claims"
CLAIM = "/claims/{claim_id:int}"
CLAIM_APPROVE = "/claims/{claim_id:int}/approve"
CLAIM_DECLINE = "/claims/{claim_id:int}/decline"
CLAIMS_REVIEW = "/claims/review"
MEMBER_CLAIMS = "/members/{member_id:str}/claims"
TIERS = "/tiers"
MEMBER_TIER = "/members/{member_id:str}/tier"
MEMBER_EVIDENCE = "/members/{member_id:str}/evidence"
NOMINATIONS = "/nominations"
NOMINATION_OBJECTIONS = "/nominations/objections"
NOMINATION_DECISIONS = "/nominations/decisions"
NOTICES = "/notices"
NOTICE = "/notices/{notice_id:int}"
EXPORT_NOMINATIONS = "/exports/nominations"
REWARDS = "/rewards"
REWARD = "/rewards/{code:str}"
REWARD_REDEMPTIONS = "/rewards/{code:str}/redemptions"
REDEMPTIONS = "/redemptions"
REDEMPTION = "/redemptions/{redemption_id:int}"
REDEMPTION_FULFIL = "/redemptions/{redemption_id:int}/fulfil"
REDEMPTION_CANCEL = "/redemptions/{redemption_id:int}/cancel"
MEMBER_REDEMPTIONS = "/members/{member_id:str}/redemptions"
ADMIN_SWEEP = "/admin/sweep"
TOKENS = "/tokens"
TOKEN = "/tokens/{principal_id:str}"
TOKEN_REVOKE = "/tokens/{principal_id:str}/revoke"
AUDIT = "/audit"
IMPORT_ORG_UNITS = "/imports/org-units"
IMPORT_MEMBERS = "/imports/members"
IMPORT_TEMPLATE = "/imports/templates/{name:str}"

# Web pages (api.pages): outside API_PREFIX, signed in by cookie.
PAGE_ME = "/me"
PAGE_ME_SIGNIN = "/me/signin"
PAGE_ME_STATEMENT = "/me/statement"
PAGE_DESK = "/desk"
PAGE_DESK_SIGNIN = "/desk/signin"
PAGE_DESK_MEMBER = "/desk/members/{member_id:str}"
PAGE_DESK_ACTIVITY = "/desk/activities/{activity_id:int}"
PAGE_DESK_QR = "/desk/qr"
PAGE_DESK_CLAIMS = "/desk/claims"
# The counter (核销台) and the shop's shelves, on the desk.
PAGE_DESK_COUNTER = "/desk/counter"
PAGE_DESK_SHOP = "/desk/shop"
# Imports of the org tree and members, on the desk.
PAGE_DESK_IMPORT = "/desk/import"
PAGE_SIGNOUT = "/signout"
PAGE_HOME = "/"
PAGE_DESK_NOTICES = "/desk/notices"
PAGE_DESK_NOTICE = "/desk/notices/{notice_id:int}"
PAGE_NOTICE_PUBLIC = "/notices/{notice_id:int}/{code:str}"
STATIC = "/static"
OPENAPI = "/schema"

_PLACEHOLDER = re.compile(r"\{(\w+)(?::\w+)?\}")
"""A Litestar path parameter, ``{name}`` or ``{name:type}``."""


def path(template: str, **params: object) -> str:
    """The template with each placeholder replaced by its parameter, as given: the HTTP client
    percent-encodes the path, so only a value holding a ``/`` must be quoted by the caller to
    stay one segment.

    A missing or unused parameter is a programmer's error, so it raises instead of leaving a
    ``{placeholder}`` in the path or silently dropping a value.
    """
    used: set[str] = set()

    def value(match: re.Match[str]) -> str:
        used.add(match[1])
        return str(params[match[1]])

    filled = _PLACEHOLDER.sub(value, template)
    assert used == params.keys(), f"{template} takes {sorted(used)}, not {sorted(params)}"
    return filled


def api(template: str, **params: object) -> str:
    """The path of an API route (its template is relative to ``API_PREFIX``), filled."""
    return API_PREFIX + path(template, **params)
