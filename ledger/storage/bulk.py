"""Many rows in one go: the inserts, upserts and updates of a posting batch.

``journal.post`` writes tens of thousands of rows per batch when it settles a street-wide
roster or loads a journal. Through SQLAlchemy's ``executemany`` each row costs a parameter
dict and a pass of SQLAlchemy's per-row processing, and on PostgreSQL one execution of
its own on the server (asyncpg pipelines them, but each is still bound, run and
acknowledged apart). Here rows are handed over as tuples in a stated column order:

* PostgreSQL gets one statement whatever the number of rows: one array per column, turned
  back into rows by ``unnest``, as the source of an INSERT or of an ``UPDATE … FROM``;
* SQLite gets its driver's ``executemany``, which steps one prepared statement through
  the rows in C (SQLite runs in-process: a statement per row costs no round trip).

``Writes`` gathers the writes of one step of a batch and sends them together: on
PostgreSQL one statement for all of them (see its docstring for what keeps that safe).

Values still pass through each column type's own bind processing (UTC timestamps, JSON
text), so rows are stored exactly as SQLAlchemy itself would store them.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, Table, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

Row = Sequence[Any]


Processor = Callable[[Any], Any]


@functools.cache
def _processors(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[tuple[Processor, bool] | None, ...]:
    """Each column's bind processing (None: values bind as they are), and whether its
    values can be remembered (JSON values are not hashable)."""
    types = [table.c[c].type for c in columns]
    processors = [t.dialect_impl(dialect).bind_processor(dialect) for t in types]
    return tuple(None if p is None else (p, t.hashable) for p, t in zip(processors, types, strict=True))


def _bind(process: Processor, hashable: bool, values: Sequence[Any]) -> list[Any]:
    if not hashable:
        return [process(v) for v in values]
    # A batch repeats its timestamps (every row recorded at the same instant, every lot of
    # a unit expiring on the same day): each distinct value is processed once.
    done: dict[Any, Any] = {}
    return [done[v] if v in done else done.setdefault(v, process(v)) for v in values]


def column_values(
    conn: AsyncConnection, table: Table, columns: tuple[str, ...], rows: Sequence[Row]
) -> list[Sequence[Any]]:
    """The rows turned into one sequence per column, each value bound as its column's type binds it."""
    transposed = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return [
        values if p is None else _bind(*p, values)
        for values, p in zip(transposed, _processors(conn.dialect, table, columns), strict=True)
    ]


def _names(dialect: Dialect, names: Sequence[str]) -> list[str]:
    return [dialect.identifier_preparer.quote(name) for name in names]


def _unnest(dialect: Dialect, table: Table, columns: tuple[str, ...], first: int) -> str:
    """PostgreSQL: the rows of one array parameter per column, numbered from ``first``."""
    arrays = ", ".join(
        f"CAST(${i} AS {table.c[c].type.compile(dialect=dialect)}[])" for i, c in enumerate(columns, start=first)
    )
    return f"unnest({arrays})"


def insert_sql(dialect: Dialect, table: Table, columns: tuple[str, ...], first: int = 1) -> str:
    """The SQL of ``Writes.insert``: on PostgreSQL from ``unnest``ed arrays numbered from
    ``first`` (``columns`` gives them), to send inside a statement built elsewhere."""
    return _insert_sql(dialect, table, columns, (), first)


@functools.cache
def _insert_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...], add_on_conflict: tuple[str, ...], first: int = 1
) -> str:
    name = dialect.identifier_preparer.format_table(table)
    source = (
        f"SELECT * FROM {_unnest(dialect, table, columns, first)}"
        if dialect.name == "postgresql"
        else f"VALUES ({', '.join('?' for _ in columns)})"
    )
    sql = f"INSERT INTO {name} ({', '.join(_names(dialect, columns))}) {source}"
    if add_on_conflict:
        keys = [c for c in columns if c not in add_on_conflict]
        added = ", ".join(f"{c} = {name}.{c} + excluded.{c}" for c in _names(dialect, add_on_conflict))
        sql += f" ON CONFLICT ({', '.join(_names(dialect, keys))}) DO UPDATE SET {added}"
    return sql


@functools.cache
def _update_sql(
    dialect: Dialect, table: Table, keys: tuple[str, ...], set_: tuple[str, ...], add: tuple[str, ...], first: int = 1
) -> str:
    name = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        columns = (*keys, *set_, *add)
        values = dict(zip(columns, _names(dialect, columns), strict=True))
        changes = [f"{values[c]} = v.{values[c]}" for c in set_]
        changes += [f"{values[c]} = {name}.{values[c]} + v.{values[c]}" for c in add]
        match = " AND ".join(f"{name}.{values[c]} = v.{values[c]}" for c in keys)
        source = f"{_unnest(dialect, table, columns, first)} AS v({', '.join(values.values())})"
        return f"UPDATE {name} SET {', '.join(changes)} FROM {source} WHERE {match}"
    changes = [f"{c} = ?" for c in _names(dialect, set_)] + [f"{c} = {c} + ?" for c in _names(dialect, add)]
    match = " AND ".join(f"{c} = ?" for c in _names(dialect, keys))
    return f"UPDATE {name} SET {', '.join(changes)} WHERE {match}"


