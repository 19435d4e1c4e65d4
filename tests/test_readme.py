"""The README's walk-through runs as written: every ``sh`` block of README.md, top to
bottom, in bash, against one live service (uvicorn on a fresh SQLite file with the demo
loaded as ``./scripts/serve`` loads it).

How the blocks are read:

- A block is skipped only when the line before its fence is the marker
  ``<!-- readme-test: skip, REASON -->`` (starting the service itself, the whole suite, a
  synopsis with placeholders, a benchmark, a PostgreSQL server of its own). Markdown
  shows nothing of it; the reason is for the reader of the file.
- The first block that runs sets ``T``, ``J`` and ``H`` for the rest, as a reader's shell
  would keep them: it runs before every later block, with ``LEDGER_ADMIN_TOKEN`` set and
  ``http://127.0.0.1:8000`` read as the test service's address.
- Each block runs with ``set -euo pipefail``: a command that fails fails the block, and
  every ``curl`` must carry ``-f`` (``curl -sf``) or ``--fail-with-body``, so an answer
  outside 2xx fails it too.
- A comment ``# → {"key":value,…}`` states what the answer of the ``curl`` before it holds:
  each ``{…}`` of the comment must be matched by one object somewhere in the answer with
  those keys and values (values with ``…`` in them are placeholders and not compared).
- ``.venv/bin/ledger`` is this checkout's command line, on the service's database, run in
  a scratch directory where the downloads land.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from api.cli import _prepare
from tests.conftest import ADMIN_TOKEN, CHECKPOINT_KEY, TOKEN_SECRET
from tests.site import serving

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
SKIP_MARKER = re.compile(r"<!-- readme-test: skip, (.+) -->")
FENCE = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
README_ADDRESS = "http://127.0.0.1:8000"
EXPECTATION = re.compile(r"^\s*# → (.*)$")
CURL = re.compile(r"(?:^|[;&|]\s*)curl ")
FAILING_CURL = re.compile(r"(?:^|[;&|]\s*)curl (?:-s?f\b|--fail-with-body\b)")
PAIR = re.compile(r'"(\w+)":\s*(-?\d+|true|false|null|"[^"]*")')

BLOCK_SECONDS_MAX = 60
"""A block is a handful of requests and at most one export: a minute means it hangs."""

# One server for the whole walk-through, in one worker process.
pytestmark = pytest.mark.xdist_group("readme")


@dataclass(frozen=True)
class Block:
    line: int  # where the block starts in README.md, for the failure message
    text: str
    skip_reason: str | None


@dataclass(frozen=True)
class Expectation:
    call: int  # the n-th curl of the block, from 1
    groups: tuple[dict[str, Any], ...]  # each {…} of the comment: keys and values one object holds


def readme_blocks() -> list[Block]:
    readme = README.read_text(encoding="utf-8")
    blocks = []
    for found in FENCE.finditer(readme):
        before = readme[: found.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP_MARKER.fullmatch(before.strip())
        line = readme.count("\n", 0, found.start()) + 1
        blocks.append(Block(line, found.group(1), skip.group(1) if skip else None))
    return blocks


def _commands(text: str) -> Iterator[str]:
    """The block's lines that are not comments."""
    return (line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _groups(comment: str) -> tuple[dict[str, Any], ...]:
    """The key-value pairs of each ``{…}`` in an expectation comment, innermost first; an
    object's own pairs leave out those of the objects nested in it."""
    groups: list[dict[str, Any]] = []
    stack: list[tuple[int, list[tuple[int, int]]]] = []  # an open brace and the objects closed inside it
    for i, char in enumerate(comment):
        if char == "{":
            stack.append((i, []))
        elif char == "}" and stack:
            start, nested = stack.pop()
            own, at = [], start + 1
            for inner_start, inner_end in nested:
                own.append(comment[at:inner_start])
                at = inner_end
            own.append(comment[at:i])
            pairs = {key: json.loads(value) for key, value in PAIR.findall("".join(own)) if "…" not in value}
            if pairs:
                groups.append(pairs)
            if stack:
                stack[-1][1].append((start, i + 1))
    return tuple(groups)


def expectations(text: str) -> list[Expectation]:
    """Each ``# →`` comment with the number of the curl it follows."""
    found, calls = [], 0
    for line in text.splitlines():
        if match := EXPECTATION.match(line):
            assert calls, f"an expectation before any curl: {line}"
            found.append(Expectation(calls, _groups(match.group(1))))
        elif not line.lstrip().startswith("#"):
            calls += len(CURL.findall(line))
    return found


def _holds(answer: Any, pairs: dict[str, Any]) -> bool:
    """Whether some object in the answer has all of ``pairs``."""
    if isinstance(answer, dict):
        if all(key in answer and answer[key] == value for key, value in pairs.items()):
            return True
        return any(_holds(value, pairs) for value in answer.values())
    if isinstance(answer, list):
        return any(_holds(item, pairs) for item in answer)
    return False


PRELUDE = """\
set -euo pipefail
curl() {
    local n
    n=$(( $(cat "$README_CALLS/count") + 1 ))
    echo "$n" > "$README_CALLS/count"
    command curl "$@" | tee "$README_CALLS/$n"
}
"""
"""Each block runs after this: strict bash, and a curl that keeps a copy of each answer."""


def _run(block: Block, setup: str, workdir: Path, env: dict[str, str]) -> Path:
    """Run the block after ``setup``; the folder of its curl answers, numbered from 1."""
    calls = workdir / f"calls-{block.line}"
    calls.mkdir()
    (calls / "count").write_text("0")
    script = (PRELUDE + setup + "\n" + block.text).replace(README_ADDRESS, env["README_ADDRESS"])
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env={**env, "README_CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS_MAX,
    )
    assert 0 == done.returncode, f"README.md line {block.line} failed:\n{block.text}\n{done.stdout}\n{done.stderr}"
    return calls


def _check(block: Block, calls: Path) -> None:
    for expected in expectations(block.text):
        answer = json.loads((calls / str(expected.call)).read_text(encoding="utf-8"))
        for pairs in expected.groups:
            assert _holds(answer, pairs), f"README.md line {block.line}, curl {expected.call}: {pairs} not in {answer}"


def _scratch(workdir: Path, database_url: str, base_url: str) -> dict[str, str]:
    """A ``.venv/bin/ledger`` that runs this checkout on the service's database, and the
    environment of the reader's shell."""
    command = workdir / ".venv" / "bin" / "ledger"
    command.parent.mkdir(parents=True)
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m api.cli "$@"\n')
    command.chmod(0o755)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "PYTHONPATH": str(ROOT),
        "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_TOKEN_SECRET": TOKEN_SECRET,
        "LEDGER_CHECKPOINT_KEY": CHECKPOINT_KEY,
        "README_ADDRESS": base_url,
    }


