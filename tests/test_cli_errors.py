"""The `ledger` command's failures: one line on stderr, exit 2 (1 for problems found), never
a traceback, and nothing created on the way."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import cli as cli_module
from api.cli import EXIT_REFUSED
from api.cli import main as cli
from ledger import Database, exports, head_revision, migrate

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
ROOT = Path(__file__).resolve().parent.parent


def _sqlite(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of one in-process run, stdout being empty."""
    code = cli(argv)
    out, err = capsys.readouterr()
    assert "" == out, out
    return code, err


def _one_line(err: str, expected: str) -> None:
    assert 1 == err.count("\n") and expected in err, err
    assert "Traceback" not in err


def _without_database(tmp: Path) -> list[tuple[list[str], str]]:
    """Bad invocations that fail before any database is opened, or on a missing one."""
    missing = tmp / "nowhere" / "ledger.sqlite3"
    url = ["--database-url", _sqlite(missing)]
    there_is_none = f"there is no database at {missing}: run ledger migrate"
    binary = tmp / "policies.yaml"
    binary.write_bytes(b"\xff\xfe")
    return [
        (["verify", *url], there_is_none),
        (["sweep", *url], there_is_none),
        (["checkpoint", *url], there_is_none),
        (["token", "list", *url], there_is_none),
        (["export", "nominations", "--output", str(tmp / "n.csv"), *url], there_is_none),
        (["tiers", "load", str(tmp / "absent.yaml"), *url], f"{tmp / 'absent.yaml'}: No such file or directory"),
        (["rules", "load", str(tmp / "absent.yaml"), *url], f"{tmp / 'absent.yaml'}: No such file or directory"),
        (["expiry", "load", str(binary), *url], f"{binary}: not UTF-8 text (invalid start byte)"),
        (["verify", "--database-url", UNREACHABLE], f"cannot reach {UNREACHABLE}: [Errno 111]"),
        (["sweep", "--database-url", "mysql://nowhere/x"], "--database-url mysql://nowhere/x: unsupported database"),
        (
            ["export", "nominations", "--format", "csv", "--output", str(tmp / "n.xlsx"), *url],
            f"--format csv does not match the output {tmp / 'n.xlsx'}",
        ),
        (
            ["export", "nominations", "--output", str(tmp / "absent" / "n.csv"), *url],
            f"{tmp / 'absent'}: no such folder for --output",
        ),
    ]


def test_a_bad_invocation_is_one_line_and_creates_nothing(tmp_path, capsys):
    """Each bad invocation: exit 2, one line that names what is wrong; the missing SQLite
    file and its folder are not created by any command but migrate."""
    for argv, expected in _without_database(tmp_path):
        code, err = _run(argv, capsys)
        assert EXIT_REFUSED == code, (argv, err)
        _one_line(err, expected)
    assert ["policies.yaml"] == [path.name for path in tmp_path.iterdir()]


def test_argparse_refusals_keep_their_usage_line_and_exit_2(capsys):
    """An unknown command or option is argparse's: the usage and the reason, exit 2."""
    for argv, expected in (
        (["vrify"], "invalid choice: 'vrify'"),
        (["export", "nominations"], "the following arguments are required: --output"),
        (["export", "nominations", "--output", "n.csv", "--format", "pdf"], "invalid choice: 'pdf'"),
    ):
        with pytest.raises(SystemExit) as exited:
            cli(argv)
        err = capsys.readouterr().err
        assert (2, True, True) == (exited.value.code, err.startswith("usage: ledger"), expected in err), err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exited:
        cli(["--version"])
    version = importlib.metadata.version("grid-points-ledger")
    assert (0, f"ledger {version}\n") == (exited.value.code, capsys.readouterr().out)


def test_every_option_has_help_text():
    """`ledger <command> --help` explains every option and argument."""
    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if action.choices and isinstance(action.choices, dict):  # the subcommands
                for sub, subparser in action.choices.items():
                    walk(subparser, f"{name} {sub}")
            elif action.help is None:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(cli_module.parser(), "ledger")
    assert [] == missing


