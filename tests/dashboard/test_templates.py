"""The templates pages in headless Chromium against a real ``pop serve``: the list and one
template keep to what the session's token may read (page, JSON, 404 page); the payload editor
flags a JSON syntax error, a missing required parameter, an unknown one and a wrong type as you
type and disables Submit until they are fixed; Preview shows the server's dry run of
``abr-ladder`` (its ops and DAG) or the server's refusal as it is, and stores nothing; Submit
stores the agenda for the session's customer and lands on ``/agendas/<id>``; a POST without the
CSRF token is refused; every control is named and reached by keyboard; axe-core and the
screenshots of both pages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import assert_accessible, page_screenshots
from tests.server.conftest import (
    RunningServer,
    add_token,
    bearer,
    the_five_tokens,
    without_tokens,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "templates"
LADDER_OPS = ["analysis", "transcode360p", "transcode720p", "package", "thumbnail", "filmstrip"]
CLIP = "https://media.example/clips/clip1.mp4"
# umbrella's, shared with acme: a field read inside (an object), one with a default
NESTED = {
    "title": "nested",
    "allowedCustomerIds": ["acme"],
    "agenda": {
        "operations": [
            {
                "name": "fetch",
                "type": "sample",
                "payload": {
                    "actions": [{"action": "log", "paramsMap": {"logMessage": "fetch"}}],
                    "resultPayload": {
                        "url": "@<pop.payload::/source/url>",
                        "times": "@<pop.payload::/count?2>",
                    },
                },
            }
        ]
    },
}


@pytest.fixture(scope="module")
def tokens(dash_server: RunningServer) -> dict[str, str]:
    return the_five_tokens(dash_server.home)


def add_template(server: RunningServer, secret: str, document: dict[str, Any]) -> str:
    with server.http() as http:
        answer = http.post("/pop/agendatemplate", json=document, headers=bearer(secret))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["all"][0]["id"])


@pytest.fixture(scope="module")
def stored(dash_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """abr-ladder of acme; hello-template of umbrella (acme may not read it); nested of
    umbrella, shared with acme."""
    ladder = json.loads((EXAMPLES / "abr-ladder.json").read_text())
    hello = json.loads((EXAMPLES / "hello-template.json").read_text())
    return {
        "ladder": add_template(dash_server, tokens["acme"], ladder),
        "hello": add_template(dash_server, tokens["umbrella"], {**hello, "title": "umbrella hi"}),
        "nested": add_template(dash_server, tokens["umbrella"], NESTED),
    }


def sign_in(page: Any, server: RunningServer, secret: str, path: str = "/templates") -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/agendas")
    page.goto(f"{server.url}{path}")


def listed(page: Any) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "tr[data-template-id]", "rows => rows.map(r => r.dataset.templateId)"
    )
    return ids


def api_json(server: RunningServer, secret: str, path: str) -> Any:
    with server.http() as http:
        answer = http.get(path, headers=bearer(secret))
    return answer.status_code, answer.json()


def page_json(page: Any, url: str) -> tuple[int, Any]:
    answer = page.request.get(url, headers={"Accept": "application/json"})
    return answer.status, answer.json()


def test_the_list_and_one_template_keep_to_the_sessions_templates(
    browser: Any,
    page: Any,
    dash_server: RunningServer,
    tokens: dict[str, str],
    stored: dict[str, str],
) -> None:
    url = dash_server.url
    sign_in(page, dash_server, tokens["acme"])
    assert listed(page) == [stored["ladder"], stored["nested"]]
    row = page.locator(f'tr[data-template-id="{stored["ladder"]}"]')
    assert row.locator('[data-field="parameters"]').inner_text() == "input"
    shared = page.locator(f'tr[data-template-id="{stored["nested"]}"]').inner_text()
    assert "umbrella\tacme\t1\tsource, count?" in shared
    # the page's JSON is the API's for the same token, without the cid
    status, answer = page_json(page, f"{url}/templates")
    _, api = api_json(dash_server, tokens["acme"], "/pop/agendatemplate")
    assert status == 200 and answer["all"] == api["all"] and len(api["all"]) == 2

    row.get_by_role("link", name="abr-ladder").click()
    page.wait_for_url(f"{url}/templates/{stored['ladder']}")
    assert page.get_by_role("heading", level=1).inner_text() == "abr-ladder"
    parameter = page.locator('tr[data-parameter="input"]').locator("th, td").all_inner_texts()
    assert parameter[:3] == ["input", "text: a string, number, boolean or null", "yes"]
    assert "operation 'analysis'" in parameter[4] and "agenda title" in parameter[4]
    assert page.get_by_role("row", name=re.compile("segmentDuration 4")).count() == 1
    boxes = page.eval_on_selector_all("#template-dag [data-op]", "b => b.map(e => e.dataset.op)")
    assert boxes == LADDER_OPS
    waits = page.get_by_role("row", name=re.compile("^package")).inner_text()
    assert "transcode360p, transcode720p" in waits
    status, answer = page_json(page, f"{url}/templates/{stored['ladder']}")
    _, api = api_json(dash_server, tokens["acme"], f"/pop/agendatemplate/{stored['ladder']}")
    assert status == 200 and answer["all"] == api["all"]

    # another customer's template: the 404 page (in a context whose console is not watched:
    # Chromium logs every 404 answer there), and the API's empty answer as JSON
    status, answer = page_json(page, f"{url}/templates/{stored['hello']}")
    _, api = api_json(dash_server, tokens["acme"], f"/pop/agendatemplate/{stored['hello']}")
    assert status == 200 and answer["all"] == api["all"] == []
    context = browser.new_context()
    try:
        other = context.new_page()
        sign_in(other, dash_server, tokens["acme"])
        for missing in (stored["hello"], "no-such-template"):
            assert other.goto(f"{url}/templates/{missing}").status == 404
            assert other.get_by_role("heading", name="Not found").is_visible()
            assert "umbrella hi" not in other.content()
    finally:
        context.close()

    # a global session reads both, and hello-template's defaults and whole-payload use
    page.context.clear_cookies()
    sign_in(page, dash_server, tokens["global"])
    assert sorted(listed(page)) == sorted(stored.values())
    page.goto(f"{url}/templates/{stored['hello']}")
    assert page.get_by_role("heading", level=1).inner_text() == "umbrella hi"
    repeat = page.locator('tr[data-parameter="repeat"]').locator("th, td").all_inner_texts()
    assert repeat[:4] == ["repeat", "any JSON value", "no", '"1"']
    assert "passes the whole payload on" in page.locator("main").inner_text()


def problems(page: Any) -> list[str]:
    texts: list[str] = page.locator("#payload-check li").all_inner_texts()
    return texts


def test_the_payload_editor_checks_as_you_type_and_disables_submit(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["acme"], f"/templates/{stored['ladder']}")
    editor = page.get_by_label("Payload (JSON)")
    submit = page.get_by_role("button", name="Submit")
    assert json.loads(editor.input_value()) == {"input": ""}  # the required field, empty
    assert page.locator("#payload-check").get_attribute("aria-live") == "polite"
    assert problems(page) == [] and submit.is_enabled()

    editor.fill("")
    editor.press_sequentially('{\n  "input": "a.mp4",\n  "x"')  # typed, key by key
    (syntax,) = problems(page)
    assert syntax.startswith("JSON syntax error at line 3, column 6: "), syntax
    assert submit.is_disabled()
    assert editor.get_attribute("aria-invalid") == "true"

    editor.press_sequentially(": 1}")
    assert problems(page) == ["unknown parameter 'x': this template reads input"]
    assert submit.is_disabled()
    editor.fill('{"inputs": "a.mp4"}')
    assert problems(page) == [
        "unknown parameter 'inputs': this template reads input",
        "missing required parameter 'input'",
    ]
    editor.fill('{"input": {"url": "a.mp4"}}')
    assert problems(page) == [
        "wrong type: 'input' must be text: a string, number, boolean or null (it is used inside"
        " a longer text), not an object"
    ]
    assert submit.is_disabled()
    editor.fill('["a.mp4"]')
    assert problems(page) == [
        "wrong type: the payload must be a JSON object whose fields are the parameters (input)"
    ]

    editor.fill(f'{{"input": "{CLIP}"}}')
    assert problems(page) == []
    assert page.locator("#payload-check").inner_text() == (
        "The payload fits the template's parameters."
    )
    assert submit.is_enabled() and editor.get_attribute("aria-invalid") == "false"


def dry_run_refusal(server: RunningServer, secret: str, template_id: str, payload: Any) -> Any:
    """What the API's dry run says to this payload (its errorResponse)."""
    with server.http() as http:
        answer = http.post(
            "/pop/agenda/service/run?dryRun=true",
            json={"agendaTemplateId": template_id, "payload": payload},
            headers=bearer(secret),
        )
    assert answer.status_code == 422, answer.text
    return answer.json()["errorResponse"]


