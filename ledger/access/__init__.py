"""Access: who may do what, and the record of what they did.

``principals`` (API tokens, stored hashed, each with a role and an org subtree),
``scopes`` (the subtree and role checks every request passes) and ``audit`` (one
append-only row per write request).

May import: ``ledger.org``, ``ledger.storage``, ``ledger.values``, ``ledger.errors``.
"""
