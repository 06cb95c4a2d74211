"""The dashboard's sign-in and agendas page in headless Chromium against a real ``pop serve``:
a customer's session lists its agendas and not another customer's (page and JSON), a row turns
WAITING -> EXECUTING -> COMPLETE without a reload while a real ``pop executor`` runs it, a new
agenda appears at the top without a reload (only when it matches the page's filters), the
filters by link, state, op type and text keep to the token's agendas, the session cookie is
HttpOnly and SameSite=Strict, a POST without the CSRF token is refused, a revoked token ends its
session, ``--no-auth`` needs no sign-in, the page passes axe-core and is photographed in light
and dark (written to docs/img/ with POP_DOCS_IMAGES=1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from pop.api import Client
from pop.config import Settings
from tests.conftest import run_pop_at
from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.server.conftest import RunningServer, start_server
from tests.server.test_auth import bearer, token
from tests.server.test_extension_routes import sample_op

# records each text the row's state cell shows, as the page changes it
RECORD_STATES = """(id) => {
  const cell = document.querySelector(`tr[data-agenda-id="${id}"] [data-field="state"]`);
  const percent = document.querySelector(`tr[data-agenda-id="${id}"] [data-field="percent"]`);
  window.__changes = [cell.textContent];
  window.__percents = [percent.textContent];
  new MutationObserver(() => {
    if (window.__changes.at(-1) !== cell.textContent) window.__changes.push(cell.textContent);
  }).observe(cell, {childList: true, characterData: true, subtree: true});
  new MutationObserver(() => window.__percents.push(percent.textContent))
    .observe(percent, {childList: true, characterData: true, subtree: true});
}"""


def submit(server: RunningServer, secret: str, title: str, **fields: Any) -> str:
    with server.http() as http:
        answer = http.post(
            "/pop/agenda",
            json={"title": title, "operations": [sample_op("step", "working", 2000)], **fields},
            headers=bearer(secret),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["all"][0]["id"])


@pytest.fixture(scope="module")
def stored(dash_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """An agenda of acme and one of umbrella, neither run."""
    return {
        name: submit(dash_server, tokens[name], f"{name} ladder", params={"doNotRun": True})
        for name in ("acme", "umbrella")
    }


def sign_in(page: Any, server: RunningServer, secret: str) -> None:
    page.goto(f"{server.url}/agendas")
    assert page.url == f"{server.url}/signin"  # not signed in yet
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/agendas")


def row_ids(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "tr[data-agenda-id]", "rows => rows.map(r => r.dataset.agendaId)"
    )
    return ids


def test_a_customer_session_sees_only_its_agendas(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    ids = row_ids(page)
    assert stored["acme"] in ids and stored["umbrella"] not in ids
    assert page.get_by_text("acme ladder").is_visible()
    # the same URL asked for JSON answers the API's progress JSON for the same rows
    answer = page.request.get(f"{dash_server.url}/agendas", headers={"Accept": "application/json"})
    assert answer.status == 200
    rows = answer.json()["all"]
    assert [row["agendaId"] for row in rows] == ids
    with dash_server.http() as http:
        api = http.get(f"/pop/progress/agenda/{stored['acme']}", headers=bearer(tokens["acme"]))
    assert api.json()["all"][0] in rows
    # a filter on another customer's id shows nothing of theirs
    page.goto(f"{dash_server.url}/agendas?customer=umbrella")
    assert row_ids(page) == []


def test_the_session_cookie_is_httponly_and_strict_and_forms_need_csrf(
    page: Any, dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["umbrella"])
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "pop_session"
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert page.evaluate("document.cookie") == ""  # the page's script cannot read it
    refused = page.request.post(f"{dash_server.url}/signout", form={}, max_redirects=0)
    assert refused.status == 403
    forged = page.request.post(
        f"{dash_server.url}/signout", form={"csrf": "not-the-token"}, max_redirects=0
    )
    assert forged.status == 403
    page.goto(f"{dash_server.url}/agendas")
    assert page.url.endswith("/agendas")  # still signed in after the refused posts
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{dash_server.url}/signin")
    page.goto(f"{dash_server.url}/agendas")
    assert page.url.endswith("/signin")


def test_a_wrong_token_is_refused_on_the_sign_in_page(
    page: Any, dash_server: RunningServer
) -> None:
    page.goto(f"{dash_server.url}/signin")
    page.get_by_label("Token").fill("pop_nosuchtoken")
    with page.expect_response(f"{dash_server.url}/signin") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 200  # the form again, with the reason
    assert "unknown token" in page.get_by_role("alert").inner_text()
    assert page.context.cookies() == []


def test_a_row_goes_from_waiting_to_complete_live_while_an_executor_runs_it(
    page: Any, dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    agenda_id = submit(dash_server, tokens["acme"], "live ladder")
    sign_in(page, dash_server, tokens["acme"])
    page.evaluate(RECORD_STATES, agenda_id)
    page.wait_for_selector('#live[data-state="open"]')
    executed = run_pop_at(dash_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    page.wait_for_function("window.__changes.at(-1) === 'COMPLETE'", timeout=60_000)
    assert page.evaluate("window.__changes") == ["WAITING", "EXECUTING", "COMPLETE"]
    assert page.evaluate("window.__percents").pop() == "100%"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload


def test_the_agendas_page_passes_axe_and_is_photographed_in_light_and_dark(
    page: Any,
    dash_server: RunningServer,
    tokens: dict[str, str],
    stored: dict[str, str],
    tmp_path: Path,
) -> None:
    unrun = {"params": {"doNotRun": True}}
    for title in ("news 1080p renditions", "trailer thumbnails", "promo filmstrip"):
        submit(dash_server, tokens["acme"], title, linkId="campaign-42", **unrun)
    sign_in(page, dash_server, tokens["acme"])
    page.wait_for_selector('#live[data-state="open"]')
    # the title opens the agenda page, the link id the link group's page
    title = page.locator(f'tr[data-agenda-id="{stored["acme"]}"] a.title')
    assert title.get_attribute("href") == f"/agendas/{stored['acme']}"
    assert_accessible(page)
    page_screenshots(page, "agendas", tmp_path)


def test_the_sign_in_page_is_labelled_and_the_api_is_unchanged(
    dash_server: RunningServer,
) -> None:
    with httpx.Client(base_url=dash_server.url, timeout=30) as http:
        assert http.get("/", follow_redirects=False).headers["location"] == "/signin"
        page = http.get("/signin")
        assert '<html lang="en">' in page.text and 'for="token"' in page.text
        assert http.get("/pop/progress/agenda").status_code == 401  # the API still wants a token
        assert http.get("/pop/events").status_code == 401
        script = http.get("/dashboard/static/dashboard.js")
        assert script.status_code == 200 and "EventSource" in script.text


def test_revoking_the_token_ends_the_session(
    page: Any, dash_server: RunningServer, stored: dict[str, str]
) -> None:
    secret = token(dash_server.home, kind="customer", customers=["acme"], name="soon revoked")
    sign_in(page, dash_server, secret)
    assert stored["acme"] in row_ids(page)
    client = Client(Settings.from_env().with_changes(home=dash_server.home))
    try:
        client.token_revoke("soon revoked")
    finally:
        client.close()
    page.goto(f"{dash_server.url}/agendas")
    assert page.url == f"{dash_server.url}/signin"
    # the session is gone: its cookie opens nothing, not even the event stream
    answer = page.request.get(f"{dash_server.url}/pop/events")
    assert answer.status == 401


def test_without_auth_the_dashboard_needs_no_sign_in(page: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path / "pop_home", "--no-auth")
    try:
        with server.http() as http:
            agenda = http.post(
                "/pop/agenda", json={"operations": [sample_op("step", "hi")], "title": "open"}
            )
        agenda_id = agenda.json()["all"][0]["id"]
        page.goto(f"{server.url}/")
        assert page.url == f"{server.url}/agendas"
        assert row_ids(page) == [agenda_id]
        page.wait_for_selector('#live[data-state="open"]')
        assert page.get_by_role("button", name="Sign out").count() == 0
    finally:
        page.goto("about:blank")  # the page closes its event stream before the server stops
        server.stop()


def test_filters_by_link_and_state_keep_to_the_tokens_agendas(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    linked = submit(
        dash_server, tokens["acme"], "linked", linkId="ladder-7", params={"doNotRun": True}
    )
    submit(dash_server, tokens["umbrella"], "theirs", linkId="ladder-7", params={"doNotRun": True})
    sign_in(page, dash_server, tokens["acme"])
    page.get_by_label("Link").fill("ladder-7")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/agendas?*link=ladder-7*")
    assert row_ids(page) == [linked]
    link = page.locator(f'tr[data-agenda-id="{linked}"] td a[href^="/links/"]')
    assert link.get_attribute("href") == "/links/ladder-7" and link.inner_text() == "ladder-7"
    page.get_by_label("State").select_option("COMPLETE")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/agendas?state=COMPLETE*")
    assert row_ids(page) == []
    answer = page.request.get(
        f"{dash_server.url}/agendas?link=ladder-7", headers={"Accept": "application/json"}
    )
    assert [row["agendaId"] for row in answer.json()["all"]] == [linked]
    assert stored["acme"] != linked


# every control's accessible name: aria-label, else its <label>, else its text
CONTROL_NAMES = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, progress')].map(el =>
  (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent)
   || el.textContent || '').trim())"""


