"""The benchmark runs end to end at a tiny size and prints every figure it promises. Its
numbers are not judged here (timing in a test suite only flakes); that it runs is."""

import subprocess
import sys
from pathlib import Path

from bench import imports as imports_bench
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
    "baseline (a): raw writes/s",
    "baseline (b): member balance p99",
    "awards/s at 32 clients, loaded ÷ empty ledger",
    "awards/s at 32 clients ÷ baseline (a)",
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
