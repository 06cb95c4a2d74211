"""The agenda page (``/agendas/{id}``) in headless Chromium against a real ``pop serve``: the
DAG's boxes turn waiting -> running -> succeeded in place while a real ``pop executor`` runs
the agenda (each box's changes recorded as the page makes them), a failed op is red with its
diagnostic verbatim, rerun from failure runs only the failed op again, cancel and reset
selected ops, CSRF refusals, another customer's agenda is the 404 page (and a JSON 404), the
page's JSON is the API's, keyboard reach, accessible names, axe-core and screenshots."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_pop_at, start_pop_at, stop_process
from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.dashboard.test_agendas import CONTROL_NAMES, sign_in
from tests.server.conftest import RunningServer, bearer

# an exact diagnostic, with what HTML would take for markup, quotes and non-ASCII text
FAILURE = 'bad input <b>"ladder.mp4"</b> & \u00e9t\u00e9: no such file'

# records, in the order the page makes them, each box's state and state line (its percent)
RECORD_BOXES = """() => {
  window.__boxes = {};
  window.__order = [];
  document.querySelectorAll('svg.pop-dag g.op').forEach((box) => {
    const name = box.dataset.op;
    const line = box.querySelector('text.state');
    window.__boxes[name] = {states: [box.dataset.state], lines: [line.textContent]};
    window.__order.push(name + ':' + box.dataset.state);
    new MutationObserver(() => {
      const seen = window.__boxes[name];
      if (seen.states.at(-1) !== box.dataset.state) {
        seen.states.push(box.dataset.state);
        window.__order.push(name + ':' + box.dataset.state);
      }
      if (seen.lines.at(-1) !== line.textContent) seen.lines.push(line.textContent);
    }).observe(box, {attributes: true, childList: true, characterData: true, subtree: true});
  });
}"""


def op(
    name: str,
    *,
    sleep_ms: int = 0,
    after: str | None = None,
    fail: str | None = None,
    result: Any = None,
) -> dict[str, Any]:
    """A ``sample`` op: it sleeps (reporting its percent), then logs or fails with ``fail``."""
    params: dict[str, Any] = {"logMessage": f"{name} done"}
    if sleep_ms:
        params["sleepMilliseconds"] = sleep_ms
    action = (
        {"action": "exception", "paramsMap": {**params, "exceptionMessage": fail}}
        if fail
        else {"action": "log", "paramsMap": params}
    )
    document: dict[str, Any] = {
        "name": name,
        "type": "sample",
        "payload": {"actions": [action], "resultPayload": result or {}},
    }
    if after:
        document["params"] = {"dependsOn": after}
    return document


def submit(server: RunningServer, secret: str, title: str, ops: list[Any], **fields: Any) -> str:
    with server.http() as http:
        answer = http.post(
            "/pop/agenda",
            json={"title": title, "operations": ops, **fields},
            headers=bearer(secret),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["all"][0]["id"])


def progress_of(server: RunningServer, secret: str, agenda_id: str) -> dict[str, Any]:
    with server.http() as http:
        answer = http.get(f"/pop/progress/agenda/{agenda_id}", headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["all"][0]
    return found


def attempt_counts(progress: dict[str, Any]) -> dict[str, int]:
    return {item["operation"]: item["attemptCount"] for item in progress["operationProgress"]}


def run_executor(server: RunningServer) -> None:
    """A real ``pop executor`` on the server's store until the queue is empty."""
    executed = run_pop_at(server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr


@pytest.fixture(scope="module")
def failed(dash_server: RunningServer, tokens: dict[str, str]) -> str:
    """An agenda of acme whose op ``scale`` failed with FAILURE (``probe`` succeeded first,
    ``package`` waited for ``scale`` and never ran)."""
    agenda_id = submit(
        dash_server,
        tokens["acme"],
        "failing ladder",
        [
            op("probe", result={"width": 1920}),
            op("scale", after="probe", fail=FAILURE),
            op("package", after="scale"),
        ],
    )
    run_executor(dash_server)
    return agenda_id


def box(page: Any, name: str) -> Any:
    return page.locator(f'svg.pop-dag g.op[data-op="{name}"]')


def test_the_boxes_go_from_waiting_to_running_to_succeeded_live(
    page: Any, dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    agenda_id = submit(
        dash_server,
        tokens["acme"],
        "live ladder",
        [
            op("probe", sleep_ms=2000, result={"duration": 12.5}),
            op("720p", sleep_ms=3000, after="probe"),
            op("1080p", sleep_ms=3000, after="probe"),
            op("package", sleep_ms=2000, after="720p, 1080p"),
        ],
    )
    sign_in(page, dash_server, tokens["acme"])
    # a unique prefix names it too; the op panel of probe is open while it runs
    page.goto(f"{dash_server.url}/agendas/{agenda_id[:8]}?op=probe")
    assert page.locator("#op-panel").get_by_text("No output.").is_visible()
    assert box(page, "probe").get_attribute("class") == "op state-waiting"
    assert page.locator("#head [data-field='started']").inner_text() == "not yet"
    page.evaluate(RECORD_BOXES)
    # counts each time probe's panel details are replaced (by the page reading itself again)
    page.evaluate(
        "() => { window.__replaced = 0; new MutationObserver((records) => {"
        " window.__replaced += records.filter(r => r.addedNodes.length).length; })"
        ".observe(document.getElementById('op-more'), {childList: true}); }"
    )
    page.wait_for_selector('#live[data-state="open"]')
    run_executor(dash_server)
    page.wait_for_function(
        "document.querySelector('#head [data-field=\"state\"]').textContent === 'COMPLETE'",
        timeout=60_000,
    )
    page.wait_for_function(
        "Object.values(window.__boxes).every(b => b.states.at(-1) === 'succeeded')", timeout=30_000
    )
    boxes = page.evaluate("window.__boxes")
    for name in ("probe", "720p", "1080p", "package"):
        assert boxes[name]["states"] == ["waiting", "running", "succeeded"], (name, boxes)
        percents = [
            int(line.split()[-1].rstrip("%")) for line in boxes[name]["lines"] if "%" in line
        ]
        assert percents == sorted(percents) and percents[-1] == 100, (name, boxes[name])
        assert box(page, name).get_attribute("class") == "op state-succeeded"
    # the DAG's order, as the page saw it: an op runs only after what it waits for succeeded
    order = page.evaluate("window.__order")
    for before, after in (
        ("probe", "720p"),
        ("probe", "1080p"),
        ("720p", "package"),
        ("1080p", "package"),
    ):
        assert order.index(f"{before}:succeeded") < order.index(f"{after}:running"), order
    assert page.locator("#head [data-field='percent']").inner_text() == "100%"
    # when it started and how long it ran, as the server renders them (it was "not yet" at load)
    final = progress_of(dash_server, tokens["acme"], agenda_id)
    started = page.locator("#head [data-field='started']").inner_text()
    assert started == time.strftime(
        "%Y-%m-%d %H:%M:%SZ", time.gmtime(final["startedTime"] / 1000)
    ), started
    assert re.fullmatch(r"\d+:\d\d", page.locator("#head [data-field='elapsed']").inner_text())
    assert page.locator("table.ops tr[data-op='720p'] [data-field='state']").inner_text() == (
        "succeeded"
    )
    assert page.get_by_role("button", name="Cancel agenda").is_hidden()  # it has finished
    # the op panel was read again when probe ended: its output as the op returned it, its one
    # attempt; all without a reload
    panel = page.locator("#op-panel")
    output = panel.locator("[data-field='output']")
    output.wait_for()
    assert output.inner_text() == '{\n  "duration": 12.5\n}'
    assert panel.locator("table.attempts tbody tr").count() == 1
    assert "succeeded" in panel.locator("table.attempts tbody tr").inner_text()
    assert panel.locator("[data-field='state']").inner_text() == "succeeded"
    log = panel.get_by_role("log", name="Log text of probe")
    page.wait_for_function(
        "document.querySelector('#op-panel [data-logview]').dataset.state === 'ended'"
    )
    assert "probe done" in log.inner_text()  # what the op logged, followed while it ran
    # the timeline was read again too: a bar per op's attempt, each succeeded
    bars = page.locator("#timeline g.attempt")
    assert sorted(
        bars.evaluate_all("bars => bars.map(b => b.dataset.op + ':' + b.dataset.outcome)")
    ) == ["1080p:succeeded", "720p:succeeded", "package:succeeded", "probe:succeeded"]
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    # read again once, when probe ended; not when the other ops ended (a video would restart)
    assert page.evaluate("window.__replaced") == 1
    # a click on a box opens its op
    box(page, "720p").click()
    page.wait_for_url(f"**/agendas/{agenda_id}?op=720p#op-panel")
    assert panel.get_by_role("heading", name="Operation 720p").is_visible()
    assert '"sleepMilliseconds": 3000' in panel.locator("[data-field='payload']").inner_text()


def test_a_failed_op_is_red_with_its_diagnostic_and_rerun_from_failure_runs_only_it(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], failed: str
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    page.goto(f"{dash_server.url}/agendas/{failed}")
    assert box(page, "scale").get_attribute("data-state") == "failed"
    assert box(page, "scale").get_attribute("class") == "op state-failed"
    fill = page.eval_on_selector('g.op[data-op="scale"] rect.box', "r => getComputedStyle(r).fill")
    assert fill == "rgb(255, 235, 233)"  # pop.graph's red of a failed box (light theme)
    assert box(page, "probe").get_attribute("data-state") == "succeeded"
    cause = page.get_by_role("region", name="Why it failed")
    assert FAILURE in cause.inner_text()
    page.locator("table.ops").get_by_role("link", name="scale", exact=True).click()
    page.wait_for_url("**?op=scale#op-panel")
    first = page.locator("#op-panel .diagnostic.first pre.diagnostic-text")
    assert first.inner_text() == FAILURE  # the real cause first, verbatim
    assert '"exceptionMessage"' in page.locator("#op-panel [data-field='payload']").inner_text()
    before = attempt_counts(progress_of(dash_server, tokens["acme"], failed))
    assert before == {"probe": 1, "scale": 1, "package": 0}
    page.get_by_role("button", name="Rerun from failure").click()
    page.wait_for_url(f"**/agendas/{failed}?notice=continue")
    assert "only the failed and not-run ops run again" in page.get_by_role("status").inner_text()
    # scale's panel, open while it runs again: its log viewer follows the new attempt
    page.goto(f"{dash_server.url}/agendas/{failed}?op=scale")
    page.wait_for_selector('#live[data-state="open"]')
    page.wait_for_selector('#op-panel [data-logview][data-state="ended"]')
    log = page.get_by_role("log", name="Log text of scale")
    first_log = log.inner_text()  # the first attempt's
    run_executor(dash_server)  # it fails again (the input is as bad as before)
    after = progress_of(dash_server, tokens["acme"], failed)
    assert after["processingStateMessage"] == "failed"
    assert attempt_counts(after) == {"probe": 1, "scale": 2, "package": 0}  # probe kept
    page.wait_for_function(
        "document.querySelector('#op-panel .diagnostic.first pre').textContent === "
        f"{FAILURE!r} && document.querySelectorAll('#op-panel table.attempts tbody tr')"
        ".length === 2"
    )
    page.wait_for_function(  # the second attempt's own log (its times differ)
        "(t) => { const v = document.querySelector('#op-panel [data-logview]');"
        " return v.dataset.state === 'ended' && v.querySelector('pre').textContent !== t; }",
        arg=first_log,
    )
    assert "conclusionStatus=failed" in log.inner_text()


def test_cancel_reset_selected_ops_and_their_csrf_refusals(
    page: Any, dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    waiting = submit(dash_server, tokens["acme"], "to cancel", [op("only", sleep_ms=1000)])
    done = submit(dash_server, tokens["acme"], "to reset", [op("a"), op("b", after="a")])
    sign_in(page, dash_server, tokens["acme"])
    page.goto(f"{dash_server.url}/agendas/{waiting}")
    # without the session's CSRF token every button's POST is refused and changes nothing
    for action in ("cancel", "continue", "reset"):
        for form in ({}, {"csrf": "forged"}):
            answer = page.request.post(
                f"{dash_server.url}/agendas/{waiting}/{action}", form=form, max_redirects=0
            )
            assert answer.status == 403, action
    assert progress_of(dash_server, tokens["acme"], waiting)["processingState"] == "WAITING"
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    page.get_by_role("button", name="Cancel agenda").click()
    page.wait_for_url(f"**/agendas/{waiting}?notice=cancel")
    assert page.locator("#head [data-field='state']").inner_text() == "COMPLETE"
    assert "cancelled" in page.get_by_role("region", name="Why it failed").inner_text()
    assert page.get_by_role("button", name="Cancel agenda").is_hidden()
    # cancelling it again is refused by pop: its message on the page, not a stack trace
    refused = page.request.post(
        f"{dash_server.url}/agendas/{waiting}/cancel", form={"csrf": csrf}, max_redirects=0
    )
    assert refused.status == 200  # a page that says why nothing changed
    assert "is already COMPLETE/failed" in refused.text() and "Traceback" not in refused.text()

    run_executor(dash_server)  # runs "to reset" (a, then b)
    page.goto(f"{dash_server.url}/agendas/{done}")
    page.get_by_role("button", name="Reset selected ops").click()  # none checked: refused
    alert = page.get_by_role("alert")
    assert "operationsToReset has no operations specified" in alert.inner_text()
    page.get_by_label("Reset b").check()
    page.get_by_role("button", name="Reset selected ops").click()
    page.wait_for_url(f"**/agendas/{done}?notice=reset")
    reset = progress_of(dash_server, tokens["acme"], done)
    states = {item["operation"]: item["processingState"] for item in reset["operationProgress"]}
    assert reset["processingState"] == "WAITING" and states == {"a": "COMPLETE", "b": "WAITING"}
    run_executor(dash_server)
    assert attempt_counts(progress_of(dash_server, tokens["acme"], done)) == {"a": 1, "b": 2}


def test_cancelling_a_running_agenda_stops_it_and_the_page_shows_it_live(
    page: Any, dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    agenda_id = submit(
        dash_server,
        tokens["acme"],
        "long ladder",
        [op("encode", sleep_ms=60_000), op("b", after="encode")],
    )
    sign_in(page, dash_server, tokens["acme"])
    page.goto(f"{dash_server.url}/agendas/{agenda_id}")
    page.wait_for_selector('#live[data-state="open"]')
    executor = start_pop_at(dash_server.home, "executor", "--once")
    try:
        page.wait_for_selector('g.op[data-op="encode"][data-state="running"]', timeout=60_000)
        page.get_by_role("button", name="Cancel agenda").click()
        page.wait_for_url(f"**/agendas/{agenda_id}?notice=cancel")
        assert "Cancel requested" in page.get_by_role("status").inner_text()
        # the executor stops the running handler; the page follows without a reload
        page.wait_for_function(
            "document.querySelector('#head [data-field=\"message\"]').textContent === 'failed'",
            timeout=60_000,
        )
        assert executor.wait(timeout=60) == 0
    finally:
        stop_process(executor)
    assert box(page, "encode").get_attribute("data-state") == "failed"
    assert page.get_by_role("button", name="Cancel agenda").is_hidden()
    assert page.get_by_role("button", name="Rerun from failure").is_visible()
    cancelled = progress_of(dash_server, tokens["acme"], agenda_id)
    assert cancelled["processingStateMessage"] == "failed"
    assert attempt_counts(cancelled)["b"] == 0  # nothing new started after the cancel


def test_another_customers_agenda_is_the_404_page_and_the_json_is_the_apis(
    browser: Any, page: Any, dash_server: RunningServer, tokens: dict[str, str], failed: str
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    answer = page.request.get(
        f"{dash_server.url}/agendas/{failed}", headers={"Accept": "application/json"}
    )
    assert answer.status == 200
    with dash_server.http() as http:
        api = http.get(f"/pop/progress/agenda/{failed}", headers=bearer(tokens["acme"])).json()
    mine = answer.json()
    assert mine.pop("cid") and api.pop("cid")
    assert mine == api  # envelope and all: the page is a view of the API
    # umbrella's session: the 404 page for acme's agenda, a JSON 404, and no action on it
    context = browser.new_context()
    try:
        other = context.new_page()
        sign_in(other, dash_server, tokens["umbrella"])
        shown = other.goto(f"{dash_server.url}/agendas/{failed}")
        assert shown.status == 404
        assert other.get_by_role("heading", name="Not found").is_visible()
        assert "failing ladder" not in other.content()
        as_json = other.request.get(
            f"{dash_server.url}/agendas/{failed}", headers={"Accept": "application/json"}
        )
        assert as_json.status == 404 and as_json.json()["errorResponse"]["responseCode"] == 404
        csrf = other.locator("input[name=csrf]").first.get_attribute("value")
        acted = other.request.post(
            f"{dash_server.url}/agendas/{failed}/cancel", form={"csrf": csrf}, max_redirects=0
        )
        assert acted.status == 404
    finally:
        context.close()
    assert progress_of(dash_server, tokens["acme"], failed)["processingStateMessage"] == "failed"


def test_the_agenda_page_is_labelled_reachable_by_keyboard_and_passes_axe(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], failed: str, tmp_path: Path
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    page.goto(f"{dash_server.url}/agendas/{failed}?op=scale")
    page.wait_for_selector('#live[data-state="open"]')
    names = page.evaluate(CONTROL_NAMES)
    assert names and all(names), names
    reached = []
    for _ in range(len(names) + 8):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "(() => { const e = document.activeElement;"
                " return (e.getAttribute('aria-label') || (e.labels && e.labels[0] &&"
                " e.labels[0].textContent) || e.textContent || '').trim(); })()"
            )
        )
    wanted = [
        f"Copy id {failed}",
        "Rerun from failure",
        "Operation probe, sample: succeeded 100%",  # the boxes are links in the Tab order
        "Operation scale, sample: failed 0%",
        "Reset probe",
        "scale",
        "Reset selected ops",
        "Sign out",
    ]
    for name in wanted:
        assert name in reached, (name, reached)
    assert any(name.startswith("The agenda's DAG") for name in reached), reached  # it scrolls
    # the op link is followed with the keyboard
    page.locator("table.ops").get_by_role("link", name="probe", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**?op=probe#op-panel")
    # and so is a box of the picture (Enter on the focused box)
    page.get_by_role("link", name="Operation package, sample: waiting 0%").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**?op=package#op-panel")
    page.goto(f"{dash_server.url}/agendas/{failed}?op=scale")
    page.wait_for_selector('#live[data-state="open"]')
    assert_accessible(page)
    page_screenshots(page, "agenda", tmp_path)


def test_the_picture_cache_draws_what_pop_graph_draws_for_each_state() -> None:
    from pop.graph import lay_out, to_svg
    from pop.models import Agenda, AgendaProgress, OperationProgress, ProcessingState
    from pop.server.dashboard.agenda import picture_svg

    agenda = Agenda.model_validate(
        {"id": "cache-1", "title": "cached", "operations": [op("a"), op("b", after="a")]}
    )

    def progress(percent: float) -> AgendaProgress:
        running = OperationProgress(
            operation="a", processing_state=ProcessingState.EXECUTING, percent_complete=percent
        )
        waiting = OperationProgress(operation="b", processing_state=ProcessingState.WAITING)
        return AgendaProgress(agenda_id="cache-1", operation_progress=[running, waiting])

    first = picture_svg(agenda, progress(40))
    assert first == to_svg(lay_out(agenda, progress(40))) and "running 40%" in first
    assert picture_svg(agenda, progress(40)) is first  # the same states: the kept picture
    later = picture_svg(agenda, progress(60))
    assert "running 60%" in later and "running 40%" not in later
    renamed = agenda.model_copy(update={"title": "renamed"})
    assert "renamed" in picture_svg(renamed, progress(60))  # another document, another picture
