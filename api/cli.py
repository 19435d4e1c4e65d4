"""The ``ledger`` command: serve, migrate, verify, checkpoint, load data files, import, sweep,
export, back up and restore."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import msgspec
from sqlalchemy.exc import ArgumentError, DBAPIError

from api import dto, views
from api.settings import checkpoint_key, token_secret
from ledger import (
    DEFAULT_DATABASE_URL,
    FLAGS,
    PRINCIPAL_PAGE_SIZE_MAX,
    Access,
    Checkpoint,
    Database,
    DatabaseBusy,
    DatabaseFromNewerRelease,
    DatabaseNotMigrated,
    DatabaseUnavailable,
    DataFileInvalid,
    IdempotentRequest,
    ImportRefused,
    ImportReport,
    Ledger,
    LedgerError,
    Outcome,
    Principal,
    audit,
    backup,
    check_schema,
    default_policies_text,
    default_rules_text,
    default_tiers_text,
    exports,
    fingerprint,
    guide,
    head_revision,
    load_demo,
    member_copy,
    migrate,
    sealed_at_text,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
T = TypeVar("T")
EXIT_PROBLEMS = 1  # the command ran and found something wrong (verify's problems)
EXIT_REFUSED = 2  # the command could not do its work: a missing file, an unreachable database, a bad argument
CLI_ACTOR = Principal.admin("cli")  # who the journal and rule versions say wrote what the command line writes
DEBUG_VARIABLE = "LEDGER_DEBUG"  # set to 1: an unexpected error shows its traceback instead of a file's name
EXPORT_FORMATS = ("csv", "xlsx")
PACKAGE = "grid-points-ledger"  # the distribution whose version --version prints


class CommandRefused(Exception):
    """A bad argument found by the command itself (argparse finds the rest): one line, exit 2."""


def _database(url: str, *, create: bool = False) -> Database:
    """The database at ``url``; a URL that names no supported database is a bad argument."""
    try:
        return Database(url, create=create)
    except (ArgumentError, ValueError) as error:
        raise CommandRefused(f"--database-url {url}: {error}") from error


@asynccontextmanager
async def _opened(url: str, *, at_head: bool = True) -> AsyncIterator[Database]:
    """An existing database; ``at_head``: refused unless its schema is this release's, as
    every command but migrate, serve and restore reads and writes this release's tables."""
    db = _database(url)
    try:
        if at_head:
            await check_schema(db)
        yield db
    finally:
        await db.dispose()


async def _migrate(url: str) -> None:
    db = _database(url, create=True)
    try:
        await migrate(db)
    finally:
        await db.dispose()


async def _load(url: str, what: str, text: str) -> int:
    """Load a rules, tiers or expiry file; every error of a bad file is printed with its
    path, and exits 1 as verify's problems do: the file was read and found wrong."""

    async def work(ledger: Ledger) -> Sequence[tuple[str | None, int]]:
        if what == "rules":
            return (await ledger.load_rules(CLI_ACTOR, text)).created
        if what == "tiers":
            return await ledger.load_tiers(CLI_ACTOR, text)
        return await ledger.load_expiry_policies(CLI_ACTOR, text)

    try:
        created = await _with_ledger(url, work)
    except DataFileInvalid as invalid:
        print(f"{invalid.detail}:", file=sys.stderr)
        for error in invalid.errors:
            print(f"  {error.path or '/'}: {error.reason}", file=sys.stderr)
        return EXIT_PROBLEMS
    for name, version in created:
        print(f"loaded {name or 'default'} version {version}")
    print(f"{len(created)} new version(s)")
    return 0


def _export_format(output: Path, given: str | None) -> str:
    """The format asked for, else the output's extension's; csv for any other name."""
    named = output.suffix.lower().removeprefix(".")
    if given is None:
        return named if named in EXPORT_FORMATS else "csv"
    if named in EXPORT_FORMATS and named != given:
        raise CommandRefused(f"--format {given} does not match the output {output}: name it .{given}, or drop --format")
    return given


