"""The log viewer (templates/_logview.html, static/logview.js) on the log page of one op,
``/agendas/{id}/log?operation=OP``, in headless Chromium against a real ``pop serve`` while a
real ``pop executor`` runs the op: the lines show as they are written, in order, as text
(program output such as ``[bold] -map '0:v:0?' :smile:`` or ``<b>`` stays verbatim), the viewer
says when the log ended, two viewers on one page follow their own ops, and the page is
accessible; another customer's session gets the 404 page, JSON the API's logs."""

from __future__ import annotations

import itertools
import subprocess
from typing import Any

import pytest

from tests.conftest import start_pop_at, stop_process
from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.dashboard.test_agendas import sign_in
from tests.server.conftest import RunningServer, bearer
from tests.server.test_auth import token

FILLER = "\n".join(f"filler {n}" for n in range(40))  # more than the viewer's height
LINES = [
    "first line [bold] -map '0:v:0?' :smile:\n" + FILLER,
    "second line <b>not bold</b> &amp; \\n",
    "third line",
    "fourth and last line",
]

# records the viewer's text each time it changes, and where it was scrolled to then (the
# reader's scroll-up, window.__up, is recorded too)
RECORD_TEXT = """(operation) => {
  const viewer = document.querySelector(`[data-logview][data-operation="${operation}"]`);
  const pre = viewer.querySelector("pre");
  window.__texts = window.__texts || {};
  window.__scrolls = window.__scrolls || {};
  window.__texts[operation] = [pre.textContent];
  window.__scrolls[operation] = [];
  new MutationObserver(() => {
    window.__texts[operation].push(pre.textContent);
    window.__scrolls[operation].push({
      up: Boolean(window.__up), top: pre.scrollTop,
      bottom: pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8});
  }).observe(pre, {childList: true, characterData: true, subtree: true});
}"""


def slow_logger(name: str, lines: list[str], pause_ms: int) -> dict[str, Any]:
    """A sample op logging ``lines``, waiting ``pause_ms`` before each but the first."""
    actions = [
        {"action": "log", "paramsMap": {"logMessage": line, "sleepMilliseconds": pause_ms * i}}
        for i, line in enumerate(lines[:1])
    ] + [
        {"action": "log", "paramsMap": {"logMessage": line, "sleepMilliseconds": pause_ms}}
        for line in lines[1:]
    ]
    return {"name": name, "type": "sample", "payload": {"actions": actions, "resultPayload": {}}}


@pytest.fixture(scope="module")
def secrets(dash_server: RunningServer) -> dict[str, str]:
    home = dash_server.home
    return {
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="umbrella"),
    }


def submit(server: RunningServer, secret: str, *operations: dict[str, Any]) -> str:
    with server.http() as http:
        answer = http.post(
            "/pop/agenda",
            json={"title": "talking", "operations": list(operations)},
            headers=bearer(secret),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["all"][0]["id"])


