"""Storage: the database handle, the tables, the migrations and the data files.

Holds what every other package stands on: ``database`` (the SQLite and PostgreSQL engines
and their transactions), ``tables`` (the SQLModel tables, the only schema), ``bulk`` and
``upsert`` (the dialect-aware statements the hot paths use), ``migrate`` and
``migrations/`` (Alembic), ``datafiles`` (YAML data files checked against ``schemas/``),
``unit_versions`` (data that is versioned per org subtree) and ``backup`` (whole-database
backups made while the service writes, and their restore into an empty database).

May import: SQLAlchemy, SQLModel, the drivers, and ``ledger.errors`` / ``ledger.values``.
Nothing here knows a feature of the ledger.
"""