def test_every_runnable_curl_fails_on_a_refusal():
    """Each curl of a block that runs carries -f or --fail-with-body, so a refusal stops it."""
    lenient = [
        (block.line, command)
        for block in readme_blocks()
        if block.skip_reason is None
        for command in _commands(block.text)
        if len(CURL.findall(command)) != len(FAILING_CURL.findall(command))
    ]
    assert [] == lenient


def test_an_expectation_names_the_answer_it_describes():
    """The reader of the test: an expectation belongs to the curl before it, and each of its
    objects is matched on its own pairs."""
    text = 'curl -sf a; curl -sf b\n# → {"id":1,"xs":[{"rank":1,"member_id":"m"}],"t":"glp_…"}\ncurl -sf c'
    assert [Expectation(2, ({"rank": 1, "member_id": "m"}, {"id": 1}))] == expectations(text)
    assert _holds({"xs": [{"rank": 1, "member_id": "m"}]}, {"rank": 1, "member_id": "m"})
    assert not _holds({"xs": [{"rank": 1}, {"member_id": "m"}]}, {"rank": 1, "member_id": "m"})


async def test_the_walk_through_runs_as_written(tmp_path):
    """Every block not marked skip succeeds in order on a fresh demo and answers as its
    comments say; the nomination exports it downloads hold the demo's three flags."""
    for tool in ("bash", "curl"):
        assert shutil.which(tool), f"the README's examples need {tool}"
    blocks = [block for block in readme_blocks() if block.skip_reason is None]
    setup = blocks[0].text
    assert 'T="Authorization: Bearer $LEDGER_ADMIN_TOKEN"' in setup and f"H={README_ADDRESS}" in setup
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.sqlite3'}"
    await _prepare(database_url, True, README_ADDRESS)
    with serving(database_url) as base_url:
        env = _scratch(tmp_path, database_url, base_url)
        for block in blocks:
            _check(block, _run(block, setup, tmp_path, env))
    rows = (tmp_path / "nominations.csv").read_text(encoding="utf-8-sig").split("\n\n")[0].splitlines()[1:]
    assert [("demo-013", 2), ("demo-016", 1)] == sorted(
        (member, sum(member in row for row in rows)) for member in {"demo-013", "demo-016"}
    )
    sheet = load_workbook(tmp_path / "nominations.xlsx", read_only=True).worksheets[0]
    assert 5 == sum(1 for row in sheet.iter_rows(values_only=True) if any(row))  # title, header and three flags