def test_preview_shows_the_servers_dry_run_or_its_refusal_and_stores_nothing(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["acme"], f"/templates/{stored['ladder']}")
    before = without_tokens(dash_server.home)
    page.get_by_label("Payload (JSON)").fill(f'{{"input": "{CLIP}"}}')
    page.get_by_label("Link id (optional)").fill("previewed")
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview-ops li").first.wait_for()
    shown = page.eval_on_selector_all("#preview-ops li", "items => items.map(i => i.dataset.op)")
    assert shown == LADDER_OPS
    boxes = page.eval_on_selector_all("#preview-dag [data-op]", "b => b.map(e => e.dataset.op)")
    assert boxes == LADDER_OPS
    filled = json.loads(page.locator("#preview-json").text_content())
    assert filled["title"] == f"ABR ladder of {CLIP}"
    assert filled["operations"][0]["payload"] == {"inputs": [CLIP]}
    assert filled["customerId"] == "acme" and filled["linkId"] == "previewed"
    status = page.locator("#preview-status").inner_text()
    assert "6 operations. Nothing was stored." in status

    # a payload the page's checks accept but the server refuses: its message and hint as is
    page.get_by_label("Payload (JSON)").fill('{"input": "clip1.mp4"}')
    assert problems(page) == []
    page.get_by_role("button", name="Preview").click()
    refusal = dry_run_refusal(dash_server, tokens["acme"], stored["ladder"], {"input": "clip1.mp4"})
    assert "relative path" in refusal["description"]
    status_line = page.locator("#preview-status .refused").first
    status_line.wait_for()
    assert status_line.inner_text() == f"The server refused it: {refusal['description']}"
    assert page.locator("#preview-status").inner_text().endswith(f"Hint: {refusal['hint']}")
    assert page.locator("#preview-result").is_hidden()
    # the server parses the JSON itself: the preview of a syntax error is its message
    page.get_by_label("Payload (JSON)").fill('{"input": ')
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("unable to parse the payload as JSON").wait_for()
    assert without_tokens(dash_server.home) == before


