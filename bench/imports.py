"""The import figures: ``python -m bench.imports [--members N] [--backends postgres,sqlite]``.

For each database it creates a fresh one, imports a generated org tree, then imports a
generated member file the way an office would, with ``ledger import members`` in a process
of its own: an XLSX that creates every member, then the same members as CSV (GB18030, as
Excel on a Chinese Windows saves it), which finds every one unchanged. It prints rows per
second and the process's peak memory, which stays flat as the file grows because the
sheet is streamed and written a chunk at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from openpyxl import Workbook

from bench.__main__ import ROOT, _create_database, _drop_database, _phase
from bench.report import Table
from ledger import Database, migrate

_USAGE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_maxrss, u.ru_utime + u.ru_stime)"
)
"""Runs a command; prints its peak memory (KB) and the CPU seconds it used, which on a
machine shared with other work say more than the seconds on the clock."""

MEMBERS = 100_000
MICRO_GRIDS = 1_000
"""Micro-grids of the generated tree (a street of 10 communities of 10 grids of 10):
100 members each at the default size, as a real micro-grid's 50–70 households."""


def _units(micro_grids: int) -> list[tuple[str, str, str, str]]:
    rows = [("s", "东大街街道", "街道", "")]
    for m in range(micro_grids):
        community, grid = f"c{m // 100}", f"g{m // 10}"
        if m % 100 == 0:
            rows.append((community, f"第{m // 100}社区", "社区", "s"))
        if m % 10 == 0:
            rows.append((grid, f"第{m // 10}大网格", "大网格", community))
        rows.append((f"m{m}", f"第{m}微网格", "微网格", grid))
    return rows


def _members(count: int, micro_grids: int) -> list[tuple[str, ...]]:
    return [
        (f"p{i:07d}", f"居民{i}", f"m{i % micro_grids}", "是" if i % 3 == 0 else "否", "志愿者、居民", "是")
        for i in range(count)
    ]


def _write_files(workdir: Path, members: int) -> tuple[Path, Path, Path]:
    units = workdir / "units.csv"
    with units.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([("编码", "名称", "层级", "上级"), *_units(MICRO_GRIDS)])
    header = ("成员编号", "姓名", "微网格", "党员", "角色", "在册")
    rows = _members(members, MICRO_GRIDS)
    as_csv = workdir / "members.csv"
    with as_csv.open("w", encoding="gb18030", newline="") as out:
        csv.writer(out).writerows([header, *rows])
    as_xlsx = workdir / "members.xlsx"
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in (header, *rows):
        sheet.append(row)
    workbook.save(as_xlsx)
    return units, as_xlsx, as_csv


def _import(url: str, what: str, file: Path) -> tuple[float, int, float]:
    """Seconds, peak memory in KB and CPU seconds of ``ledger import`` in a process of its own."""
    command = [sys.executable, "-m", "api.cli", "import", what, str(file), "--database-url", url]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _USAGE, *command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kb, cpu_seconds = done.stdout.split()[-2:]
    return time.perf_counter() - started, int(peak_kb), float(cpu_seconds)


async def _run_backend(backend: str, files: tuple[Path, Path, Path], members: int, table: Table, workdir: Path) -> None:
    units, as_xlsx, as_csv = files
    url = await _create_database(backend, workdir)
    try:
        db = Database(url, create=True)
        await migrate(db)
        await db.dispose()
        _import(url, "org", units)
        for label, file in (("XLSX, every member created", as_xlsx), ("CSV (GB18030), every member unchanged", as_csv)):
            with _phase(backend, f"import {file.name}"):
                seconds, peak_kb, cpu = _import(url, "members", file)
            size = file.stat().st_size / 1e6
            note = (
                f"{members:,} rows in {seconds:.1f} s ({cpu:.1f} s of CPU), {size:.1f} MB file, "
                f"peak memory {peak_kb / 1024:.0f} MB"
            )
            table.add(backend, f"member import, {label}", members / seconds, "rows/s", note)
    finally:
        await _drop_database(url)


async def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    p.add_argument("--members", type=int, default=MEMBERS)
    p.add_argument("--backends", default="postgres,sqlite")
    args = p.parse_args()
    table = Table()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-imports-") as tmp:
        workdir = Path(tmp)
        with _phase(args.backends, "write the files"):
            files = _write_files(workdir, args.members)
        for backend in args.backends.split(","):
            await _run_backend(backend, files, args.members, table, workdir)
    print(table.render(f"{args.members:,} members in {MICRO_GRIDS:,} micro-grids"))


if __name__ == "__main__":
    asyncio.run(main())
