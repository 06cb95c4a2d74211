"""A real headless browser for the dashboard tests: Debian's ``chromium`` driven by Playwright
for Python (its sync API), never a browser downloaded by ``playwright install``.

``browser`` is one Chromium per test module (not per session: while Playwright's sync API runs,
its event loop is the thread's running loop, and any other module's test calling
``asyncio.run`` would fail on the same worker); ``page`` a fresh context (1280x800) and page per
test whose console errors and uncaught page errors are collected (``page_errors``) and must be
none at teardown. ``dash_server`` is a real ``pop serve --port 0`` that needs tokens, one per
module. Without chromium or playwright the tests are skipped, saying why, except under
``CI=true`` where that is a failure (scripts/test installs both).

``assert_accessible(page)`` runs axe-core (a test-only npm dependency: ``package.json`` here,
installed by scripts/test with ``npm ci``) in the page, in the light and the dark scheme, and
fails on any serious or critical violation. ``page_screenshots(page, name, tmp_path)`` takes the
page at 1280x800 in light and dark, checks each is not blank and in its scheme, and writes them
to ``docs/img/dashboard-<name>-<scheme>.png`` when ``POP_DOCS_IMAGES=1`` (otherwise to
``tmp_path``: a test run leaves the checkout as it was).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import RunningServer, add_token, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
IMAGES = HERE.parents[1] / "docs" / "img"
SCHEMES = ("light", "dark")


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
def tokens(dash_server: RunningServer) -> dict[str, str]:
    """A token of customer acme and one of customer umbrella on the module's server (a module
    that needs others defines its own ``tokens``)."""
    home = dash_server.home
    return {
        "acme": add_token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": add_token(home, kind="customer", customers=["umbrella"], name="umbrella"),
    }


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``pop serve`` that needs tokens (the dashboard's sign-in), its own POP_HOME."""
    server = start_server(tmp_path_factory.mktemp("dashboard") / "pop_home")
    try:
        yield server
    finally:
        server.stop()


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set: the dashboard tests must run, but there is {reason}")
    pytest.skip(reason)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        _unavailable("no axe-core (npm ci --prefix tests/dashboard; scripts/test does)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
          }));
        }"""
    )
    return [item for item in found if item["impact"] in ("serious", "critical")]


def assert_accessible(page: Any) -> None:
    """No serious or critical axe-core violation in either colour scheme."""
    problems = {}
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        found = axe_violations(page)
        if found:
            problems[scheme] = found
    page.emulate_media(color_scheme=None)
    assert problems == {}, json.dumps(problems, indent=1)


def png_pixels(png: bytes) -> tuple[int, int, bytes, tuple[int, ...]]:
    """Width, height, the decompressed scanlines and the first pixel of a PNG (Playwright's
    8-bit RGB(A)); the first pixel of the first row is stored as is whatever its filter."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour in (2, 6)
    data, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(data)
    channels = 3 if colour == 2 else 4
    return width, height, raw, tuple(raw[1 : 1 + channels])


def page_screenshots(page: Any, name: str, tmp_path: Path) -> list[Path]:
    """The page at 1280x800 in light and dark, each checked not blank and in its scheme (the
    top-left pixel, the header's background, is light or dark), written to docs/img/ when
    ``POP_DOCS_IMAGES=1``."""
    folder = IMAGES if os.environ.get("POP_DOCS_IMAGES") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(VIEWPORT)
    written = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        path = folder / f"dashboard-{name}-{scheme}.png"
        png = page.screenshot(path=str(path))
        width, height, raw, first = png_pixels(png)
        assert (width, height) == (VIEWPORT["width"], VIEWPORT["height"])
        assert len(set(raw)) > 32, f"{path.name} is blank"  # text, lines and colours
        brightness = sum(first[:3]) / 3
        assert brightness > 200 if scheme == "light" else brightness < 60, (path.name, first)
        written.append(path)
    page.emulate_media(color_scheme=None)
    return written
