"""The pages every visitor meets first, checked by axe-core in the test browser (no serious or
critical violation, light and dark) and photographed for docs/dashboard.md: the sign-in page
and its refusal, the 404 page of an agenda the session may not see; and the checker itself, shown a
violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pop.server.dashboard
from tests.dashboard.conftest import assert_accessible, axe_violations, page_screenshots
from tests.server.conftest import RunningServer, add_token


def test_the_sign_in_page_and_its_refusal_pass_axe(
    page: Any, dash_server: RunningServer, tmp_path: Path
) -> None:
    page.goto(f"{dash_server.url}/signin")
    assert_accessible(page)
    page_screenshots(page, "signin", tmp_path)
    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert_accessible(page)


def test_axe_finds_a_violation_it_is_shown(page: Any, dash_server: RunningServer) -> None:
    """The checker is live: an image without a text alternative is a critical violation."""
    page.goto(f"{dash_server.url}/signin")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"data:,\">')"
    )
    assert [item["id"] for item in axe_violations(page)] == ["image-alt"]


def test_the_pages_ask_nothing_of_any_other_host(page: Any, dash_server: RunningServer) -> None:
    """Works offline: every request a page makes goes to the server itself (no CDN, no font
    service), and the package's templates and static files name no other host."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(f"{dash_server.url}/signin")
    page.wait_for_load_state("networkidle")
    assert asked and all(url.startswith(dash_server.url) for url in asked), asked
    shipped = Path(pop.server.dashboard.__file__).parent
    for path in [*shipped.glob("templates/*.html"), *shipped.glob("static/*")]:
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text, path.name


def test_the_404_page_of_an_agenda_the_session_may_not_see_passes_axe(
    page: Any, page_errors: list[str], dash_server: RunningServer, tmp_path: Path
) -> None:
    secret = add_token(dash_server.home, kind="customer", customers=["acme"], name="acme-404")
    page.goto(f"{dash_server.url}/signin")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{dash_server.url}/agendas")
    answer = page.goto(f"{dash_server.url}/agendas/ffffffff-no-such-agenda")
    assert answer is not None and answer.status == 404
    # Chromium logs the page's own 404 status; that line is the only one, and expected here
    assert page_errors == [
        "console: Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    page_errors.clear()
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert "no agenda ffffffff-no-such-agenda that this session may see" in page.inner_text("main")
    assert_accessible(page)
    page_screenshots(page, "notfound", tmp_path)