def test_submit_stores_the_agenda_for_the_sessions_customer_and_goes_to_its_page(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    url = dash_server.url
    sign_in(page, dash_server, tokens["acme"], f"/templates/{stored['ladder']}")
    before = without_tokens(dash_server.home)
    # a refused run: the page again, the server's message, the payload as typed; nothing stored
    page.get_by_label("Payload (JSON)").fill('{"input": "/srv/media/clip1.mp4"}')
    page.get_by_role("button", name="Submit").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    refusal = dry_run_refusal(
        dash_server, tokens["acme"], stored["ladder"], {"input": "/srv/media/clip1.mp4"}
    )
    assert "outside the input roots" in refusal["description"]
    assert alert.locator('[data-field="message"]').inner_text() == refusal["description"]
    assert alert.locator('[data-field="hint"]').inner_text() == refusal["hint"]
    editor = page.get_by_label("Payload (JSON)")
    assert json.loads(editor.input_value()) == {"input": "/srv/media/clip1.mp4"}
    assert without_tokens(dash_server.home) == before

    # POSTs without the CSRF token, or with another one: 403, nothing stored
    form = {"payload": json.dumps({"input": CLIP})}
    for fields in (form, {**form, "csrf": "not-the-token"}):
        refused = page.request.post(
            f"{url}/templates/{stored['ladder']}/run", form=fields, max_redirects=0
        )
        assert refused.status == 403
    headers = {"Content-Type": "application/json"}
    refused = page.request.post(
        f"{url}/templates/{stored['ladder']}/preview", data=form, headers=headers
    )
    assert refused.status == 403
    assert without_tokens(dash_server.home) == before

    editor.fill(f'{{"input": "{CLIP}"}}')
    page.get_by_label("Link id (optional)").fill("from-the-page")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(re.escape(url) + r"/agendas/[0-9a-f-]{36}$"))
    agenda_id = page.url.rsplit("/", 1)[1]
    status, answer = api_json(dash_server, tokens["acme"], f"/pop/agenda/{agenda_id}")
    assert status == 200
    (agenda,) = answer["all"]
    assert agenda["title"] == f"ABR ladder of {CLIP}"
    assert agenda["customerId"] == "acme" and agenda["linkId"] == "from-the-page"
    assert [op["name"] for op in agenda["operations"]] == LADDER_OPS
    assert agenda["operations"][0]["payload"] == {"inputs": [CLIP]}


