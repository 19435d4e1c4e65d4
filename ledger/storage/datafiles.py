"""Data files (earning rules, tier schemes): YAML or JSON, validated against a JSON Schema
in the repository's ``schemas/``. A file with any error is refused whole, and every error
is listed with its path in the file, so a street office fixes them all in one pass."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ledger.errors import DataFileInvalid

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

DATA_FILE_BYTES_MAX = 1_048_576
"""A data file is pages of definitions; a megabyte is a mistake, not a rule set."""


@cache
def _validator(schema_path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def parse(text: str, schema_path: Path) -> Any:
    if len(text.encode()) > DATA_FILE_BYTES_MAX:
        raise DataFileInvalid([{"path": "", "reason": f"the file is larger than {DATA_FILE_BYTES_MAX} bytes"}])
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON: one parser reads both
    except yaml.YAMLError as error:
        raise DataFileInvalid([{"path": "", "reason": f"not YAML or JSON: {error}"}]) from error
    errors = [
        {"path": "/" + "/".join(str(p) for p in error.absolute_path), "reason": error.message}
        for error in sorted(_validator(schema_path).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        raise DataFileInvalid(errors)
    return data
