"""Strict input: ``"5"`` is not the number 5, 5.0 is not a count of points, and text
holds no NUL.

Litestar converts request bodies leniently (it shares one conversion with query
strings, where everything arrives as text). Before a handler that takes a body runs,
this hook decodes the raw body again with msgspec in strict mode against the handler's
own ``data`` type and turns the first error into a validation error that names the
field, so a wrongly typed value is refused instead of silently coerced.

Two limits of the storage are checked here too, for every part of the request (path,
query and body) at once, so that no handler can forget them: text never contains NUL
(U+0000), which PostgreSQL cannot store or compare, and an id in the path fits the
BIGINT it is looked up in. Either is refused as invalid input naming where it was,
instead of reaching the database as a value it cannot take.

The shape of a body is bounded before it is decoded: nesting deeper than
``JSON_DEPTH_MAX`` is refused by a flat scan of the bytes (a decoder recursing on
hostile input would exhaust the stack), and a key named twice in one object is refused
instead of the last one silently winning, so what is booked is what the client wrote.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from ledger import ID_MAX

NUL = "\x00"
_NUL_ESCAPE = b"\\u0000"

JSON_DEPTH_MAX = 32
"""How deeply a body may nest arrays and objects. Our deepest real document is a tier or
rule file a few levels deep; 32 leaves room for any honest client and keeps a hostile
body (50,000 ``[``) from reaching a decoder."""
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
"""A JSON string literal, matched without backtracking, so brackets inside text are not
counted as nesting."""
_BRACKET = re.compile(rb"[\[\]{}]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

_WHERE = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
"""Body decoders by the type of a handler's ``data``. Not by route handler: every app
registers copies of its handlers, and a key holding one would keep that whole app alive
(the test suite builds hundreds)."""


def _decoder(request: Request[Any, Any, Any]) -> msgspec.json.Decoder[Any] | None:
    """The handler's body decoder: strict against its struct, or plain JSON for a
    free-form body (a data file sent as JSON); None when the handler takes no body."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return None
    annotation = field.annotation
    if annotation not in _decoders:
        is_struct = isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)
        _decoders[annotation] = msgspec.json.Decoder(annotation, strict=True) if is_struct else msgspec.json.Decoder()
    return _decoders[annotation]


def field_of(message: str) -> tuple[str, str]:
    """Split a msgspec error into (field path, message without the location)."""
    where = _WHERE.search(message)
    path = where.group("path") if where else ""
    text = message[: where.start()] if where else message
    named = _NAMED.search(text)
    if named:
        path = f"{path}.{named.group('name')}" if path else named.group("name")
    return path or "body", text


def _refuse(field: str, message: str, source: str) -> ValidationException:
    return ValidationException(f"{field}: {message}", extra=[{"key": field, "message": message, "source": source}])


def _child(path: str, key: str | int) -> str:
    """Where an item sits, named as msgspec names it: ``participants[1].member_id``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first string in ``value`` (JSON-shaped) that holds a NUL."""
    if isinstance(value, str):
        return path if NUL in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = _nul_in(item, _child(path, key))
        if where is not None:
            return where
    return None


def _check_path_and_query(request: Request[Any, Any, Any]) -> None:
    for name, value in request.path_params.items():
        if isinstance(value, int) and abs(value) > ID_MAX:
            raise _refuse(name, f"no id is larger than {ID_MAX}", "path")
        if isinstance(value, str) and NUL in value:
            raise _refuse(name, "text may not contain NUL (U+0000)", "path")
    for name, value in request.query_params.multi_items():
        if NUL in value or NUL in name:
            raise _refuse(name, "text may not contain NUL (U+0000)", "query")


def _too_deep(body: bytes) -> bool:
    """Whether ``body`` nests deeper than ``JSON_DEPTH_MAX``, found by counting brackets
    outside strings in one pass (no recursion, whatever the body holds)."""
    if body.count(b"[") + body.count(b"{") <= JSON_DEPTH_MAX:
        return False
    brackets = _BRACKET.findall(_STRING.sub(b"", body))
    return max(accumulate(_DEPTH_STEP[b[0]] for b in brackets), default=0) > JSON_DEPTH_MAX


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ValidationException(f"the body names the key `{name}` twice in one object")
        seen.add(name)


async def strict_request(request: Request[Any, Any, Any]) -> None:
    _check_path_and_query(request)
    decoder = _decoder(request)
    if decoder is None:
        return
    body = await request.body()
    if _too_deep(body):
        raise ValidationException(f"the body nests arrays and objects deeper than {JSON_DEPTH_MAX} levels")
    try:
        decoded = decoder.decode(body)
    except msgspec.ValidationError as error:
        field, message = field_of(str(error))
        raise _refuse(field, message, "body") from error
    except (msgspec.DecodeError, UnicodeDecodeError) as error:
        raise ValidationException(f"the body is not valid JSON in UTF-8: {error}") from error
    # msgspec keeps the last of two equal keys; the standard parser reports every pair.
    # It recurses, but only on a body already known to be shallow. A second parse costs
    # ~8 µs for an award's body, under 0.1 % of the request.
    json.loads(body, object_pairs_hook=_no_duplicate_keys)
    # JSON can carry a NUL only as the escape \u0000 (a raw one is malformed), so a body
    # without that escape needs no walk through its values.
    where = _nul_in(msgspec.to_builtins(decoded), "") if _NUL_ESCAPE in body else None
    if where is not None:
        raise _refuse(where or "body", "text may not contain NUL (U+0000)", "body")
