"""The link-group page in headless Chromium against a real ``pop serve``: POP's progress summary
of a ``linkId`` over the agendas the session may see (one run by a real ``pop executor``, one
waiting), each member with its state and a link to its agenda page, the same JSON as
``POST /pop/progress/agenda/service``; another customer's session gets the 404 page (and a JSON
404) for that link; accessible names, keyboard reach, axe-core and screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_pop_at
from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.dashboard.test_agendas import CONTROL_NAMES, sign_in, submit
from tests.dashboard.test_queues import FOCUSED_NAME
from tests.server.conftest import RunningServer, bearer

LINK = "ladder-42"
JSON = {"Accept": "application/json"}

# records each text the summary's state shows, as the page changes it
RECORD_SUMMARY = """() => {
  const cell = document.querySelector('[data-field="summary-state"]');
  window.__summary = [cell.textContent];
  new MutationObserver(() => {
    if (window.__summary.at(-1) !== cell.textContent) window.__summary.push(cell.textContent);
  }).observe(cell, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture(scope="module")
def linked(dash_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """In link ``ladder-42``: acme's ``1080p`` run to the end by ``pop executor --once`` and its
    ``720p`` waiting (``doNotRun``), and umbrella's ``theirs`` (waiting); umbrella alone in
    ``umbrella-only``."""
    done = submit(dash_server, tokens["acme"], "1080p", linkId=LINK)
    executed = run_pop_at(dash_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    waiting = submit(dash_server, tokens["acme"], "720p", linkId=LINK, params={"doNotRun": True})
    theirs = submit(
        dash_server, tokens["umbrella"], "theirs", linkId=LINK, params={"doNotRun": True}
    )
    alone = submit(
        dash_server, tokens["umbrella"], "alone", linkId="umbrella-only", params={"doNotRun": True}
    )
    return {"done": done, "waiting": waiting, "theirs": theirs, "alone": alone}


def test_a_link_page_shows_the_summary_and_the_sessions_members(
    page: Any,
    dash_server: RunningServer,
    tokens: dict[str, str],
    linked: dict[str, str],
    tmp_path: Path,
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    shown = page.goto(f"{dash_server.url}/links/{LINK}")
    assert shown.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == f"Link {LINK}"
    # POP's rules: one COMPLETE and one WAITING member -> EXECUTING at (100 + 0) / 2 percent
    assert page.locator('[data-field="summary-state"]').inner_text() == "EXECUTING"
    assert "50%" in page.locator('[data-field="summary-percent"]').inner_text()
    assert page.locator('[data-field="summary-count"]').inner_text() == "2"
    rows = page.locator("tr[data-agenda-id]")
    members = {
        rows.nth(index).get_attribute("data-agenda-id"): rows.nth(index)
        .locator('[data-field="state"]')
        .inner_text()
        for index in range(rows.count())
    }
    assert members == {linked["done"]: "COMPLETE", linked["waiting"]: "WAITING"}
    assert "theirs" not in page.content()  # umbrella's member of the same link
    link = page.get_by_role("link", name="1080p")
    assert link.get_attribute("href") == f"/agendas/{linked['done']}"
    assert "100%" in rows.filter(has=link).inner_text()

    answer = page.request.get(f"{dash_server.url}/links/{LINK}", headers=JSON)
    assert answer.status == 200
    with dash_server.http() as http:
        api = http.post(
            "/pop/progress/agenda/service", json={"linkId": LINK}, headers=bearer(tokens["acme"])
        ).json()
    mine = answer.json()
    assert mine.pop("cid") and api.pop("cid")
    assert mine == api  # the page is a view of the API's summary
    assert {item["agendaId"] for item in mine["progressList"]} == set(members)

    names = page.evaluate(CONTROL_NAMES)
    assert names and all(names), names
    reached = []
    for _ in range(len(names) + 3):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED_NAME))
    assert "1080p" in reached and "720p" in reached, reached
    page.goto(f"{dash_server.url}/links/{LINK}")  # nothing focused
    page.wait_for_selector('#live[data-state="open"]')
    assert_accessible(page)
    page_screenshots(page, "links", tmp_path)


def test_another_customers_link_is_the_404_page(
    browser: Any, dash_server: RunningServer, tokens: dict[str, str], linked: dict[str, str]
) -> None:
    # a page of its own: a 404 page load is logged by the browser as a failed resource
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, dash_server, tokens["acme"])
        shown = page.goto(f"{dash_server.url}/links/umbrella-only")
        assert shown.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
        assert "link umbrella-only" in page.inner_text("main")
        assert "alone" not in page.content()
        unknown = page.goto(f"{dash_server.url}/links/no-such-link")
        assert unknown.status == 404
        as_json = page.request.get(f"{dash_server.url}/links/umbrella-only", headers=JSON)
        assert as_json.status == 404
        assert as_json.json()["errorResponse"]["responseCode"] == 404
        assert "alone" not in as_json.text()
    finally:
        context.close()
    # umbrella's own session sees its member of the shared link, and only that one
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, dash_server, tokens["umbrella"])
        answer = page.request.get(f"{dash_server.url}/links/{LINK}", headers=JSON)
        assert [item["agendaId"] for item in answer.json()["progressList"]] == [linked["theirs"]]
        assert answer.json()["processingState"] == "WAITING"
    finally:
        context.close()


def test_the_summary_and_the_rows_follow_the_store_live(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], linked: dict[str, str]
) -> None:
    first = submit(dash_server, tokens["acme"], "live 1080p", linkId="live-7")
    sign_in(page, dash_server, tokens["acme"])
    page.goto(f"{dash_server.url}/links/live-7")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate(RECORD_SUMMARY)
    # an agenda joining the link appears as a row, without a reload
    second = submit(dash_server, tokens["acme"], "live 720p <b>", linkId="live-7")
    page.wait_for_selector(f'tr[data-agenda-id="{second}"]')
    page.wait_for_function(
        "document.querySelector('[data-field=\"summary-count\"]').textContent === '2'"
    )
    joined = page.get_by_role("link", name="live 720p <b>")  # as text, not markup
    assert joined.get_attribute("href") == f"/agendas/{second}"

    executed = run_pop_at(dash_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    page.wait_for_function("window.__summary.at(-1) === 'COMPLETE'", timeout=60_000)
    assert page.evaluate("window.__summary") == ["WAITING", "EXECUTING", "COMPLETE"]
    assert page.locator('[data-field="summary-percent"]').inner_text() == "100%"
    for agenda_id in (first, second):
        row = page.locator(f'tr[data-agenda-id="{agenda_id}"]')
        assert row.locator('[data-field="state"]').inner_text() == "COMPLETE"
        assert row.locator('[data-field="percent"]').inner_text() == "100%"
        assert row.locator('[data-field="completed"]').inner_text().endswith("Z")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
