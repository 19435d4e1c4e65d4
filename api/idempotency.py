"""The ``Idempotency-Key`` header: required on every POST that moves points."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_201_CREATED

from ledger import IDEMPOTENCY_KEY_LENGTH_MAX, IdempotentRequest, InvalidInput, fingerprint

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name=HEADER,
        required=True,
        description=f"The client's own key for this write, printable, at most {IDEMPOTENCY_KEY_LENGTH_MAX} characters "
        "(a UUID will do). A retry with the same key and body is answered with the first answer and never repeats "
        "the write; the same key with another body, or from another token, is a 409.",
    ),
]
"""The header every write that moves points takes. Declared so the OpenAPI description
names it; checked by ``idempotent_request``, which answers a missing or bad key with this
API's own 422 naming the header."""


def idempotent_request(
    request: Request[Any, Any, Any], body: msgspec.Struct | None, key: str | None
) -> IdempotentRequest:
    """The request's key and fingerprint (method, path and body: a bodiless POST such as a
    settle is identified by its path alone)."""
    if not key:
        raise InvalidInput(HEADER, f"an {HEADER} header is required on requests that move points")
    if len(key) > IDEMPOTENCY_KEY_LENGTH_MAX or not key.isprintable():
        raise InvalidInput(HEADER, f"{HEADER} must be printable and at most {IDEMPOTENCY_KEY_LENGTH_MAX} characters")
    digest = fingerprint(request.method, request.url.path, msgspec.to_builtins(body))
    return IdempotentRequest(principal=request.user.id, key=key, fingerprint=digest)


def created(result: Any, replayed: bool) -> Response[Any]:
    """201 with the first response's body; a replay says so in a header."""
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return Response(result, status_code=HTTP_201_CREATED, headers=headers)
