"""The journal: the one path that posts points, and what it keeps exact.

``posting.post`` writes balanced, hash-chained transactions and updates the materialized
balances, counters and lots in the same database transaction; ``chain`` is the canonical
hashing, ``checkpoints`` the chain head sealed under a key kept outside the database,
``accounts`` the account rows, ``counters`` the per-period earned totals,
``lots`` the expiring lots spending draws on, ``periods`` the evaluation periods and time
zone, ``idempotency`` exactly-once writes, ``group_commit`` the batching of concurrent
writes, and ``queries`` the reads of balances and statements.

May import: ``ledger.storage``, ``ledger.values``, ``ledger.errors``. It knows no feature:
nothing from ``earning``, ``shop``, ``honours`` or ``access``; what a feature must do after
a posting is handed in by the caller.
"""