async def _export(args: argparse.Namespace) -> int:
    """Write the nomination list. Every check comes before the export seals its checkpoint,
    and a write that fails removes what it wrote: no half file is left to be sent on."""
    form = _export_format(args.output, args.format)
    folder = args.output.parent
    if not folder.is_dir():
        raise CommandRefused(f"{folder}: no such folder for --output (nothing was exported)")

    async def work(ledger: Ledger) -> None:
        export = await ledger.export_nominations(CLI_ACTOR, args.period, args.org_unit, args.flag)
        try:
            if form == "csv":
                with args.output.open("wb") as out:
                    async for chunk in exports.csv_with_bom(export, ledger.tz):
                        out.write(chunk)
            else:
                made = await exports.write_xlsx(export, ledger.tz)
                try:
                    shutil.move(made, args.output)  # not Path.replace: the temporary folder may be another disk
                finally:
                    made.unlink(missing_ok=True)
        except BaseException:
            args.output.unlink(missing_ok=True)
            raise

    await _with_ledger(args.database_url, work, checkpoint_key())
    print(f"wrote {args.output}")
    return 0


COPY_FORMATS = {".json": "json", ".xlsx": "xlsx"}
"""A member's copy is written as its file's extension says."""


async def _member_export(args: argparse.Namespace) -> int:
    """Write a member's copy of their data (JSON or XLSX, from the extension), and record
    the reading in the audit log as the API does."""
    form = COPY_FORMATS.get(args.output.suffix.lower())
    if form is None:
        raise CommandRefused(f"{args.output}: name a .json or .xlsx file for --output (nothing was exported)")
    if not args.output.parent.is_dir():
        raise CommandRefused(f"{args.output.parent}: no such folder for --output (nothing was exported)")

    async def work(ledger: Ledger) -> int:
        copy = await ledger.member_copy(CLI_ACTOR, args.id)
        path = f"/v1/members/{args.id}/export"
        entry = audit.read(CLI_ACTOR.id, Access.ADMIN.value, path, copy.rows, args.id, format=form)
        await ledger.record_audit(entry)
        if form == "json":
            args.output.write_text(json.dumps(member_copy.json_value(copy), ensure_ascii=False, indent=2) + "\n")
        else:
            args.output.write_bytes(member_copy.xlsx_bytes(copy, ledger.tz))
        return copy.rows

    rows = await _with_ledger(args.database_url, work)
    print(f"wrote {args.output}: {rows} rows about member {args.id}")
    return 0


PROGRESS_LINE_ROWS = 10_000
"""Rows between two progress lines when the output is not a terminal (a log): 100,000
members make ten lines, not a hundred."""