def test_the_viewer_shows_each_line_as_it_is_written(
    page: Any, dash_server: RunningServer, secrets: dict[str, str], tmp_path: Any
) -> None:
    other = ["shout 1", "shout 2 [red]x[/red]"]
    agenda_id = submit(
        dash_server,
        secrets["acme"],
        slow_logger("talk", LINES, 1500),
        {**slow_logger("shout", other, 1500), "dependsOn": ["talk"]},
    )
    sign_in(page, dash_server, secrets["acme"])
    page.goto(f"{dash_server.url}/agendas/{agenda_id}/log?operation=talk")
    assert page.locator("h1").inner_text() == "Log of talk"
    assert page.get_by_role("link", name="Open the log of talk in its own page").count() == 0
    page.wait_for_selector('[data-logview][data-state="following"]')
    # a second viewer on the same page, for the other op, as the agenda page has one per op
    page.evaluate(
        """() => {
      const copy = document.querySelector("[data-logview]").cloneNode(true);
      copy.dataset.operation = "shout";
      delete copy.dataset.state;
      copy.setAttribute("aria-label", "Log of shout");
      copy.querySelector("pre").setAttribute("aria-label", "Log text of shout");
      document.querySelector("main").appendChild(copy);
      window.popLogview.init(document);
    }"""
    )
    page.wait_for_selector('[data-logview][data-operation="shout"][data-state="following"]')
    page.evaluate(RECORD_TEXT, "talk")
    page.evaluate(RECORD_TEXT, "shout")
    executor = start_pop_at(dash_server.home, "executor", "--once")
    try:
        # the first lines fill the viewer, which keeps to the bottom; the reader scrolls up
        page.wait_for_function("window.__texts.talk.at(-1).includes('filler 39')")
        page.evaluate(
            """() => { const pre = document.querySelector('[data-operation="talk"] pre');
            window.__up = true; pre.scrollTop = 0; }"""
        )
        page.wait_for_selector(
            '[data-logview][data-operation="talk"][data-state="ended"]', timeout=90_000
        )
        page.wait_for_selector(
            '[data-logview][data-operation="shout"][data-state="ended"]', timeout=90_000
        )
        assert executor.wait(timeout=90) == 0
    except (subprocess.TimeoutExpired, AssertionError):
        stop_process(executor)
        raise
    texts: list[str] = page.evaluate("window.__texts.talk")
    final = texts[-1]
    # every line, verbatim and in order
    at = [final.index(line) for line in LINES]
    assert at == sorted(at), final
    # the lines came one by one as the op wrote them (1.5 s apart), not all at the end:
    # for each line, the viewer showed a text with it and without the next
    for line, following in itertools.pairwise(LINES):
        assert any(line in text and following not in text for text in texts), (line, texts)
    assert len(texts) >= len(LINES)
    viewer = page.locator('[data-logview][data-operation="talk"]')
    assert viewer.locator("pre").evaluate("pre => pre.childElementCount") == 0  # text only
    assert viewer.locator("pre").get_attribute("role") == "log"
    assert viewer.locator("pre").get_attribute("aria-live") == "polite"
    assert viewer.get_by_role("status").inner_text() == "Ended"
    shouted = page.evaluate("window.__texts.shout").pop()
    assert all(line in shouted for line in other) and LINES[0] not in shouted
    assert "shout 1" not in final  # each viewer follows its own op
    # the viewer kept to the bottom as text arrived, until the reader scrolled up: then it
    # stayed where the reader put it while the next lines came
    scrolls = page.evaluate("window.__scrolls.talk")
    before = [s for s in scrolls if not s["up"]]
    after = [s for s in scrolls if s["up"]]
    assert before and all(s["bottom"] for s in before), scrolls
    assert before[-1]["top"] > 0  # the filler overflowed the viewer: it had scrolled
    assert after and all(s["top"] == 0 and not s["bottom"] for s in after), scrolls
    page.keyboard.press("Tab")  # the log text is reached by keyboard (to scroll it)
    reached = []
    for _ in range(12):
        reached.append(page.evaluate("document.activeElement.getAttribute('aria-label')"))
        page.keyboard.press("Tab")
    assert "Log text of talk" in reached and "Log text of shout" in reached, reached
    assert_accessible(page)
    # the page again: an ended op's log is read whole, and the viewer is at its bottom
    page.goto(f"{dash_server.url}/agendas/{agenda_id}/log?operation=talk")
    page.wait_for_selector('[data-logview][data-state="ended"]')
    assert all(line in page.locator("pre").inner_text() for line in LINES[1:])
    assert page.locator("pre").evaluate(
        "pre => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8"
    )
    page_screenshots(page, "log", tmp_path)


def test_the_log_page_lists_ops_answers_json_and_hides_other_customers(
    page: Any, dash_server: RunningServer, secrets: dict[str, str]
) -> None:
    agenda_id = submit(dash_server, secrets["acme"], slow_logger("only <op>", ["x"], 0))
    sign_in(page, dash_server, secrets["acme"])
    page.goto(f"{dash_server.url}/agendas/{agenda_id}/log")
    link = page.get_by_role("link", name="only <op>")
    assert link.get_attribute("href") == f"/agendas/{agenda_id}/log?operation=only%20%3Cop%3E"
    answer = page.request.get(
        f"{dash_server.url}/agendas/{agenda_id}/log?operation=only <op>",
        headers={"Accept": "application/json"},
    )
    assert answer.status == 200 and answer.json()["all"] == []  # not run: no attempt yet
    missing = page.request.get(f"{dash_server.url}/agendas/{agenda_id}/log?operation=nope")
    assert missing.status == 404 and "<h1>Not found</h1>" in missing.text()
    page.context.clear_cookies()
    sign_in(page, dash_server, secrets["umbrella"])
    theirs = page.request.get(f"{dash_server.url}/agendas/{agenda_id}/log?operation=only <op>")
    assert theirs.status == 404 and "data-logview" not in theirs.text()
    assert "only &lt;op&gt;" in theirs.text()  # what was asked, escaped, not the agenda's title
    followed = page.request.get(
        f"{dash_server.url}/pop/agenda/{agenda_id}/logs?operation=only%20%3Cop%3E&follow=true"
    )
    assert followed.status == 404  # the API's route with this session: the same answer


def test_the_partial_escapes_its_context_and_links_the_logs_own_page() -> None:
    from pop.server.dashboard.pages import templates

    partial = templates.get_template("_logview.html")
    html = partial.render(static="/dashboard/static", agenda_id="a1", operation='say "<hi>" & go')
    assert 'data-operation="say &#34;&lt;hi&gt;&#34; &amp; go"' in html
    assert 'href="/agendas/a1/log?operation=say%20%22%3Chi%3E%22%20%26%20go"' in html
    assert "<hi>" not in html
    alone = partial.render(static="", agenda_id="a1", operation="x", logview_page_link=False)
    assert "in its own page" not in alone and 'role="log"' in alone
