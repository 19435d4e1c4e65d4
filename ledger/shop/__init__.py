"""The points shop (积分超市): rewards, two-phase redemptions, and the expiry of points.

``rewards`` (the catalog per org unit: cost, stock, limits, window, minimum tier, where and
when it is handed over), ``redemptions`` (hold → fulfil, or cancel / expire, with stock
reserved; a hold's pickup code and the counter's list of open holds), ``expiry_policies``
(when points run out, versioned per subtree) and ``expiry`` (the sweep that posts expiries).

May import: ``ledger.journal``, ``ledger.org``, ``ledger.honours`` (a reward's minimum tier),
``ledger.storage``, ``ledger.values``, ``ledger.errors``.
"""
