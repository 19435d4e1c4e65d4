"""The import figures: ``python -m bench.imports [--members N] [--backends postgres,sqlite]``.

For each database it creates a fresh one, imports a generated org tree, then imports a
generated member file the way an office would, with ``ledger import members`` in a process
of its own: an XLSX that creates every member, the same members as CSV (GB18030, as Excel
on a Chinese Windows saves it), which finds every one unchanged, then a CSV that moves
every member to the next micro-grid (a move recorded per member). A second fresh database
takes the CSV as its first import, so both formats are timed creating every member. It
prints rows per second and the process's peak memory, which stays flat as the file grows
because the sheet is streamed and written a chunk at a time.

On SQLite an import holds the one write lock from its first statement to its commit (it is
all or nothing, so one transaction): a probe beside it tries to take the lock every
``LOCK_PROBE_SECONDS`` and reports the longest it found the lock taken, which is how long
another writer waits (up to the busy timeout, then 503 database_busy).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


LOCK_PROBE_SECONDS = 0.05
"""How often the probe tries SQLite's write lock: often enough to time a hold of seconds
to a twentieth of one, rarely enough that its own instant holds never delay the import."""


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


def _members(count: int, micro_grids: int, shift: int = 0) -> list[tuple[str, ...]]:
    """The members, each in micro-grid ``(i + shift) % micro_grids``."""
    return [
        (f"p{i:07d}", f"居民{i}", f"m{(i + shift) % micro_grids}", "是" if i % 3 == 0 else "否", "志愿者、居民", "是")
        for i in range(count)
    ]


MEMBER_HEADER = ("成员编号", "姓名", "微网格", "党员", "角色", "在册")


def _write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="gb18030", newline="") as out:
        csv.writer(out).writerows([MEMBER_HEADER, *rows])
    return path


def _write_xlsx(path: Path, rows: list[tuple[str, ...]], *, shared_strings: bool) -> Path:
    """A workbook as Excel and WPS save one, each text once in a table of shared strings
    that the cells point into; or, ``shared_strings`` False, each cell holding its own text
    inline, as openpyxl's write-only mode (and some report generators) write, which costs a
    reader an object per cell."""
    workbook = Workbook(write_only=not shared_strings)
    sheet = workbook.active if shared_strings else workbook.create_sheet()
    assert sheet is not None
    for row in (MEMBER_HEADER, *rows):
        sheet.append(row)
    workbook.save(path)
    return path


def _write_files(workdir: Path, members: int) -> dict[str, Path]:
    units = workdir / "units.csv"
    with units.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([("编码", "名称", "层级", "上级"), *_units(MICRO_GRIDS)])
    rows = _members(members, MICRO_GRIDS)
    return {
        "units": units,
        "xlsx": _write_xlsx(workdir / "members.xlsx", rows, shared_strings=True),
        "xlsx_inline": _write_xlsx(workdir / "members-inline.xlsx", rows, shared_strings=False),
        "csv": _write_csv(workdir / "members.csv", rows),
        "moved": _write_csv(workdir / "members-moved.csv", _members(members, MICRO_GRIDS, shift=1)),
    }


@contextmanager
def _lock_probe(url: str) -> Iterator[list[float]]:
    """SQLite: the longest spans (seconds) in which a writer found the write lock taken,
    while the block runs; nothing on PostgreSQL, whose writers lock rows, not the database."""
    longest = [0.0]
    if not url.startswith("sqlite"):
        yield longest
        return
    done = threading.Event()

    def probe() -> None:
        # Autocommit, and no busy wait: each try answers at once whether the lock is free.
        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        taken_since: float | None = None
        while not done.wait(LOCK_PROBE_SECONDS):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
                taken_since = None
            except sqlite3.OperationalError:
                now = time.perf_counter()
                taken_since = now if taken_since is None else taken_since
                longest[0] = max(longest[0], now - taken_since)
        conn.close()

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield longest
    finally:
        done.set()
        thread.join()


def _import(url: str, what: str, file: Path) -> tuple[float, int, float]:
    """Seconds, peak memory in KB and CPU seconds of ``ledger import`` in a process of its own."""
    command = [sys.executable, "-m", "api.cli", "import", what, str(file), "--database-url", url]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _USAGE, *command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kb, cpu_seconds = done.stdout.split()[-2:]
    return time.perf_counter() - started, int(peak_kb), float(cpu_seconds)


RUNS = (
    # (database, file, what it does): each database starts fresh with the org tree.
    (1, "xlsx", "XLSX (shared strings, as Excel saves it), every member created"),
    (1, "csv", "CSV (GB18030), every member unchanged"),
    (1, "moved", "CSV (GB18030), every member moved (a move recorded each)"),
    (2, "csv", "CSV (GB18030), every member created"),
    (3, "xlsx_inline", "XLSX (inline strings, as openpyxl's write-only mode saves it), every member created"),
)


async def _run_backend(backend: str, files: dict[str, Path], members: int, table: Table, workdir: Path) -> None:
    urls: dict[int, str] = {}
    try:
        for database, kind, label in RUNS:
            if database not in urls:
                urls[database] = url = await _create_database(backend, workdir)
                db = Database(url, create=True)
                await migrate(db)
                await db.dispose()
                _import(url, "org", files["units"])
            file = files[kind]
            with _phase(backend, f"import {file.name} into database {database}"), _lock_probe(urls[database]) as held:
                seconds, peak_kb, cpu = _import(urls[database], "members", file)
            size = file.stat().st_size / 1e6
            note = (
                f"{members:,} rows in {seconds:.1f} s ({cpu:.1f} s of CPU), {size:.1f} MB file, "
                f"peak memory {peak_kb / 1024:.0f} MB"
            )
            if held[0]:
                note += f", other writers locked out for {held[0]:.1f} s"
            table.add(backend, f"member import, {label}", members / seconds, "rows/s", note)
    finally:
        for url in urls.values():
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
