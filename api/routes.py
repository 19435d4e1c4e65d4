"""Every route path of the HTTP API, in one place."""

API_PREFIX = "/v1"

ORG_UNITS = "/org-units"
ORG_UNIT = "/org-units/{code:str}"
MEMBERS = "/members"
MEMBER = "/members/{member_id:str}"
MEMBER_BALANCE = "/members/{member_id:str}/balance"
MEMBER_STATEMENT = "/members/{member_id:str}/statement"
AWARDS = "/awards"
TRANSACTION = "/transactions/{transaction_id:int}"
TRANSACTION_REVERSAL = "/transactions/{transaction_id:int}/reversal"
LEDGER_VERIFY = "/ledger/verify"