def test_the_templates_pages_are_labelled_reachable_by_keyboard_and_pass_axe(
    page: Any,
    dash_server: RunningServer,
    tokens: dict[str, str],
    stored: dict[str, str],
    tmp_path: Path,
) -> None:
    sign_in(page, dash_server, tokens["acme"])
    assert (
        page.get_by_role("navigation", name="Main")
        .get_by_role("link", name="Templates")
        .get_attribute("aria-current")
        == "page"
    )
    assert_accessible(page)
    page_screenshots(page, "templates", tmp_path)

    page.get_by_role("link", name="abr-ladder").click()
    page.get_by_label("Payload (JSON)").fill(f'{{"input": "{CLIP}"}}')
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview-ops li").first.wait_for()
    controls = {
        "payload": page.get_by_label("Payload (JSON)"),
        "link-id": page.get_by_label("Link id (optional)"),
        "preview-button": page.get_by_role("button", name="Preview"),
        "submit-button": page.get_by_role("button", name="Submit"),
    }
    for control in controls.values():
        assert control.count() == 1  # found by its accessible name
    page.locator("body").focus()
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    assert set(controls) <= set(reached), reached
    # the keyboard alone: the editor's text, then Preview by Enter
    page.get_by_label("Payload (JSON)").focus()
    page.keyboard.press("Control+a")
    page.keyboard.type('{"input": "x", "y": 1}')
    assert problems(page) == ["unknown parameter 'y': this template reads input"]
    page.keyboard.press("Control+a")
    page.keyboard.type(f'{{"input": "{CLIP}"}}')
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "preview-button"
    page.locator("#preview-json").evaluate("node => { node.textContent = ''; }")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('preview-json').textContent.length > 0")
    assert json.loads(page.locator("#preview-json").text_content())["title"].endswith(CLIP)
    assert_accessible(page)
    page.evaluate("window.scrollTo(0, 0)")
    page_screenshots(page, "template", tmp_path)


def test_a_field_read_inside_must_be_an_object_and_defaults_fill_the_editor(
    page: Any, dash_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    sign_in(page, dash_server, tokens["acme"], f"/templates/{stored['nested']}")
    rows = {
        name: page.locator(f'tr[data-parameter="{name}"]').locator("th, td").all_inner_texts()
        for name in ("source", "count")
    }
    assert rows["source"][:4] == ["source", "object", "yes", ""]
    assert rows["count"][:4] == ["count", "any JSON value", "no", '"2"']
    editor = page.get_by_label("Payload (JSON)")
    assert json.loads(editor.input_value()) == {"source": {"url": ""}, "count": "2"}
    editor.fill('{"source": "https://media.example/a.mp4"}')
    assert problems(page) == [
        "wrong type: 'source' must be an object (the template reads 'source/url')"
    ]
    assert page.get_by_role("button", name="Submit").is_disabled()
    editor.fill('{"source": {}}')
    assert problems(page) == ["missing required parameter 'source/url'"]
    editor.fill('{"source": {"url": "https://media.example/a.mp4"}, "count": 3}')
    assert problems(page) == []
    # the server agrees: the preview fills both
    page.get_by_role("button", name="Preview").click()
    page.locator("#preview-ops li").first.wait_for()
    filled = json.loads(page.locator("#preview-json").text_content())
    result = filled["operations"][0]["payload"]["resultPayload"]
    assert result == {"url": "https://media.example/a.mp4", "times": 3}
    assert filled["customerId"] == "acme"  # a shared template runs for the session's customer


def test_payload_parameters_come_from_the_templates_tokens() -> None:
    from pop.models import AgendaTemplate
    from pop.server.dashboard.templates_parameters import ANY, OBJECT, TEXT, payload_parameters

    hello = json.loads((EXAMPLES / "hello-template.json").read_text())
    found = payload_parameters(AgendaTemplate.model_validate(hello))
    assert [(p.name, p.type, p.required, p.default) for p in found.parameters] == [
        ("name", TEXT, True, None),  # inside "greetings for @<...>"
        ("requestId", ANY, False, "no-request-id"),
        ("repeat", ANY, False, "1"),
        ("tags", ANY, False, None),  # a bare "?": null
    ]
    assert found.takes_whole_payload  # "request": "@<pop.transformRequest>"
    assert found.example() == {
        "name": "",
        "requestId": "no-request-id",
        "repeat": "1",
        "tags": None,
    }
    nested = payload_parameters(AgendaTemplate.model_validate(NESTED))
    assert [(p.name, p.type, p.required) for p in nested.parameters] == [
        ("source", OBJECT, True),
        ("count", ANY, False),
    ]
    assert not nested.takes_whole_payload
    assert nested.parameters[0].description == "read by operation 'fetch'"


def test_an_empty_list_says_whose_templates_a_customer_sees_and_how_to_add_one(
    page: Any, dash_server: RunningServer, stored: dict[str, str]
) -> None:
    secret = add_token(dash_server.home, kind="customer", customers=["initech"], name="initech")
    sign_in(page, dash_server, secret)
    assert listed(page) == []
    empty = page.locator("table tbody").inner_text()
    assert "No templates of initech or shared with it." in empty
    assert "pop template add FILE --server URL" in empty and "belongs to default" in empty
