"""The benchmark's table: one row per figure, one column per database.

A figure measured in several runs (``--repeat``) is shown as the median of its runs with
their spread (min–max) and the note of the run nearest the median: one run alone varies
by ±20 % on a shared machine, and a median with its spread says how far to trust it.
"""

from __future__ import annotations

import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Figure:
    value: float
    unit: str
    note: str


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _cell(figures: list[Figure]) -> str:
    values = [f.value for f in figures]
    median = statistics.median(values)
    nearest = min(figures, key=lambda f: abs(f.value - median))
    notes = [nearest.note] if nearest.note else []
    if len(figures) > 1:
        notes.insert(0, f"median of {len(figures)}, {_number(min(values))}–{_number(max(values))}")
    return f"{_number(median)} {nearest.unit}" + (f" ({'; '.join(notes)})" if notes else "")


@dataclass
class Table:
    rows: dict[str, dict[str, list[Figure]]] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, backend: str, metric: str, value: float, unit: str, note: str = "") -> None:
        self.rows.setdefault(metric, {}).setdefault(backend, []).append(Figure(value, unit, note))

    def render(self, shape: object) -> str:
        backends = sorted({b for row in self.rows.values() for b in row})
        lines = [
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; community: {shape}; started {self.started:%Y-%m-%d %H:%M} UTC",
            "",
            "| figure | " + " | ".join(backends) + " |",
            "| --- | " + " | ".join("---" for _ in backends) + " |",
        ]
        for metric, values in self.rows.items():
            cells = [_cell(values[b]) if b in values else "—" for b in backends]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        return "\n".join(lines)
