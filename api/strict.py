"""Strict JSON bodies: ``"5"`` is not the number 5, and 5.0 is not a count of points.

Litestar converts request bodies leniently (it shares one conversion with query
strings, where everything arrives as text). Before a handler that takes a body runs,
this hook decodes the raw body again with msgspec in strict mode against the handler's
own ``data`` type and turns the first error into a validation error that names the
field, so a wrongly typed value is refused instead of silently coerced.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

_WHERE = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")
_cache: dict[Any, msgspec.json.Decoder[Any] | None] = {}


def _decoder(request: Request[Any, Any, Any]) -> msgspec.json.Decoder[Any] | None:
    handler = request.route_handler
    if handler not in _cache:
        field = handler.parsed_fn_signature.parameters.get("data")
        annotation = getattr(field, "annotation", None)
        is_struct = isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
        _cache[handler] = msgspec.json.Decoder(annotation, strict=True) if is_struct else None
    return _cache[handler]


def field_of(message: str) -> tuple[str, str]:
    """Split a msgspec error into (field path, message without the location)."""
    where = _WHERE.search(message)
    path = where.group("path") if where else ""
    text = message[: where.start()] if where else message
    named = _NAMED.search(text)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return path or "body", text


async def strict_body(request: Request[Any, Any, Any]) -> None:
    decoder = _decoder(request)
    if decoder is None:
        return
    body = await request.body()
    try:
        decoder.decode(body)
    except msgspec.ValidationError as error:
        field, message = field_of(str(error))
        raise ValidationException(
            f"{field}: {message}", extra=[{"key": field, "message": message, "source": "body"}]
        ) from error
    except msgspec.DecodeError as error:
        raise ValidationException(f"the body is not valid JSON: {error}") from error
