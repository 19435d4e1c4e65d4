"""The benchmark runs end to end at a tiny size and prints every figure it promises. Its
numbers are not judged here (timing in a test suite only flakes); that it runs is."""

import subprocess
import sys
from pathlib import Path

from bench import imports as imports_bench
from bench.report import Table
from tests.conftest import MANY_CONNECTIONS

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "awards/s, 1 client",
    "awards/s, 8 clients",
    "awards/s, 32 clients",
    "balance reads/s, 1 client",
    "balance reads/s, 32 clients",
    "statement reads/s, 1 client",
    "statement reads/s, 32 clients",
    "settle a roster",
    "redemption holds/s, 32 clients, one reward",
    "nomination export (csv), whole ledger",
    "nomination export (xlsx), whole ledger",
    "verify, seconds per million transactions",
    "baseline (a): raw writes/s, one transaction per award, 1 connection",
    "baseline (b): member balance p99",
    "awards/s at 32 clients, loaded ÷ empty ledger",
    "awards/s at 32 clients ÷ baseline (a)",
    "awards/s at 8 clients ÷ baseline (a)",
    "award p50 at 1 client ÷ baseline (a) p50 at 1 connection",
    "holds/s at 32 clients on one reward ÷ awards/s at 32 clients",
    "statements per award batch, 1 award",
    "statements per award batch, 128 awards",
)
TINY = ["--quick", "--members", "300", "--transactions", "2000", "--requests", "40"]
BENCH_SECONDS_MAX = 300  # a tiny run takes ~10 s per backend; this only stops a hang
pytestmark = MANY_CONNECTIONS


def test_the_benchmark_prints_every_figure(backend):
    done = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--backends", backend.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BENCH_SECONDS_MAX,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    rows = [line.strip("| ").split(" | ") for line in done.stdout.splitlines() if line.startswith("| ")]
    for figure in FIGURES:
        found = [cells for cells in rows if cells[0].startswith(figure)]
        assert found, f"{figure!r} is missing from:\n{done.stdout}"
        for name, value in found:
            assert value[0].isdigit(), (name, value)  # a measured figure, not a dash
            assert "errors" not in value or "errors 0" in value, (name, value)  # every request answered


def test_the_import_benchmark_prints_its_figures(backend):
    """The import benchmark runs at a tiny size and prints rows per second and peak memory."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.imports", "--members", "200", "--backends", backend.name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BENCH_SECONDS_MAX,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    figures = [line for line in done.stdout.splitlines() if line.startswith("| member import")]
    assert len(imports_bench.RUNS) == len(figures), done.stdout
    assert all(" rows/s (200 rows in " in line and "s of CPU" in line and "peak memory" in line for line in figures)


def test_a_repeated_figure_shows_its_median_and_spread_with_the_median_runs_note():
    table = Table()
    for value, note in ((300.0, "slow"), (500.0, "middle"), (900.0, "fast")):
        table.add("postgres", "awards/s", value, "/s", note)
    table.add("sqlite", "awards/s", 42.0, "/s", "once")
    [row] = [line for line in table.render("shape").splitlines() if line.startswith("| awards/s")]
    assert "| awards/s | 500 /s (median of 3, 300–900; middle) | 42.00 /s (once) |" == row
