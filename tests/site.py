"""A live service for the browser tests: uvicorn on a free loopback port, in a thread with
its own event loop, serving a fresh SQLite database seeded with the demo.

Browser tests run on SQLite only: they test what the pages show and send, which is the
same on either database, while every ledger behaviour they rely on is tested on both
databases by the other suites; one server per module keeps the page tests quick.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from api.app import create_app
from api.protocol import ProblemHttpToolsProtocol
from api.settings import Settings
from ledger import Database, migrate
from tests.conftest import ADMIN_TOKEN, CHECKPOINT_KEY, TOKEN_SECRET

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (``apt-get install chromium``; ``scripts/test`` installs it)."""

SCREENSHOTS = Path(__file__).parent / "screenshots"
"""Where the browser tests leave a picture of each page at phone size, for review."""

PHONE = {"width": 390, "height": 844}
"""An iPhone 12–15's viewport in CSS pixels: the width the pages are designed for."""

STARTUP_SECONDS_MAX = 20.0
"""How long the server may take to start: seconds at most, even on a busy machine."""


def chromium_or_skip() -> str:
    """The browser's path; without it the browser tests are skipped, except on CI."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI requires Chromium at {CHROMIUM}: scripts/test installs it")
    pytest.skip(f"no Chromium at {CHROMIUM} (scripts/test installs it with apt)")


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """Headless Chromium for a module's browser tests (skipped without it, except on CI)."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        # Chromium's sandbox refuses to run as root, which CI and the development machines are.
        chromium = await playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@asynccontextmanager
async def seeded_site(folder: Path, seed: Callable[[Database], Awaitable[T]]) -> AsyncIterator[tuple[str, T]]:
    """A fresh SQLite ledger in ``folder``, migrated and seeded, served until the block
    ends: the base URL and what ``seed`` returned (its tokens)."""
    url = f"sqlite+aiosqlite:///{folder / 'ledger.sqlite3'}"
    db = Database(url, create=True)
    await migrate(db)
    seeded = await seed(db)
    await db.dispose()
    with serving(url) as base_url:
        yield base_url, seeded


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """The service at the returned base URL until the block ends."""
    settings = Settings(
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        token_secret=TOKEN_SECRET,
        checkpoint_key=CHECKPOINT_KEY.encode(),
        writes_per_second=0,
        sweep_interval_seconds=0,
    )
    sock = free_socket()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on", http=ProblemHttpToolsProtocol)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


async def phone(browser: Browser, base_url: str) -> Page:
    """A page at phone size, in Chinese and Shanghai time, as a resident or a desk worker sees it."""
    context = await browser.new_context(viewport=PHONE, base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai")
    return await context.new_page()


async def screenshot(page: Page, directory: Path, name: str) -> None:
    """The whole page from the top (a sticky header would otherwise sit where it was scrolled)."""
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=directory / f"{name}.png", full_page=True)


def fresh_screenshots() -> Path:
    """An empty folder for this run's pictures. The browser tests run in one process
    (one xdist group), so no other process is writing into the folder it clears."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS
