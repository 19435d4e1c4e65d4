"""The ``ledger`` command: serve, migrate, verify, checkpoint, load data files, sweep, export."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import msgspec

from api.settings import checkpoint_key, token_secret
from api.views import principal_read
from ledger import Database, Ledger, migrate
from ledger.access.principals import PRINCIPAL_PAGE_SIZE_MAX, Principal
from ledger.demo import load_demo
from ledger.earning.rules import default_rules_text
from ledger.errors import DataFileInvalid, LedgerError
from ledger.honours import exports
from ledger.honours.tiers import FLAGS, default_tiers_text
from ledger.journal.checkpoints import Checkpoint, sealed_at_text
from ledger.shop.expiry_policies import default_policies_text
from ledger.storage.database import DEFAULT_DATABASE_URL
from ledger.values import Access

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
T = TypeVar("T")
CLI_PRINCIPAL = "cli"  # who the journal and rule versions say wrote what the command line writes


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
    finally:
        await db.dispose()


async def _load(url: str, what: str, text: str) -> int:
    """Load a rules, tiers or expiry file; every error of a bad file is printed with its path."""
    db = Database(url)
    ledger = Ledger(db)
    try:
        if what == "rules":
            created = (await ledger.load_rules(text, CLI_PRINCIPAL)).created
        elif what == "tiers":
            created = await ledger.load_tiers(text, CLI_PRINCIPAL)
        else:
            created = await ledger.load_expiry_policies(text, CLI_PRINCIPAL)
    except DataFileInvalid as invalid:
        print(f"{invalid.detail}:", file=sys.stderr)
        for error in invalid.errors:
            print(f"  {error.path or '/'}: {error.reason}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    for name, version in created:
        print(f"loaded {name or 'default'} version {version}")
    print(f"{len(created)} new version(s)")
    return 0


async def _export(args: argparse.Namespace) -> int:
    db = Database(args.database_url)
    ledger = Ledger(db, checkpoint_key=checkpoint_key())
    try:
        export = await ledger.export_nominations(args.period, args.org_unit, args.flag, CLI_PRINCIPAL)
        if args.format == "csv":
            with args.output.open("wb") as out:
                async for chunk in exports.csv_with_bom(export, ledger.tz):
                    out.write(chunk)
        else:
            (await exports.write_xlsx(export, ledger.tz)).replace(args.output)
    except LedgerError as error:
        print(error.detail, file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"wrote {args.output}")
    return 0


async def _prepare(url: str, demo: bool) -> None:
    db = Database(url)
    try:
        await migrate(db)
        ledger = Ledger(db)
        if not await ledger.rules():
            await ledger.load_rules(default_rules_text(), CLI_PRINCIPAL)
            print("loaded the default earning rules")
        if not await ledger.tier_schemes():
            await ledger.load_tiers(default_tiers_text(), CLI_PRINCIPAL)
            print("loaded the default tier scheme")
        if not await ledger.expiry_policies():
            await ledger.load_expiry_policies(default_policies_text(), CLI_PRINCIPAL)
            print("loaded the default expiry policy (points never expire)")
        if demo:
            loaded = await load_demo(ledger)
            print("demo data loaded" if loaded else "demo data skipped: the database already has an org tree")
    finally:
        await db.dispose()


async def _with_ledger(url: str, work: Callable[[Ledger], Awaitable[T]], key: bytes | None = None) -> T:
    db = Database(url)
    try:
        return await work(Ledger(db, checkpoint_key=key))
    finally:
        await db.dispose()


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
                "problems": report.problems,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0 if report.ok else 1


def checkpoint_line(checkpoint: Checkpoint) -> str:
    """One line that says everything a checkpoint holds, to copy onto paper or elsewhere."""
    return (
        f"checkpoint {checkpoint.id}: transaction {checkpoint.transaction_id} hash {checkpoint.hash} "
        f"sealed {sealed_at_text(checkpoint)} mac {checkpoint.mac}"
    )


async def _checkpoint(url: str) -> int:
    try:
        checkpoint = await _with_ledger(url, lambda ledger: ledger.checkpoint(CLI_PRINCIPAL), checkpoint_key())
    except LedgerError as error:
        print(error.detail, file=sys.stderr)
        return 1
    print(checkpoint_line(checkpoint))
    return 0


async def _sweep(url: str) -> int:
    print(json.dumps(dataclasses.asdict(await _with_ledger(url, Ledger.sweep))))
    return 0


def _principal_json(principal: Principal) -> str:
    return json.dumps(msgspec.to_builtins(principal_read(principal)), ensure_ascii=False)


async def _token(args: argparse.Namespace) -> int:
    """Create, list or revoke tokens; a new token is printed once and never again."""

    async def work(ledger: Ledger) -> int:
        if args.sub == "create":
            expires_at = None if args.expires_in_days is None else ledger.clock() + timedelta(days=args.expires_in_days)
            principal, token = await ledger.create_principal(
                role=Access(args.role),
                label=args.label,
                org_unit=args.org_unit,
                member_id=args.member,
                expires_at=expires_at,
                created_by=CLI_PRINCIPAL,
                key=token_secret().encode(),
            )
            print(_principal_json(principal))
            print(f"token (shown once, keep it safe):\n  {token}")
        elif args.sub == "revoke":
            print(_principal_json(await ledger.revoke_principal(args.id, CLI_PRINCIPAL)))
        else:
            after = None
            while found := await ledger.principals(PRINCIPAL_PAGE_SIZE_MAX, after):
                for principal in found:
                    print(_principal_json(principal))
                after = found[-1].id
        return 0

    try:
        return await _with_ledger(args.database_url, work)
    except LedgerError as error:
        print(error.detail, file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.protocol import ProblemHttpToolsProtocol

    asyncio.run(_prepare(args.database_url, args.demo))
    os.environ["LEDGER_DATABASE_URL"] = args.database_url
    if not os.environ.get("LEDGER_ADMIN_TOKEN"):
        os.environ["LEDGER_ADMIN_TOKEN"] = secrets.token_urlsafe(32)
        print(f"LEDGER_ADMIN_TOKEN was not set; this run's admin token is:\n  {os.environ['LEDGER_ADMIN_TOKEN']}")
    print(f"serving on http://{args.host}:{args.port} (OpenAPI at /schema)", flush=True)
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
    top = argparse.ArgumentParser(prog="ledger", description="Grid points ledger (积分账本)")
    url = os.environ.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database, then serve the HTTP API")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="load demo data into an empty database")
    loaders = []
    for what, helptext in (("rules", "earning rules"), ("tiers", "tier schemes"), ("expiry", "expiry policies")):
        group = commands.add_parser(what, help=helptext).add_subparsers(dest="sub", required=True)
        load = group.add_parser("load", help=f"validate a {what} file (YAML or JSON) and load what changed")
        load.add_argument("file", type=Path)
        loaders.append(load)
    export = commands.add_parser("export", help="exports").add_subparsers(dest="sub", required=True)
    nominations = export.add_parser("nominations", help="the nomination list of a subtree as CSV or XLSX")
    nominations.add_argument("--org-unit", help="the subtree to export (default: the whole ledger)")
    nominations.add_argument("--period", help="calendar year (default: this year)")
    nominations.add_argument("--flag", choices=FLAGS)
    nominations.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    nominations.add_argument("--output", type=Path, required=True)
    tokens = commands.add_parser("token", help="API tokens: one per person or system").add_subparsers(
        dest="sub", required=True
    )
    create = tokens.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", choices=[a.value for a in Access], required=True)
    create.add_argument("--label", required=True, help="whose token it is, e.g. 塔湾社区 张敏 (desk)")
    create.add_argument("--org-unit", help="the subtree an organizer (or auditor) acts in")
    create.add_argument("--member", help="the member a member token belongs to")
    create.add_argument("--expires-in-days", type=float, help="default: until revoked")
    revoke = tokens.add_parser("revoke", help="revoke a token by its principal id; it stops working at once")
    revoke.add_argument("id")
    token_list = tokens.add_parser("list", help="every token's principal (never the token itself)")
    for command in (
        create,
        revoke,
        token_list,
        *loaders,
        nominations,
        serve,
        commands.add_parser("migrate", help="bring the schema to the latest revision"),
        commands.add_parser("verify", help="recompute balances and the hash chain, and check every checkpoint"),
        commands.add_parser("checkpoint", help="seal the chain head with the checkpoint key and print it"),
        commands.add_parser("sweep", help="release holds past their time and expire points past their date"),
    ):
        command.add_argument("--database-url", default=url, help="SQLAlchemy URL (default: %(default)s)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command in ("rules", "tiers", "expiry"):
        return asyncio.run(_load(args.database_url, args.command, args.file.read_text(encoding="utf-8")))
    if args.command == "export":
        return asyncio.run(_export(args))
    if args.command == "token":
        return asyncio.run(_token(args))
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
