"""The queues page in headless Chromium against a real ``pop serve``: per insight its algorithm,
queue size, depth, running agendas and pool, and the share chart of the last hour's hand-outs
after a real ``pop executor`` (and a ``getAgenda`` pull) handed out agendas of two customers; a
customer's session sees only its own customer's share and no edit controls (a POST is 403); a
global session edits an insight through the form (the change shows; a bad value shows POP's
message and hint and changes nothing), adds and deletes a pool; a form without the CSRF token is
refused; the JSON answer; accessible names, keyboard reach, axe-core and screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_pop_at
from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.dashboard.test_agendas import CONTROL_NAMES, sign_in, submit
from tests.server.conftest import RunningServer, bearer, start_server
from tests.server.conftest import add_token as token

INSIGHT = "transcode"
JSON = {"Accept": "application/json"}

FOCUSED_NAME = """(() => { const e = document.activeElement;
  return (e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent)
          || e.textContent || '').trim(); })()"""


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose leases last an hour: the agenda pulled with ``getAgenda`` and never
    reported stays running (handed out, not finished) for the whole module."""
    home = tmp_path_factory.mktemp("queues") / "pop_home"
    server = start_server(home, env={"POP_LEASE_SECONDS": "3600"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tokens(dash_server: RunningServer) -> dict[str, str]:
    home = dash_server.home
    return {
        "global": token(home, kind="global", name="root"),
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="umbrella"),
        "executor": token(home, kind="executor", insights=[INSIGHT], name="puller"),
    }


@pytest.fixture(scope="module")
def handed_out(dash_server: RunningServer, tokens: dict[str, str]) -> dict[str, Any]:
    """Pool ``media``, customers acme and umbrella, insight ``transcode`` (RoundRobin, queue
    size 4); three agendas run by ``pop executor --once`` (acme 2, umbrella 1), one of acme
    pulled by ``getAgenda`` and left running, one of acme left queued."""
    root = bearer(tokens["global"])
    with dash_server.http() as http:
        for path, body in (
            ("/pop/resourcepool", {"id": "media", "title": "Media"}),
            ("/pop/customer", {"id": "acme", "title": "Acme", "resourcePoolId": "media"}),
            ("/pop/customer", {"id": "umbrella", "title": "Umbrella", "resourcePoolId": "media"}),
            (
                "/pop/insight",
                {
                    "id": INSIGHT,
                    "title": "Transcoding",
                    "resourcePoolId": "media",
                    "schedulingAlgorithm": "RoundRobin",
                    "queueSize": 4,
                    "mappers": {"operationType": ["sample"]},
                    "allowedCustomerIds": ["acme", "umbrella"],
                },
            ),
        ):
            answer = http.post(path, json=body, headers=root)
            assert answer.status_code == 200, answer.text
    ran = [
        submit(dash_server, tokens[name], f"{name} run") for name in ("acme", "acme", "umbrella")
    ]
    executed = run_pop_at(dash_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    pulled = submit(dash_server, tokens["acme"], "acme pulled")
    with dash_server.http() as http:
        answer = http.post(
            "/pop/resourcepool/service/getAgenda",
            json={"insightId": INSIGHT, "count": 1, "executorId": "remote-1"},
            headers=bearer(tokens["executor"]),
        )
    assert answer.status_code == 200, answer.text
    assert [agenda["id"] for agenda in answer.json()["agendas"]] == [pulled]
    queued = submit(dash_server, tokens["acme"], "acme queued")
    return {"ran": ran, "pulled": pulled, "queued": queued}


def section(page: Any) -> Any:
    return page.locator(f'section.insight[data-insight-id="{INSIGHT}"]')


def fact(page: Any, name: str) -> str:
    text: str = section(page).locator(f'[data-field="{name}"]').inner_text()
    return text


def share_rows(page: Any) -> dict[str, str]:
    rows = section(page).locator(".shares-table tbody tr")
    return {
        rows.nth(index).get_attribute("data-customer"): rows.nth(index)
        .locator('[data-field="count"]')
        .inner_text()
        for index in range(rows.count())
    }


def test_a_global_session_sees_each_insight_and_every_customers_share(
    page: Any,
    dash_server: RunningServer,
    tokens: dict[str, str],
    handed_out: dict[str, Any],
    tmp_path: Path,
) -> None:
    sign_in(page, dash_server, tokens["global"])
    page.goto(f"{dash_server.url}/queues")
    assert page.get_by_role("link", name="Queues").get_attribute("aria-current") == "page"
    assert fact(page, "algorithm") == "RoundRobin"
    assert fact(page, "queue-size") == "4"
    assert fact(page, "depth") == "1"  # the queued agenda
    assert fact(page, "running") == "1"  # the pulled one: handed out, not finished
    assert fact(page, "pool") == "media"
    assert share_rows(page) == {"acme": "3", "umbrella": "1"}
    chart = section(page).get_by_role("img")
    assert chart.get_attribute("aria-labelledby")
    title = section(page).locator("svg > title").text_content() or ""
    assert "acme 3 (75.0%)" in title and "umbrella 1 (25.0%)" in title
    bars = section(page).locator("svg g.bar rect")
    widths = [float(bars.nth(index).get_attribute("width")) for index in range(bars.count())]
    assert widths[0] == pytest.approx(3 * widths[1], abs=2)  # acme: three times umbrella
    # the built-in default insight is listed too, with nothing handed out
    assert page.locator('section.insight[data-insight-id="default"] .empty').is_visible()

    answer = page.request.get(f"{dash_server.url}/queues", headers=JSON)
    assert answer.status == 200
    facts = {item["insightId"]: item for item in answer.json()["all"]}
    assert set(facts) == {"default", INSIGHT}
    transcode = facts[INSIGHT]
    assert (transcode["schedulingAlgorithm"], transcode["queueSize"]) == ("RoundRobin", 4)
    assert (transcode["queueDepth"], transcode["running"]) == (1, 1)
    assert transcode["resourcePoolId"] == "media"
    assert transcode["handouts"]["total"] == 4
    assert transcode["handouts"]["customers"] == [
        {"customerId": "acme", "count": 3, "percent": 75.0},
        {"customerId": "umbrella", "count": 1, "percent": 25.0},
    ]

    names = page.evaluate(CONTROL_NAMES)
    assert names and all(names), names
    reached = []
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED_NAME))
    assert "Queues" in reached and "Edit insight transcode" in reached, reached
    page.goto(f"{dash_server.url}/queues")  # the top of the page, nothing focused
    assert_accessible(page)
    page_screenshots(page, "queues", tmp_path)


