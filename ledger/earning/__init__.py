"""Earning: how points are won and taken back.

``rules`` (earning rules as data: points, unit, caps, who may award, active dates),
``awards`` and ``award_batch`` (one award and the group-committed batch of them),
``deductions`` (points taken for a fault), ``activities`` (events and their rosters,
settled in one step), ``claims`` (self-reported work awaiting review) and ``summary``
(roll-ups of points along the org tree).

May import: ``ledger.journal``, ``ledger.org``, ``ledger.storage``, ``ledger.values``,
``ledger.errors``.
"""