class _Progress:
    """Rows read so far, on stderr: one line rewritten in place on a terminal, a line
    every ``PROGRESS_LINE_ROWS`` otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.terminal = sys.stderr.isatty()
        self.printed = 0

    def __call__(self, rows: int) -> None:
        rate = rows / max(time.monotonic() - self.started, 1e-6)
        if self.terminal:
            print(f"\rimporting: {rows:,} rows read ({rate:,.0f} rows/s)", end="", file=sys.stderr, flush=True)
        elif rows - self.printed >= PROGRESS_LINE_ROWS:
            print(f"importing: {rows:,} rows read ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)
            self.printed = rows

    def done(self) -> None:
        if self.terminal:
            print(file=sys.stderr)


def _row_lines(report: ImportReport) -> list[str]:
    """The refused rows and the updated ones, as the report lists them."""
    lines = []
    for o in report.outcomes:
        if o.outcome is Outcome.REFUSED:
            lines.append(f"  row {o.row}, {o.column or '-'}: {o.reason}" + (f" ({o.key})" if o.key else ""))
        elif o.outcome is Outcome.UPDATED:
            lines.append(f"  row {o.row}: {o.key} updated: {', '.join(o.changed)}")
    return lines


def _summary(report: ImportReport, file: Path) -> str:
    """One paragraph: what the file holds, what was (or would be) written, what to do next."""
    what = "units" if report.kind == "org_units" else "members"
    verb = "Dry run of" if report.dry_run else "Import of"
    create, update = ("created", "updated") if report.applied else ("to create", "to update")
    text = (
        f"{verb} {file.name}: {report.rows:,} row(s) of {what}, {report.created:,} {create}, "
        f"{report.updated:,} {update}, {report.unchanged:,} unchanged, {report.refused:,} refused."
    )
    if report.refused:
        text += " Nothing was written: fix the refused rows and run the import again."
    elif report.dry_run:
        text += " Nothing was written; run it again without --dry-run to import."
    if report.outcomes_omitted:
        text += f" {report.outcomes_omitted:,} more row outcome(s) are counted but not listed."
    if report.absent:
        text += (
            f" {report.absent:,} member(s) of the micro-grids in the file are not in it and were kept"
            f" ({', '.join(report.absent_ids)}{', …' if report.absent > len(report.absent_ids) else ''})."
        )
    if report.ignored_columns:
        text += f" Columns not imported: {', '.join(report.ignored_columns)}."
    return text


async def _import(args: argparse.Namespace) -> int:
    """Import an org or member file; refused rows, updates and a summary are printed."""
    progress = _Progress()

    async def work(ledger: Ledger) -> ImportReport:
        with args.file.open("rb") as file:
            if args.sub == "org":
                return await ledger.import_units(CLI_ACTOR, file, dry_run=args.dry_run)
            return await ledger.import_members(CLI_ACTOR, file, dry_run=args.dry_run, progress=progress)

    try:
        report = await _with_ledger(args.database_url, work)
    except ImportRefused as refused:
        report = refused.report
    finally:
        progress.done()
    for line in _row_lines(report):
        print(line)
    print(_summary(report, args.file))
    return EXIT_PROBLEMS if report.refused else 0


async def _prepare(url: str, demo: bool, base_url: str) -> None:
    db = _database(url, create=True)
    try:
        await migrate(db)
        ledger = Ledger(db)
        if not await ledger.rules():
            await ledger.load_rules(CLI_ACTOR, default_rules_text())
            print("loaded the default earning rules")
        if not await ledger.tier_schemes():
            await ledger.load_tiers(CLI_ACTOR, default_tiers_text())
            print("loaded the default tier scheme")
        if not await ledger.expiry_policies():
            await ledger.load_expiry_policies(CLI_ACTOR, default_policies_text())
            print("loaded the default expiry policy (points never expire)")
        if demo:
            if await load_demo(ledger):
                print(f"demo data loaded\n{guide(base_url)}")
            else:
                print("demo data skipped: the database already has an org tree")
    finally:
        await db.dispose()


async def _with_ledger(url: str, work: Callable[[Ledger], Awaitable[T]], key: bytes | None = None) -> T:
    return await _with_db(url, lambda db: work(Ledger(db, checkpoint_key=key)))


async def _with_db(url: str, work: Callable[[Database], Awaitable[T]], *, at_head: bool = True) -> T:
    async with _opened(url, at_head=at_head) as db:
        return await work(db)


async def _verify(url: str) -> int:
    # The key is read, never made: a new key would call every checkpoint forged.
    report = await _with_ledger(url, Ledger.verify, checkpoint_key(create=False))
    print(
        json.dumps(
            {
                "ok": report.ok,
                "transactions": report.transactions,
                "postings": report.postings,
                "accounts": report.accounts,
                "last_hash": report.last_hash,
                "checkpoints": report.checkpoints,
                "erased_verbatim": report.erased_verbatim,
                "problems": report.problems,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0 if report.ok else EXIT_PROBLEMS


def checkpoint_line(checkpoint: Checkpoint) -> str:
    """One line that says everything a checkpoint holds, to copy onto paper or elsewhere."""
    return (
        f"checkpoint {checkpoint.id}: transaction {checkpoint.transaction_id} hash {checkpoint.hash} "
        f"sealed {sealed_at_text(checkpoint)} mac {checkpoint.mac}"
    )


async def _checkpoint(url: str) -> int:
    checkpoint = await _with_ledger(url, lambda ledger: ledger.checkpoint(CLI_ACTOR), checkpoint_key())
    print(checkpoint_line(checkpoint))
    return 0


async def _sweep(url: str) -> int:
    print(json.dumps(dataclasses.asdict(await _with_ledger(url, Ledger.sweep))))
    return 0


async def _backup(args: argparse.Namespace) -> int:
    made = await backup.backup(args.database_url, args.file)
    print(f"backed up {backup.shown(args.database_url)} to {made.path} ({made.size_bytes:,} bytes, {made.engine})")
    return 0


async def _restore(args: argparse.Namespace) -> int:
    """Restore into an empty database, then verify the copy: a restore is not done until
    the restored journal is shown to add up. Exit code 2 means nothing was restored; 1,
    that the copy was restored but is not verified."""
    url = args.database_url
    await backup.restore(args.file, url)
    print(f"restored {args.file} into {backup.shown(url)}")
    try:
        await _with_db(url, check_schema, at_head=False)
    except DatabaseFromNewerRelease as newer:
        print(newer.detail)
        return EXIT_PROBLEMS
    except DatabaseNotMigrated as behind:
        # This release's verify reads this release's schema: an older copy is migrated first.
        print(
            f"the restored copy's schema is at revision {behind.fields()['found']}, this release's at "
            f"{head_revision()}: run ledger migrate --database-url {backup.shown(url)} (or use the release that made "
            "the backup), then ledger verify"
        )
        return EXIT_PROBLEMS
    report = await _with_ledger(url, Ledger.verify, checkpoint_key(create=False))
    if report.ok:
        print(
            f"verify ok: {report.transactions:,} transactions, {report.accounts:,} accounts, "
            f"{report.checkpoints:,} checkpoints checked, chain head {report.last_hash}"
        )
        return 0
    first = json.dumps(report.problems[0], ensure_ascii=False)
    print(f"verify found {len(report.problems):,} problems in the restored copy, the first: {first}")
    return EXIT_PROBLEMS


def _principal_json(principal: Principal) -> str:
    return json.dumps(msgspec.to_builtins(views.read(principal, dto.PrincipalRead)), ensure_ascii=False)


async def _token(args: argparse.Namespace) -> int:
    """Create, list or revoke tokens; a new token is printed once and never again."""

    async def work(ledger: Ledger) -> int:
        if args.sub == "create":
            expires_at = None if args.expires_in_days is None else ledger.clock() + timedelta(days=args.expires_in_days)
            principal, token = await ledger.create_principal(
                CLI_ACTOR,
                role=Access(args.role),
                label=args.label,
                org_unit=args.org_unit,
                member_id=args.member,
                expires_at=expires_at,
                key=token_secret().encode(),
            )
            print(_principal_json(principal))
            print(f"token (shown once, keep it safe):\n  {token}")
        elif args.sub == "revoke":
            print(_principal_json(await ledger.revoke_principal(CLI_ACTOR, args.id)))
        else:
            after = None
            while found := await ledger.principals(PRINCIPAL_PAGE_SIZE_MAX, after):
                for principal in found:
                    print(_principal_json(principal))
                after = found[-1].id
        return 0

    return await _with_ledger(args.database_url, work)


async def _erase(args: argparse.Namespace) -> int:
    """Erase a member's personal information; one line says what was erased."""
    path = f"member erase {args.id}"
    # Each run is its own request: an erasure asked for twice erases what arrived between.
    request = IdempotentRequest(CLI_ACTOR.id, f"cli:{path}:{secrets.token_hex(8)}", fingerprint(path, args.reason))

    async def work(ledger: Ledger) -> int:
        with audit.serving(audit.Entry(CLI_ACTOR.id, Access.ADMIN.value, "CLI", path, 201)):
            erased, _ = await ledger.erase_member(CLI_ACTOR, args.id, args.reason, request)
        print(
            f"member {erased.member_id} is now {erased.pseudonym}: {erased.values_erased} memos and evidence links "
            f"and {erased.claims_cleared} claims erased, {erased.replies_scrubbed} stored replies scrubbed "
            f"(erasure {erased.erasure_id}); points, tiers and flags are kept"
        )
        return 0

    return await _with_ledger(args.database_url, work)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.protocol import ProblemHttpToolsProtocol

    base_url = f"http://{args.host}:{args.port}"
    asyncio.run(_prepare(args.database_url, args.demo, base_url))
    os.environ["LEDGER_DATABASE_URL"] = args.database_url
    if not os.environ.get("LEDGER_ADMIN_TOKEN"):
        os.environ["LEDGER_ADMIN_TOKEN"] = secrets.token_urlsafe(32)
        print(f"LEDGER_ADMIN_TOKEN was not set; this run's admin token is:\n  {os.environ['LEDGER_ADMIN_TOKEN']}")
    print(f"serving on {base_url} (OpenAPI at /schema)", flush=True)
    uvicorn.run(
        "api.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        http=ProblemHttpToolsProtocol,
    )
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ledger",
        description="Grid points ledger (积分账本)",
        epilog=f"Exit codes: 0 done, {EXIT_PROBLEMS} the command ran and found problems (verify, a bad data file, "
        f"refused import rows), {EXIT_REFUSED} nothing was done (a bad argument, a missing file or database). An "
        f"unexpected error prints one line naming the file that holds its traceback; {DEBUG_VARIABLE}=1 prints the "
        "traceback instead.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {importlib.metadata.version(PACKAGE)}")
    url = os.environ.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve the HTTP API")
    serve.add_argument("--host", default=DEFAULT_HOST, help="the address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="the port to listen on (default: %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    loaders = []
    for what, helptext in (("rules", "earning rules"), ("tiers", "tier schemes"), ("expiry", "expiry policies")):
        group = commands.add_parser(what, help=helptext).add_subparsers(dest="sub", required=True)
        load = group.add_parser("load", help=f"validate a {what} file (YAML or JSON) and load what changed")
        load.add_argument("file", type=Path, help=f"the {what} file to load")
        loaders.append(load)
    export = commands.add_parser("export", help="exports").add_subparsers(dest="sub", required=True)
    nominations = export.add_parser("nominations", help="the nomination list of a subtree as CSV or XLSX")
    nominations.add_argument("--org-unit", help="the subtree to export (default: the whole ledger)")
    nominations.add_argument("--period", help="calendar year (default: this year)")
    nominations.add_argument("--flag", choices=FLAGS, help="one flag's nominations (default: every flag)")
    nominations.add_argument(
        "--format", choices=EXPORT_FORMATS, help="default: the output's extension, csv for any other name"
    )
    nominations.add_argument("--output", type=Path, required=True, help="the file to write, in an existing folder")
    importing = commands.add_parser("import", help="import the org tree or members from XLSX or CSV")
    kinds = importing.add_subparsers(dest="sub", required=True)
    imports = []
    for kind, helptext in (
        ("org", "org units (编码, 名称, 层级, 上级)"),
        ("members", "members (成员编号, 姓名, 微网格 …)"),
    ):
        one = kinds.add_parser(kind, help=helptext)
        one.add_argument("file", type=Path, help="the XLSX or CSV file to import")
        one.add_argument("--dry-run", action="store_true", help="report every row's outcome and write nothing")
        imports.append(one)
    tokens = commands.add_parser("token", help="API tokens: one per person or system").add_subparsers(
        dest="sub", required=True
    )
    create = tokens.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", choices=[a.value for a in Access], required=True, help="what the token may do")
    create.add_argument("--label", required=True, help="whose token it is, e.g. 塔湾社区 张敏 (desk)")
    create.add_argument("--org-unit", help="the subtree an organizer (or auditor) acts in")
    create.add_argument("--member", help="the member a member token belongs to")
    create.add_argument("--expires-in-days", type=float, help="default: until revoked")
    revoke = tokens.add_parser("revoke", help="revoke a token by its principal id; it stops working at once")
    revoke.add_argument("id", help="the principal id, as token list or token create prints it")
    token_list = tokens.add_parser("list", help="every token's principal (never the token itself)")
    for command in (
        create,
        revoke,
        token_list,
        *loaders,
        *imports,
        nominations,
        serve,
        commands.add_parser("migrate", help="bring the schema to the latest revision"),
        commands.add_parser("verify", help="recompute balances and the hash chain, and check every checkpoint"),
        commands.add_parser("checkpoint", help="seal the chain head with the checkpoint key and print it"),
        commands.add_parser("sweep", help="release holds past their time and expire points past their date"),
    ):
        command.add_argument("--database-url", default=url, help="SQLAlchemy URL (default: %(default)s)")
    _backup_parsers(commands, url)
    _member_parsers(commands, url)
    return top


def _member_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], url: str) -> None:
    members = commands.add_parser("member", help="one member's personal data").add_subparsers(dest="sub", required=True)
    copy = members.add_parser("export", help="everything kept about a member, the copy a resident may ask for")
    copy.add_argument("id", help="the member's id")
    copy.add_argument("--output", type=Path, required=True, help="the file to write: .json or .xlsx")
    erase = members.add_parser("erase", help="erase a member's name, phone, memos and evidence; points stay")
    erase.add_argument("id", help="the member's id")
    erase.add_argument("--reason", required=True, help="why, e.g. the resident's request of 2026-12-01")
    for command in (copy, erase):
        command.add_argument("--database-url", default=url, help="SQLAlchemy URL (default: %(default)s)")