def test_without_a_session_the_page_asks_to_sign_in(
    dash_server: RunningServer, tokens: dict[str, str]
) -> None:
    with dash_server.http() as http:
        page = http.get("/queues", follow_redirects=False)
        as_json = http.get("/queues", headers=JSON)
        edit = http.post("/queues/edit", data={"kind": "pool", "action": "add", "id": "x"})
        pool = http.get("/pop/resourcepool/x", headers=bearer(tokens["global"]))
    assert pool.status_code == 404  # not added
    assert (page.status_code, page.headers["location"]) == (303, "/signin")
    assert as_json.status_code == 401
    assert edit.status_code == 303 and edit.headers["location"] == "/signin"


def test_a_customer_session_sees_only_its_own_share_and_cannot_edit(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], handed_out: dict[str, Any]
) -> None:
    sign_in(page, dash_server, tokens["umbrella"])
    page.goto(f"{dash_server.url}/queues")
    assert share_rows(page) == {"umbrella": "1"}
    assert "25.0%" in section(page).locator(".shares-table").inner_text()
    assert "acme" not in page.content()  # not another customer's name, nor its count
    assert page.locator('form[action="/queues/edit"]').count() == 0
    assert page.get_by_role("button", name="Add insight").count() == 0
    answer = page.request.get(f"{dash_server.url}/queues", headers=JSON)
    assert "acme" not in answer.text()
    (transcode,) = [item for item in answer.json()["all"] if item["insightId"] == INSIGHT]
    assert transcode["handouts"]["customers"] == [
        {"customerId": "umbrella", "count": 1, "percent": 25.0}
    ]
    # a POST with the session's own CSRF token is still refused: not a global session
    csrf = page.locator('form[action="/signout"] input[name="csrf"]').get_attribute("value")
    refused = page.request.post(
        f"{dash_server.url}/queues/edit",
        form={"csrf": csrf, "kind": "insight", "action": "update", "id": INSIGHT, "title": "x"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "only a global session" in refused.text()
    after = page.request.get(f"{dash_server.url}/queues", headers=JSON).json()["all"]
    assert [item["title"] for item in after if item["insightId"] == INSIGHT] == ["Transcoding"]


def test_a_global_session_edits_an_insight_and_adds_and_deletes_a_pool(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], handed_out: dict[str, Any]
) -> None:
    sign_in(page, dash_server, tokens["global"])
    page.goto(f"{dash_server.url}/queues")
    # a form without the CSRF token is refused and changes nothing
    refused = page.request.post(
        f"{dash_server.url}/queues/edit",
        form={"kind": "insight", "action": "delete", "id": INSIGHT},
        max_redirects=0,
    )
    assert refused.status == 403

    # by keyboard: open the folded form with Enter, change it, save it with Enter
    page.get_by_text("Edit insight transcode").focus()
    page.keyboard.press("Enter")
    form = page.get_by_role("form", name="Edit insight transcode")
    form.get_by_label("Algorithm").select_option("Priority")
    form.get_by_label("Queue size (empty: unbounded)").fill("6")
    form.get_by_role("button", name="Save insight transcode").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/queues?done=update*")
    assert page.get_by_role("status").inner_text() == "Insight transcode updated."
    assert (fact(page, "algorithm"), fact(page, "queue-size")) == ("Priority", "6")

    # a bad value: POP's message and hint on the page, nothing changed
    page.get_by_text("Edit insight transcode").click()
    form = page.get_by_role("form", name="Edit insight transcode")
    form.get_by_label("Queue size (empty: unbounded)").fill("0")
    with page.expect_response(f"{dash_server.url}/queues/edit") as response:
        form.get_by_role("button", name="Save insight transcode").click()
    assert response.value.status == 200  # the page again, with the reason
    alert = page.get_by_role("alert").inner_text()
    assert "insight transcode has queue size 0; it must be at least 1" in alert
    assert "leave the queue size out for an unbounded insight" in alert
    assert "Traceback" not in page.content()
    assert fact(page, "queue-size") == "6"
    page.get_by_text("Edit insight transcode").click()  # the error state with a form open
    assert_accessible(page)

    page.get_by_text("Add a pool").click()
    page.get_by_role("form", name="Add a pool").get_by_label("Id (empty: generated)").fill("spare")
    page.get_by_role("form", name="Add a pool").get_by_label("Title").fill("Spare <pool>")
    page.get_by_role("button", name="Add pool").click()
    page.wait_for_url("**/queues?done=add*")
    assert page.get_by_role("status").inner_text() == "Resource pool spare added."
    page.get_by_text("Edit pool spare").click()
    assert page.get_by_role("form", name="Edit pool spare").get_by_label("Title").input_value() == (
        "Spare <pool>"
    )
    page.get_by_role("button", name="Delete pool spare").click()
    page.wait_for_url("**/queues?done=delete*")
    assert page.get_by_text("Edit pool spare").count() == 0
    # a pool in use cannot be deleted: POP's reason
    page.get_by_text("Edit pool media").click()
    page.get_by_role("button", name="Delete pool media").click()
    assert "pool media is still used by" in page.get_by_role("alert").inner_text()

    with dash_server.http() as http:
        stored = http.get(f"/pop/insight/{INSIGHT}", headers=bearer(tokens["global"]))
        spare = http.get("/pop/resourcepool/spare", headers=bearer(tokens["global"]))
    insight = stored.json()["all"][0]
    assert (insight["schedulingAlgorithm"], insight["queueSize"]) == ("Priority", 6)
    assert insight["mappers"] == {"operationType": ["sample"]}  # kept through the form
    assert insight["allowedCustomerIds"] == ["acme", "umbrella"]
    assert spare.status_code == 404  # deleted