Statement = Callable[[int], str]
"""A write's SQL, its PostgreSQL parameters numbered from the given one."""


class Writes:
    """The writes of one step of a batch, sent together by ``send`` (or at the end of
    ``writing``), in the order they were added.

    On PostgreSQL every statement is a round trip, and a batch's writes are a dozen
    statements (balances, each counter, transactions, postings, lots, the chain head)
    that read nothing of each other: they go as one statement, each a data-modifying
    ``WITH`` of its own. Such sub-statements all see the database as it was before the
    statement, and a row changed twice in one statement keeps only one of the changes,
    so a second write to a table already pending sends the pending ones first. SQLite
    runs them one by one, each an ``executemany`` of its driver. A read of the state
    before the writes may go with them (``read_before``).
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._pending: list[tuple[Table, Statement, list[Sequence[Any]]]] = []
        self._reads: list[tuple[Select[Any], Mapping[str, Any], list[Row]]] = []

    def read_before(self, query: Select[Any], params: Mapping[str, Any]) -> list[Row]:
        """The rows of ``query`` as the database was before these writes, filled in when
        they are sent: on PostgreSQL the query is the statement's own ``SELECT``, which
        sees none of its ``WITH``s' changes, so the read costs no round trip of its own;
        SQLite runs it before them. Add it before the writes it must not see."""
        assert not self._pending, "a read before the writes is added before them"
        assert not self._reads, "one read rides on the writes"
        rows: list[Row] = []
        self._reads.append((query, params, rows))
        return rows

    async def insert(self, table: Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
        """Insert ``rows``, each a tuple of the values of ``columns``."""
        if rows:
            sql = functools.partial(_insert_sql, self._conn.dialect, table, columns, ())
            await self._add(table, sql, column_values(self._conn, table, columns, rows))

    async def add_to_counters(self, table: Table, keys: tuple[str, ...], counter: str, rows: Sequence[Row]) -> None:
        """Insert each row (its ``keys``, then its ``counter``), or add its counter to the
        row already there. The keys of ``rows`` are distinct: PostgreSQL refuses to change
        one row twice in a statement."""
        if rows:
            columns = (*keys, counter)
            sql = functools.partial(_insert_sql, self._conn.dialect, table, columns, (counter,))
            await self._add(table, sql, column_values(self._conn, table, columns, rows))

    async def update(
        self,
        table: Table,
        keys: tuple[str, ...],
        rows: Sequence[Row],
        *,
        set_: tuple[str, ...] = (),
        add: tuple[str, ...] = (),
    ) -> None:
        """Change the row named by each row's ``keys``: set the ``set_`` columns and add to
        the ``add`` columns. Each row is a tuple of its keys, then the ``set_`` values, then
        the ``add`` values; the rows name distinct table rows."""
        if not rows:
            return
        columns = column_values(self._conn, table, (*keys, *set_, *add), rows)
        if self._conn.dialect.name != "postgresql":
            columns = columns[len(keys) :] + columns[: len(keys)]  # the keys come last in SQLite's WHERE
        await self._add(table, functools.partial(_update_sql, self._conn.dialect, table, keys, set_, add), columns)

    async def _add(self, table: Table, sql: Statement, columns: list[Sequence[Any]]) -> None:
        if any(pending is table for pending, _, _ in self._pending):
            await self.send()
        self._pending.append((table, sql, columns))

    async def send(self) -> None:
        pending, self._pending = self._pending, []
        reads, self._reads = self._reads, []
        if self._conn.dialect.name != "postgresql":
            for query, params, rows in reads:
                rows.extend(await self._conn.execute(query, params))
            for _, sql, columns in pending:
                await self._conn.exec_driver_sql(sql(1), list(zip(*columns, strict=True)))
            return
        select_sql, parameters = "SELECT 1", list[Any]()
        for query, params, _ in reads:
            select_sql, parameters = positional(self._conn.dialect, query, params)
        if len(pending) == 1 and not reads:
            [(_, sql, columns)] = pending
            await self._conn.exec_driver_sql(sql(1), tuple(columns))
        elif pending or reads:
            parts: list[str] = []
            for i, (_, sql, columns) in enumerate(pending):
                parts.append(f"w{i} AS ({sql(len(parameters) + 1)})")
                parameters += columns
            statement = f"WITH {', '.join(parts)} {select_sql}" if parts else select_sql
            result = await self._conn.exec_driver_sql(statement, tuple(parameters))
            for query, _, rows in reads:
                rows.extend(processed(self._conn.dialect, query, result.all()))


@functools.cache
def _compiled(dialect: Dialect, query: Select[Any]) -> SQLCompiler:
    # Compiling costs far more than running the read; the queries are module constants.
    compiled: SQLCompiler = query.compile(dialect=dialect)
    return compiled


def positional(dialect: Dialect, query: Select[Any], params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """PostgreSQL: ``query`` (a module's constant: it is compiled once) as SQL with its
    parameters numbered from ``$1``, and their values in that order, bound as SQLAlchemy
    binds them: a read to send inside a statement built here (``processed`` types its rows)."""
    compiled = _compiled(dialect, query)
    values = compiled.construct_params(dict(params))
    processors: Mapping[str, Processor] = compiled._bind_processors  # type: ignore[assignment]
    assert compiled.positiontup is not None
    return compiled.string, [
        processors[name](values[name]) if name in processors else values[name] for name in compiled.positiontup
    ]


@functools.cache
def _result_processors(dialect: Dialect, query: Select[Any]) -> tuple[Processor | None, ...]:
    return tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in query.selected_columns)


def processed(dialect: Dialect, query: Select[Any], rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """Rows of ``query`` sent as raw SQL, each value read as its column's type reads it
    (a UTC timestamp, an enum), as ``conn.execute(query)`` would have given them."""
    processors = _result_processors(dialect, query)
    return [tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True)) for row in rows]


@asynccontextmanager
async def writing(conn: AsyncConnection) -> AsyncIterator[Writes]:
    """Writes sent together when the block ends without an error."""
    writes = Writes(conn)
    yield writes
    await writes.send()


_at_commit: weakref.WeakKeyDictionary[AsyncConnection, Writes] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def committing(conn: AsyncConnection) -> AsyncIterator[None]:
    """A database transaction's writes ``at_commit``, sent together when the block ends
    without an error (its last statement before the commit); on an error they are
    dropped with the transaction."""
    writes = _at_commit[conn] = Writes(conn)
    try:
        yield
        await writes.send()
    finally:
        del _at_commit[conn]


@asynccontextmanager
async def at_commit(conn: AsyncConnection) -> AsyncIterator[Writes]:
    """Writes nothing later in the transaction reads (the stored replies, the audit rows):
    sent with the transaction's last statement (``committing``; one statement for all
    of them on PostgreSQL), or at the end of the block outside such a transaction."""
    deferred = _at_commit.get(conn)
    if deferred is not None:
        yield deferred
    else:
        async with writing(conn) as writes:
            yield writes


async def insert(conn: AsyncConnection, table: Table, columns: tuple[str, ...], rows: Sequence[Row]) -> None:
    """Insert ``rows``, each a tuple of the values of ``columns``."""
    async with writing(conn) as writes:
        await writes.insert(table, columns, rows)


async def insert_returning(
    conn: AsyncConnection, table: Table, columns: tuple[str, ...], rows: Sequence[Row], returning: tuple[str, ...]
) -> list[Row]:
    """PostgreSQL only: insert ``rows`` and return the ``returning`` columns of each, in no
    particular order (SQLite's ``executemany`` returns no rows)."""
    assert conn.dialect.name == "postgresql", "SQLite inserts many rows without RETURNING"
    if not rows:
        return []
    sql = f"{_insert_sql(conn.dialect, table, columns, ())} RETURNING {', '.join(_names(conn.dialect, returning))}"
    result = await conn.exec_driver_sql(sql, tuple(column_values(conn, table, columns, rows)))
    return [tuple(row) for row in result]


async def update(
    conn: AsyncConnection, table: Table, keys: tuple[str, ...], rows: Sequence[Row], **changes: tuple[str, ...]
) -> None:
    """``Writes.update`` (its ``set_`` and ``add``), sent at once."""
    async with writing(conn) as writes:
        await writes.update(table, keys, rows, **changes)


class OneOf(ColumnElement[bool]):
    """``column`` is one of the values of the list parameter ``name``.

    An expanding ``IN`` writes one placeholder per value, so every batch size is a new
    statement that PostgreSQL parses and plans afresh, with thousands of parameters. There
    it is ``= ANY`` of one array parameter, the same statement whatever the list's length;
    SQLite, which has no arrays and plans in-process, keeps the expanding ``IN``."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands: no "= 1" on SQLite
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement), ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


@compiles(OneOf, "postgresql")
def _one_of_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


@compiles(OneOf)
def _one_of_list(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)