def _backup_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser], url: str) -> None:
    made = commands.add_parser(
        "backup", help="copy the whole database into FILE while the service runs (SQLite file or pg_dump archive)"
    )
    made.add_argument("file", type=Path, help="the backup file to write (replaced only once the new one is whole)")
    made.add_argument("--database-url", default=url, help="the database to back up (default: %(default)s)")
    restored = commands.add_parser(
        "restore", help="restore a backup into an empty database, then verify the restored copy"
    )
    restored.add_argument("file", type=Path, help="a file written by ledger backup")
    restored.add_argument(
        "--database-url", required=True, help="the empty database to restore into (a new SQLite file, or createdb)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr; argparse's own (a bad
    argument, an unknown command) print the usage and exit 2 before anything runs."""
    args = parser().parse_args(argv)
    if args.command != "serve":
        # The command prints its own line for a failure; the warnings the storage logs
        # on the way (for the service's log) would say it a second time. basicConfig
        # leaves a logging set up by a caller (a test run) alone.
        logging.basicConfig(level=logging.ERROR, format="%(message)s")
    try:
        return _run(args)
    except CommandRefused as refused:
        print(refused, file=sys.stderr)
    except DatabaseUnavailable as error:
        print(_unreachable(args.database_url, error), file=sys.stderr)
    except LedgerError as error:
        print(error.detail, file=sys.stderr)
    except OSError as error:
        print(f"{error.filename or ''}: {error.strerror or error}".removeprefix(": "), file=sys.stderr)
    except UnicodeDecodeError as error:
        print(f"{getattr(args, 'file', '')}: not UTF-8 text ({error.reason})", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE) == "1":
            raise
        first = next(iter(str(error).splitlines()), "")
        print(f"internal error: {type(error).__name__}: {first} (traceback in {_traceback_file()})", file=sys.stderr)
    return EXIT_REFUSED


def _unreachable(url: str, error: DatabaseUnavailable) -> str:
    """The database and the driver's reason: the error's own detail speaks to an HTTP client."""
    cause = error.__cause__
    if cause is None:  # raised without a driver error: its detail is all there is
        return error.detail
    reason = cause.orig if isinstance(cause, DBAPIError) else cause
    said = str(reason).split(": ", 1)[-1] if str(reason).startswith("<class") else str(reason)
    said = said or type(reason).__name__
    if isinstance(error, DatabaseBusy):
        return f"the database {backup.shown(url)} is busy and nothing was changed: {said}; run the command again"
    return f"cannot reach {backup.shown(url)}: {said}"


def _traceback_file() -> str:
    """Write the traceback being handled to a file of its own, for a bug report."""
    fd, path = tempfile.mkstemp(prefix="ledger-traceback-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(traceback.format_exc())
    return path


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command in ("rules", "tiers", "expiry"):
        return asyncio.run(_load(args.database_url, args.command, args.file.read_text(encoding="utf-8")))
    if args.command == "export":
        return asyncio.run(_export(args))
    if args.command == "import":
        return asyncio.run(_import(args))
    if args.command == "token":
        return asyncio.run(_token(args))
    if args.command == "member":
        return asyncio.run(_member_export(args) if args.sub == "export" else _erase(args))
    if args.command == "backup":
        return asyncio.run(_backup(args))
    if args.command == "restore":
        return asyncio.run(_restore(args))
    if args.command == "migrate":
        asyncio.run(_migrate(args.database_url))
        print("database is at the latest revision")
        return 0
    if args.command == "sweep":
        return asyncio.run(_sweep(args.database_url))
    if args.command == "checkpoint":
        return asyncio.run(_checkpoint(args.database_url))
    return asyncio.run(_verify(args.database_url))


if __name__ == "__main__":
    sys.exit(main())
