"""Honours: tiers, nomination flags, the public notice (公示) and the nomination list.

``tiers`` (the tier schemes, versioned per subtree), ``nominations`` (the flags raised
and revoked as points earned cross a threshold), ``notices`` (the notice lifecycle:
open, objections, confirm / withdraw),
``reports`` (a member's tier, the nomination list and its evidence) and ``exports`` (the
list as CSV and XLSX for HR).

May import: ``ledger.journal``, ``ledger.org``, ``ledger.storage``, ``ledger.values``,
``ledger.errors``.
"""