def test_the_agendas_page_is_labelled_and_reachable_by_keyboard(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    assert page.get_attribute("html", "lang") == "en"
    for landmark in ("banner", "main", "navigation", "search", "contentinfo"):
        assert page.get_by_role(landmark).count() >= 1, landmark
    names = page.evaluate(CONTROL_NAMES)
    assert names and all(names), names
    reached = []
    for _ in range(len(names) + 5):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "(() => { const e = document.activeElement;"
                " return (e.getAttribute('aria-label') || (e.labels && e.labels[0] &&"
                " e.labels[0].textContent) || e.textContent || '').trim(); })()"
            )
        )
    controls = ("Sign out", "State", "Customer", "Link", "Op type", "Search", "Filter")
    for name in (*controls, f"Copy id {stored['acme']}"):
        assert name in reached, (name, reached)


def noop_op(name: str) -> dict[str, Any]:
    return {"name": name, "type": "noop", "payload": {}}


def count_text(page: Any) -> str:
    return str(page.locator("#count").inner_text())


def test_filters_by_op_type_and_text_search_keep_to_the_tokens_agendas(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    unrun = {"params": {"doNotRun": True}}
    mine = submit(
        dash_server, tokens["acme"], "Ladder Nine", operations=[noop_op("encode-HD")], **unrun
    )
    theirs = submit(
        dash_server, tokens["umbrella"], "Ladder Nine", operations=[noop_op("encode-HD")], **unrun
    )
    sign_in(page, dash_server, tokens["acme"])
    options = page.locator("#filter-type option").all_inner_texts()
    assert "noop" in options and "transcode" in options  # the registry's op types
    page.get_by_label("Op type").select_option("noop")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/agendas?*type=noop*")
    assert row_ids(page) == [mine]
    assert count_text(page) == "1 agenda, page 1 of 1"
    # case-insensitive, over the title, the op names and the id
    for text in ("ladder nine", "ENCODE-hd", mine[:13].upper()):
        page.goto(f"{dash_server.url}/agendas")
        page.get_by_label("Search").fill(text)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/agendas?*q=*")
        assert row_ids(page) == [mine], text
    assert page.get_by_label("Search").input_value() == mine[:13].upper()  # kept in the form

    def json_ids(query: str) -> list[str]:
        answer = page.request.get(
            f"{dash_server.url}/agendas?{query}", headers={"Accept": "application/json"}
        )
        assert answer.status == 200
        return [row["agendaId"] for row in answer.json()["all"]]

    assert json_ids("type=noop&q=nine") == [mine]
    assert json_ids("type=sample&q=nine") == []  # its only op is a noop
    assert json_ids("q=acme+LADDER") == [stored["acme"]]
    assert json_ids("q=nine&customer=umbrella") == []
    assert theirs not in json_ids("q=nine") + json_ids("type=noop")


def test_a_new_agenda_appears_at_the_top_without_a_reload(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    unrun = {"params": {"doNotRun": True}}
    sign_in(page, dash_server, tokens["acme"])
    page.wait_for_selector('#live[data-state="open"]')
    before = row_ids(page)
    total = int(page.locator("#count").get_attribute("data-total"))
    theirs = submit(dash_server, tokens["umbrella"], "not for acme", **unrun)
    fresh = submit(dash_server, tokens["acme"], "fresh arrival", **unrun)
    page.wait_for_selector(f'tr[data-agenda-id="{fresh}"]')
    assert row_ids(page) == [fresh, *before][:50]  # theirs never came
    assert count_text(page) == f"{total + 1} agendas, page 1 of {-(-(total + 1) // 50)}"
    row = page.locator(f'tr[data-agenda-id="{fresh}"]')
    assert row.locator("a.title").get_attribute("href") == f"/agendas/{fresh}"
    assert row.get_by_role("button", name=f"Copy id {fresh}").is_visible()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    # with a text filter only an agenda matching it is inserted (the server checks its row)
    page.goto(f"{dash_server.url}/agendas?q=wanted")
    page.wait_for_selector('#live[data-state="open"]')
    assert row_ids(page) == [] and count_text(page) == "0 agendas, page 1 of 1"
    with page.expect_response(lambda answer: "/agendas/row/" in answer.url) as refused:
        other = submit(dash_server, tokens["acme"], "not this one", **unrun)
    assert refused.value.status == 204 and other in refused.value.url
    wanted = submit(dash_server, tokens["acme"], "The WANTED one", **unrun)
    page.wait_for_selector(f'tr[data-agenda-id="{wanted}"]')
    assert row_ids(page) == [wanted]
    assert count_text(page) == "1 agenda, page 1 of 1"
    assert theirs not in row_ids(page) and stored["umbrella"] not in row_ids(page)
