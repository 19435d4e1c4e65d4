"""The org tree and its members.

``units`` holds the street office → community → grid → micro-grid tree and subtree tests;
``members`` the residents, volunteers and grid workers, each in one micro-grid;
``imports`` brings both in from an office's spreadsheets, read by ``sheets`` (XLSX, CSV).

May import: ``ledger.storage``, ``ledger.journal`` (a member's accounts open with it),
``ledger.values``, ``ledger.errors``.
"""
