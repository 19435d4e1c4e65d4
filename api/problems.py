"""The one place where errors become HTTP responses: RFC 9457 problem+json.

Every ``LedgerError`` carries a stable ``code`` and structured fields; its HTTP status
follows from its class alone. Request validation errors from Litestar name each
offending field. Nothing else in the API builds an error response, and the OpenAPI
description of those responses (``document_problems``) is written here too, from the
same rules, so a client knows every status an operation may answer with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
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
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from api.dto import ProblemRead
from api.ratelimit import WRITE_METHODS
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


_DESCRIPTIONS: dict[int, str] = {
    HTTP_400_BAD_REQUEST: "malformed_request: the request cannot be read (a body that is not JSON …)",
    HTTP_401_UNAUTHORIZED: "No bearer token, or one unknown, expired or revoked",
    HTTP_403_FORBIDDEN: "forbidden: the token's role or org subtree does not cover the request",
    HTTP_404_NOT_FOUND: "A record the request names does not exist (member_not_found …, naming its field)",
    HTTP_409_CONFLICT: "The ledger's state refuses the request (insufficient_points, already_exists, "
    "exists_with_different_body: the key was sent before with another body, idempotency_key_taken: another "
    "principal used the key first, import_conflict: other imports of the same rows kept committing first …); "
    "nothing changed",
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: "body_too_large: the body is over the service's limit; nothing changed",
    HTTP_422_UNPROCESSABLE_ENTITY: "invalid_input: a value breaks a rule or has the wrong type; `field` names it. "
    "invalid_data_file: a data file is refused whole; `errors` lists each error's `path` and `reason`. "
    "import_refused: an import with a refused row wrote nothing; `refusals` lists each row's `row`, `column`, "
    "`key`, `code` and `reason` (`reason_zh`: in Chinese)",
    HTTP_429_TOO_MANY_REQUESTS: "rate_limited: this token writes too fast; retry after Retry-After seconds",
    HTTP_500_INTERNAL_SERVER_ERROR: "internal_error: the request failed and changed nothing",
    HTTP_503_SERVICE_UNAVAILABLE: "database_unavailable or database_busy: the database connection was lost or the "
    "database did not answer in time; retry after Retry-After seconds with the same Idempotency-Key",
}


def problem_statuses(handler: HTTPRouteHandler) -> list[int]:
    """The problem statuses ``handler`` may answer with, from what it takes and does."""
    inputs = handler.parsed_fn_signature.parameters.keys() - handler.resolve_dependencies().keys() - {"request"}
    statuses = {HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN, HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE}
    if inputs:
        statuses |= {HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND, HTTP_422_UNPROCESSABLE_ENTITY}
    # A body is a JSON ``data``, or a file the handler reads raw under a limit of its own.
    if "data" in inputs or isinstance(handler.request_max_body_size, int):
        statuses.add(HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if handler.http_methods & WRITE_METHODS:
        statuses |= {HTTP_409_CONFLICT, HTTP_429_TOO_MANY_REQUESTS}
    return sorted(statuses)


def document_problems(handlers: Iterable[HTTPRouteHandler]) -> None:
    """Describe each handler's problem responses in the OpenAPI description (in place of
    Litestar's own 400, which is not the shape this API answers with)."""
    for handler in handlers:
        problems = {
            status: ResponseSpec(
                ProblemRead, description=_DESCRIPTIONS[status], media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
            )
            for status in problem_statuses(handler)
        }
        handler.responses = {**problems, **(handler.responses or {})}
