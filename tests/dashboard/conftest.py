"""A real headless browser for the dashboard tests: Debian's ``chromium`` driven by Playwright
for Python (its sync API), never a browser downloaded by ``playwright install``.

``browser`` is one Chromium per test module (not per session: while Playwright's sync API runs,
its event loop is the thread's running loop, and any other module's test calling
``asyncio.run`` would fail on the same worker); ``page`` a fresh context (1280x800) and page per
test whose console errors and uncaught page errors are collected (``page_errors``) and must be
none at teardown. ``dash_server`` is a real ``pop serve --port 0`` that needs tokens, one per
module. Without chromium or playwright the tests are skipped, saying why, except under
``CI=true`` where that is a failure (scripts/test installs both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import RunningServer, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "no chromium (apt-get install chromium; scripts/test does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no playwright (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: the dashboard tests must run, but there is {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class PageErrors(list[str]):
    """Console errors and uncaught exceptions of the pages they were attached to."""

    def watch(self, page: Any) -> Any:
        page.on("console", lambda m: m.type == "error" and self.append(f"console: {m.text}"))
        page.on("pageerror", lambda error: self.append(f"pageerror: {error}"))
        return page


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield page_errors.watch(context.new_page())
    finally:
        context.close()
    assert page_errors == [], "the pages logged errors"


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``pop serve`` that needs tokens (the dashboard's sign-in), its own POP_HOME."""
    server = start_server(tmp_path_factory.mktemp("dashboard") / "pop_home")
    try:
        yield server
    finally:
        server.stop()
