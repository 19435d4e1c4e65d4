"""Every response shape read from a ledger value (``api.views.READ_FROM``) names only
fields its value has, nested shapes included: checked from the types, without a request,
so a field renamed in ``ledger/`` fails here even where no test reads that reply."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

import msgspec
import pytest

from api import dto, views
from ledger import Balance


def _unwrapped(annotation: object) -> list[object]:
    """The classes an annotation holds: ``list[X] | None`` → [X, None]."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
        return [inner for arg in typing.get_args(annotation) for inner in _unwrapped(arg)]
    return [annotation]


def _struct_in(annotation: object) -> type[msgspec.Struct] | None:
    found = [a for a in _unwrapped(annotation) if isinstance(a, type) and issubclass(a, msgspec.Struct)]
    return found[0] if found else None


def _class_in(annotation: object) -> type | None:
    found = [a for a in _unwrapped(annotation) if isinstance(a, type) and a is not type(None)]
    return found[0] if found else None


def _attributes(value_type: type) -> dict[str, object]:
    """A value type's fields and properties, with their annotations (properties: their return)."""
    hints: dict[str, object] = dict(typing.get_type_hints(value_type))
    for name in dir(value_type):
        member = getattr(value_type, name, None)
        if isinstance(member, property) and member.fget is not None:
            hints[name] = typing.get_type_hints(member.fget).get("return")
    return hints


def _mismatches(shape: type[msgspec.Struct], value_type: type, path: str) -> list[str]:
    attributes = _attributes(value_type)
    shape_hints = typing.get_type_hints(shape, include_extras=True)
    found = []
    for field in msgspec.structs.fields(shape):
        where = f"{path}.{field.name}"
        if field.name not in attributes:
            if field.required:
                found.append(f"{where}: {value_type.__name__} has no {field.name!r}")
            continue
        nested = _struct_in(shape_hints[field.name])
        if nested is not None:
            inner = _class_in(attributes[field.name])
            if inner is None:
                found.append(
                    f"{where}: {value_type.__name__}.{field.name} holds no value to read {nested.__name__} from"
                )
            else:
                found.extend(_mismatches(nested, inner, where))
    return found


@pytest.mark.parametrize("shape", sorted(views.READ_FROM, key=lambda s: s.__name__), ids=lambda s: s.__name__)
def test_each_shape_names_only_fields_of_its_value(shape):
    assert _mismatches(shape, views.READ_FROM[shape], shape.__name__) == []


class _Renamed(msgspec.Struct):
    member_id: str
    available: int


class _Outer(msgspec.Struct):
    balance: _Renamed


@dataclass
class _Holder:
    balance: Balance


def test_a_renamed_field_is_found():
    """The check itself: a shape naming a field its value lacks is reported, nested too."""
    assert _mismatches(_Renamed, Balance, "R") == ["R.available: Balance has no 'available'"]
    assert _mismatches(_Outer, _Holder, "O") == ["O.balance.available: Balance has no 'available'"]


def test_read_refuses_a_value_of_another_type():
    with pytest.raises(AssertionError, match="BalanceRead is read from Balance"):
        views.read(object(), dto.BalanceRead)
