"""The one place where errors become HTTP responses: RFC 9457 problem+json.

Every ``LedgerError`` carries a stable ``code`` and structured fields; its HTTP status
follows from its class alone. Request validation errors from Litestar name each
offending field. Nothing else in the API builds an error response; ``api.openapi``
describes them, operation by operation, with the codes each may carry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from ledger import (
    AccessDenied,
    Conflict,
    DatabaseUnavailable,
    DataFileInvalid,
    ImportRefused,
    InvalidInput,
    LedgerError,
    NotFound,
    Unauthenticated,
)

PROBLEM_TYPE_PREFIX = "urn:grid-points-ledger:problem:"
PROBLEM_MEDIA_TYPE = "application/problem+json"

_STATUS_BY_CLASS: tuple[tuple[type[LedgerError], int], ...] = (
    (Unauthenticated, HTTP_401_UNAUTHORIZED),
    (AccessDenied, HTTP_403_FORBIDDEN),
    (InvalidInput, HTTP_422_UNPROCESSABLE_ENTITY),
    (DataFileInvalid, HTTP_422_UNPROCESSABLE_ENTITY),
    (ImportRefused, HTTP_422_UNPROCESSABLE_ENTITY),
    (NotFound, HTTP_404_NOT_FOUND),
    (Conflict, HTTP_409_CONFLICT),
    (DatabaseUnavailable, HTTP_503_SERVICE_UNAVAILABLE),
)

RETRY_AFTER_SECONDS = 1
"""What a 503 asks a client to wait: a broken connection is replaced by the next
transaction, so a second is enough; while the database is down a client retrying once
a second with the same Idempotency-Key costs nothing."""

_log = logging.getLogger("api.problems")


RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})
"""RFC 9457's own members: an extension member may not reuse their names."""


def problem(status: int, code: str, title: str, detail: str, /, **extra: Any) -> ProblemDetailsException:
    assert not RESERVED_MEMBERS & extra.keys(), f"extension members shadow RFC 9457 members: {extra.keys()}"
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_TYPE_PREFIX + code,
        title=title,
        detail=detail,
        extra={"code": code, **extra},
    )


def malformed_request(detail: str, /, **extra: Any) -> ProblemDetailsException:
    """A request that cannot be read as what it claims to be (HTTP, JSON, UTF-8)."""
    return problem(HTTP_400_BAD_REQUEST, "malformed_request", "Malformed request", detail, **extra)


def problem_document(pd: ProblemDetailsException) -> dict[str, Any]:
    """The problem as its JSON document, for a refusal written by the HTTP connection
    itself, before there is a request to answer (see ``api.protocol``)."""
    response = pd.to_response(None)  # type: ignore[arg-type]  # the request is not read
    return dict(response.content)


def problem_members(pd: ProblemDetailsException) -> dict[str, Any]:
    """The problem's ``code``, its extension members and its detail, for a page that says
    it in words (``api.pages.zh``) rather than as a problem document."""
    extra = pd.extra if isinstance(pd.extra, dict) else {}  # ``problem`` always sets a dict
    return {**extra, "detail": pd.detail}


def from_ledger_error(error: LedgerError) -> ProblemDetailsException:
    status = next((status for cls, status in _STATUS_BY_CLASS if isinstance(error, cls)), HTTP_400_BAD_REQUEST)
    title = error.code.replace("_", " ").capitalize()
    pd = problem(status, error.code, title, error.detail, **error.fields())
    if status == HTTP_503_SERVICE_UNAVAILABLE:
        pd.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return pd


def _validation_errors(extra: Any) -> list[dict[str, Any]]:
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, Mapping) else []
    errors = []
    for item in items:
        if isinstance(item, Mapping):
            field = item.get("key") or item.get("field") or ""
            errors.append({"field": field, "message": item.get("message", ""), "source": item.get("source")})
    return errors


def from_validation_error(error: ValidationException) -> ProblemDetailsException:
    errors = _validation_errors(error.extra)
    named = [e for e in errors if e["field"]]
    if not named:
        return malformed_request(error.detail, errors=errors)
    first = named[0]
    detail = f"{first['field']}: {first['message']}" if first["message"] else error.detail
    return problem(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "invalid_input",
        "Invalid input",
        detail,
        field=first["field"],
        errors=errors,
    )


def from_http_exception(error: HTTPException) -> ProblemDetailsException:
    if isinstance(error, ProblemDetailsException):
        return error
    code = getattr(error, "problem_code", None) or f"http_{error.status_code}"
    extra = dict(error.extra) if isinstance(error.extra, Mapping) else {}
    pd = problem(error.status_code, code, HTTPStatus(error.status_code).phrase, error.detail, **extra)
    pd.headers = error.headers
    return pd


def from_body_too_large(_: RequestEntityTooLarge) -> ProblemDetailsException:
    return problem(
        HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        "body_too_large",
        "Body too large",
        "the request body is larger than the service accepts; nothing changed",
    )


def from_unexpected(error: Exception) -> ProblemDetailsException:
    _log.exception("unexpected error", exc_info=error)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal error",
        "the request failed unexpectedly and changed nothing; it is safe to retry with the same Idempotency-Key",
    )


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={
                LedgerError: from_ledger_error,
                ValidationException: from_validation_error,
                RequestEntityTooLarge: from_body_too_large,
                HTTPException: from_http_exception,
                Exception: from_unexpected,
            }
        )
    )
