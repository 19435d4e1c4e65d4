"""The benchmark's table: one row per figure, one column per database."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field


@dataclass
class Table:
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, backend: str, metric: str, value: float, unit: str, note: str = "") -> None:
        text = f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.2f} {unit}"
        self.rows.setdefault(metric, {})[backend] = f"{text} ({note})" if note else text

    def render(self, shape: object) -> str:
        backends = sorted({b for row in self.rows.values() for b in row})
        lines = [
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; community: {shape}",
            "",
            "| figure | " + " | ".join(backends) + " |",
            "| --- | " + " | ".join("---" for _ in backends) + " |",
        ]
        for metric, values in self.rows.items():
            lines.append(f"| {metric} | " + " | ".join(values.get(b, "—") for b in backends) + " |")
        return "\n".join(lines)