def test_a_real_process_prints_no_traceback(tmp_path):
    """Run as the operator runs it: stderr is the one line, with no traceback."""
    missing = tmp_path / "gone" / "ledger.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LEDGER_DEBUG", None)
    for argv, code, expected in (
        (["verify", "--database-url", _sqlite(missing)], 2, f"there is no database at {missing}"),
        (["sweep", "--database-url", UNREACHABLE], 2, f"cannot reach {UNREACHABLE}"),
        (["vrify"], 2, "invalid choice: 'vrify'"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *argv], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert (code, "") == (done.returncode, done.stdout), done.stderr
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not missing.parent.exists()


async def test_a_database_not_at_the_head_is_sent_to_migrate(empty_database_url, backend, capsys):
    """A database with no schema, or one behind this release's, is refused with one line that
    says to run ledger migrate; after the migration the same command runs."""
    if backend.name == "sqlite":
        Path(empty_database_url.split("///", 1)[1]).touch()  # an empty file is an empty SQLite database
    argv = ["verify", "--database-url", empty_database_url]
    code, err = await asyncio.to_thread(_run, argv, capsys)
    assert EXIT_REFUSED == code
    _one_line(err, "the database has no schema: run ledger migrate")
    db = Database(empty_database_url)
    try:
        await migrate(db, "0007")
    finally:
        await db.dispose()
    code, err = await asyncio.to_thread(_run, argv, capsys)
    assert EXIT_REFUSED == code
    _one_line(err, f"the database is at schema revision 0007, this release's is {head_revision()}: run ledger migrate")
    assert 0 == await asyncio.to_thread(cli, ["migrate", "--database-url", empty_database_url])
    assert 0 == await asyncio.to_thread(cli, argv)
    assert '"ok": true' in capsys.readouterr().out


@pytest.mark.postgres_only
async def test_a_postgresql_database_that_does_not_exist_is_one_line(database_url, capsys):
    never = database_url.rsplit("/", 1)[0] + "/never_created"
    for argv in (["verify", "--database-url", never], ["migrate", "--database-url", never]):
        code, err = await asyncio.to_thread(_run, argv, capsys)
        assert EXIT_REFUSED == code
        _one_line(err, f'cannot reach {never}: database "never_created" does not exist')


async def test_a_missing_input_file_is_named(database_url, tmp_path, capsys):
    """A file to load or import that is not there: its path, exit 2, nothing loaded."""
    absent = tmp_path / "absent.xlsx"
    for argv in (
        ["tiers", "load", str(absent)],
        ["rules", "load", str(absent)],
        ["import", "members", str(absent)],
        ["import", "org", str(absent), "--dry-run"],
    ):
        code, err = await asyncio.to_thread(_run, [*argv, "--database-url", database_url], capsys)
        assert EXIT_REFUSED == code
        _one_line(err, f"{absent}: No such file or directory")


async def test_an_export_refused_or_failed_leaves_no_file(ledger, tmp_path, capsys, monkeypatch):
    """An unknown unit is refused before the file is opened; a write that breaks halfway
    removes its file and reports an internal error with the traceback's file; with
    LEDGER_DEBUG=1 the error itself is raised."""
    url = ledger.db.url
    output = tmp_path / "n.csv"
    argv = ["export", "nominations", "--output", str(output), "--database-url", url]
    code, err = await asyncio.to_thread(_run, [*argv, "--org-unit", "nowhere"], capsys)
    assert EXIT_REFUSED == code
    _one_line(err, "org unit 'nowhere' does not exist")
    assert [] == list(tmp_path.iterdir())

    async def broken(export, tz):
        yield b"\xef\xbb\xbfhalf a row"
        raise RuntimeError("disk gone\nsecond line")

    monkeypatch.setattr(exports, "csv_with_bom", broken)
    code, err = await asyncio.to_thread(_run, argv, capsys)
    assert EXIT_REFUSED == code
    _one_line(err, "internal error: RuntimeError: disk gone (traceback in ")
    logged = Path(err.rsplit("traceback in ", 1)[1].rstrip(")\n"))
    try:
        assert "Traceback" in logged.read_text() and "disk gone" in logged.read_text()
    finally:
        logged.unlink()
    assert not output.exists()
    monkeypatch.setenv("LEDGER_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk gone"):
        await asyncio.to_thread(cli, argv)
    assert not output.exists()


async def test_the_export_format_follows_the_output_name(ledger, tmp_path, capsys):
    """No --format: .xlsx writes a workbook, .csv (or any other name) the CSV."""
    url = ledger.db.url
    for name, starts in (("n.xlsx", b"PK"), ("n.csv", b"\xef\xbb\xbf"), ("n.txt", b"\xef\xbb\xbf")):
        argv = ["export", "nominations", "--output", str(tmp_path / name), "--database-url", url]
        assert 0 == await asyncio.to_thread(cli, argv)
        assert (tmp_path / name).read_bytes().startswith(starts), name
    assert 0 == await asyncio.to_thread(
        cli, ["export", "nominations", "--format", "xlsx", "--output", str(tmp_path / "m.dat"), "--database-url", url]
    )
    assert (tmp_path / "m.dat").read_bytes().startswith(b"PK")
    capsys.readouterr()
