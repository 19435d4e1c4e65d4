"""Data files (earning rules, tier schemes, expiry policies): YAML or JSON, validated against
a JSON Schema in the repository's ``schemas/`` and then against what a schema cannot say
(unique codes, dates in order, org units that exist). A file with any error is refused
whole, and every error is listed with its path in the file, so a street office fixes them
all in one pass instead of finding the next one after each fix.

Reading a file therefore never raises: ``parse`` returns a ``DataFile`` holding the entries
and the schema's errors, each kind's module adds the errors of its own checks
(``DataFile.plus``), loading adds those that need the database (``unit_versions``), and
``accept`` — the one place that refuses a file — raises DataFileInvalid with all of them,
the first ``DATA_FILE_ERRORS_LISTED_MAX`` in document order, or hands the entries on.

The checks after the schema must not trip over what the schema refused. A check of one
entry (are its dates in order?) reads only the entries the schema accepted whole
(``DataFile.valid``); a check of one field across entries (is a code repeated? does a named
unit exist?) reads the field wherever the schema found that field itself sound
(``DataFile.sound``), so an entry with another fault still counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

from ledger.errors import DataFileInvalid, FileError


class Stored(NamedTuple):
    """A definition a load stored: its key (a rule's code, or a scheme's or policy's unit,
    "" for the default) and the version it now has."""

    key: str
    version: int


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

DATA_FILE_BYTES_MAX = 1_048_576
"""A data file is pages of definitions; a megabyte is a mistake, not a rule set."""

DATA_FILE_ERRORS_LISTED_MAX = 100
"""Errors listed for a refused file; the count of the rest is given. A person fixes a file
by reading its errors, and a hundred is more than a careful edit leaves behind: a file with
more is the wrong file or garbage, and a megabyte of it could list tens of thousands, a
problem body of megabytes that no one reads."""

DATA_FILE_REASON_CHARS_MAX = 300
"""Characters of one error's reason. The schema's messages quote the value they refuse, and
a value can be most of the file (a list that is too long is quoted whole): a longer reason
loses its middle, keeping how it begins and, at its end, what is wrong."""


@dataclass(frozen=True, slots=True)
class DataFile:
    """A data file as read: the entries of its one top-level list (``key``: "rules",
    "schemes" …), well formed or not, and every error found so far."""

    key: str
    entries: tuple[Any, ...]
    errors: tuple[FileError, ...]
    refused: frozenset[int]
    """The entries the schema found any fault in."""
    unsound: frozenset[tuple[int, str]]
    """The (entry, field) pairs the schema found a fault in, at the field or inside it."""

    def valid(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The entries the schema accepted whole, with their index."""
        return ((i, e) for i, e in enumerate(self.entries) if i not in self.refused)

    def sound(self, field: str) -> Iterator[tuple[int, Any]]:
        """Each entry's ``field`` where the entry is an object that has it and the schema
        found nothing wrong with the field itself, with the entry's index."""
        for i, entry in enumerate(self.entries):
            if isinstance(entry, dict) and field in entry and (i, field) not in self.unsound:
                yield i, entry[field]

    def error(self, i: int, field: str, reason: str) -> FileError:
        return FileError((self.key, i, field), reason)

    def plus(self, errors: Iterable[FileError]) -> DataFile:
        return replace(self, errors=(*self.errors, *errors))


@cache
def _validator(schema_path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _shortened(reason: str) -> str:
    if len(reason) <= DATA_FILE_REASON_CHARS_MAX:
        return reason
    kept = (DATA_FILE_REASON_CHARS_MAX - 3) // 2
    return f"{reason[:kept]} … {reason[-kept:]}"


def _unreadable(key: str, reason: str) -> DataFile:
    return DataFile(key, (), (FileError((), _shortened(reason)),), frozenset(), frozenset())


def parse(text: str, schema_path: Path, key: str) -> DataFile:
    """The file's entries (the items of its top-level list ``key``) and its schema errors."""
    if len(text.encode()) > DATA_FILE_BYTES_MAX:
        return _unreadable(key, f"the file is larger than {DATA_FILE_BYTES_MAX} bytes")
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON: one parser reads both
    except yaml.YAMLError as error:
        return _unreadable(key, f"not YAML or JSON: {error}")
    validator = _validator(schema_path)
    errors = tuple(FileError(tuple(e.absolute_path), _shortened(e.message)) for e in validator.iter_errors(data))
    items = data.get(key) if isinstance(data, dict) else None
    # The checks after the schema read no more entries than the schema allows: a longer
    # list is refused for its length already, and a megabyte of entries then costs the
    # checks (and the database lookups of the units named) no more than a full valid file.
    schema: Any = validator.schema  # a loaded JSON Schema: a mapping, read as the files say
    entries_max: int = schema["properties"][key]["maxItems"]
    entries = tuple(items[:entries_max]) if isinstance(items, list) else ()
    # An error inside the list is at (key, index, field…): the entry it refuses, and the
    # field of that entry it makes unsound.
    inside = [(e.at[1], e.at[2:]) for e in errors if len(e.at) >= 2 and e.at[0] == key and isinstance(e.at[1], int)]
    return DataFile(
        key,
        entries,
        errors,
        refused=frozenset(index for index, _ in inside),
        unsound=frozenset((index, at[0]) for index, at in inside if at and isinstance(at[0], str)),
    )


def repeats(file: DataFile, field: str, absent: str | None = None) -> Iterator[tuple[int, str]]:
    """The entries whose ``field`` repeats an earlier entry's, with the value. An entry
    without the field (or with null) counts as ``absent`` when one is given (a scheme with
    no unit is the default), else not at all."""
    seen: set[str] = set()
    for i, entry in enumerate(file.entries):
        if not isinstance(entry, dict) or (i, field) in file.unsound:
            continue
        value = entry.get(field)
        value = absent if value is None else value
        if value is None:
            continue
        if value in seen:
            yield i, value
        seen.add(value)


def _document_order(error: FileError) -> tuple[tuple[bool, str | int], ...]:
    # Indices compare as numbers (/rules/10 after /rules/9), keys as text; a key never
    # meets an index at the same depth of one file, and the flag keeps them apart anyway.
    return tuple((isinstance(part, str), part) for part in error.at)


def accept(file: DataFile) -> list[dict[str, Any]]:
    """The file's entries, or DataFileInvalid listing its errors in document order."""
    if not file.errors:
        return list(file.entries)
    errors = sorted(file.errors, key=_document_order)
    listed = errors[:DATA_FILE_ERRORS_LISTED_MAX]
    raise DataFileInvalid(listed, omitted=len(errors) - len(listed))
