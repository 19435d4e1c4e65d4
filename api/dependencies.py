"""Dependencies handlers declare by name."""

from litestar.datastructures import State
from litestar.di import NamedDependency

from ledger import Ledger

LedgerDep = NamedDependency[Ledger]


def provide_ledger(state: State) -> Ledger:
    ledger: Ledger = state.ledger
    return ledger
