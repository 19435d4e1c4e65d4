"""What the hypothesis state machines share: each example gets a fresh database of the
backend under test and its own event loop (hypothesis drives the rules synchronously)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from ledger import Ledger


class DatabaseMachine(RuleBasedStateMachine):
    backend: Any = None  # set by ``run_on``
    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.url = self.run(self.backend.create())

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.ledger.db.dispose())
        self.run(self.backend.drop(self.url))
        self.loop.close()


def run_on(machine: type[DatabaseMachine], backend: Any, examples: int, steps: int) -> None:
    machine.backend = backend
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
