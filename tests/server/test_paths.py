"""Input paths over HTTP on a real ``pop serve --input-root DIR``: a relative path is 422 for
every caller (the server cannot know the client's directory); a customer token's inputs must be
inside the input roots and it may not set ``params.workDir``; a global token is not limited by
the roots; every refusal lists each problem and leaves the store as it was."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pop.api import Client
from pop.config import Settings
from pop.engine.input_paths import absolute_input_paths
from pop.registry import Registry
from tests.conftest import run_pop_at
from tests.server.conftest import RunningServer, add_token, without_tokens


def analysis(*inputs: str, **fields: Any) -> dict[str, Any]:
    """An agenda of acme's probing ``inputs`` (an op type whose payload declares path fields)."""
    operation = {"name": "probe", "type": "analysis", "payload": {"inputs": list(inputs)}}
    return {"operations": [operation], "customerId": "acme", **fields}


class Setup:
    def __init__(self, server: RunningServer, root: Path, outside: Path) -> None:
        self.server, self.root, self.outside = server, root, outside
        self.customer = add_token(server.home, kind="customer", customers=["acme"], name="acme")
        self.global_ = add_token(server.home, kind="global", name="ops")

    def post(self, secret: str, path: str, body: dict[str, Any]) -> httpx.Response:
        with self.server.http(headers={"Authorization": f"Bearer {secret}"}) as http:
            return http.post(path, json=body)


@pytest.fixture
def setup(start_server: Callable[..., RunningServer], tmp_path: Path) -> Iterator[Setup]:
    root, outside = tmp_path / "media", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "clip.mp4").write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    server = start_server("--input-root", str(root))
    with server.http() as http:
        assert http.get("/readyz").status_code == 200
    yield Setup(server, root, outside)


def refused(setup: Setup, secret: str, path: str, body: dict[str, Any]) -> str:
    """Post ``body``; assert 422 InputError and an unchanged store; the description."""
    before = without_tokens(setup.server.home)
    response = setup.post(secret, path, body)
    assert response.status_code == 422, response.text
    problem = response.json()["errorResponse"]
    assert problem["title"] == "InputError"
    assert without_tokens(setup.server.home) == before
    description: str = problem["description"]
    return description


def test_relative_paths_are_refused_for_every_caller_each_one_listed(setup: Setup) -> None:
    for secret in (setup.customer, setup.global_):
        description = refused(setup, secret, "/pop/agenda", analysis("clip.mp4", "sub/other.mp4"))
        assert "2 problems" in description
        assert "operation probe: payload.inputs[0] 'clip.mp4' is a relative path" in description
        assert "payload.inputs[1] 'sub/other.mp4' is a relative path" in description


def test_a_relative_path_is_refused_even_with_a_submit_dir(setup: Setup) -> None:
    body = analysis("clip.mp4", params={"submitDir": str(setup.root)})
    assert "relative path" in refused(setup, setup.global_, "/pop/agenda", body)


def test_a_customer_token_reads_inputs_only_inside_the_input_roots(setup: Setup) -> None:
    inside = setup.post(setup.customer, "/pop/agenda", analysis(str(setup.root / "clip.mp4")))
    assert inside.status_code == 200, inside.text

    secret_file = str(setup.outside / "secret.mp4")
    for given in (secret_file, f"file://{secret_file}", str(setup.root / "link.mp4")):
        description = refused(setup, setup.customer, "/pop/agenda", analysis(given))
        assert "is outside the input roots of this server" in description, given
    dotted = str(setup.root / ".." / "elsewhere" / "secret.mp4")
    assert "outside the input roots" in refused(
        setup, setup.customer, "/pop/agenda", analysis(dotted)
    )


def test_a_global_token_is_not_limited_by_the_input_roots(setup: Setup) -> None:
    response = setup.post(
        setup.global_,
        "/pop/agenda",
        analysis(
            str(setup.outside / "secret.mp4"), customerId="acme", params={"workDir": "/tmp/w"}
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["all"][0]["params"]["workDir"] == "/tmp/w"


def test_urls_and_references_are_not_paths(setup: Setup) -> None:
    response = setup.post(setup.customer, "/pop/agenda", analysis("https://cdn.example/a.mp4"))
    assert response.status_code == 200, response.text


def test_a_customer_token_may_not_set_the_work_dir(setup: Setup) -> None:
    body = analysis(str(setup.root / "clip.mp4"), params={"workDir": str(setup.root)})
    description = refused(setup, setup.customer, "/pop/agenda", body)
    assert "params.workDir may only be given with a global token" in description


def test_a_customer_tokens_submit_dir_is_dropped(setup: Setup) -> None:
    body = analysis(str(setup.root / "clip.mp4"), params={"submitDir": "/home/someone/videos"})
    response = setup.post(setup.customer, "/pop/agenda", body)
    assert response.status_code == 200, response.text
    assert response.json()["all"][0]["params"].get("submitDir") != "/home/someone/videos"


def test_a_template_run_checks_the_filled_agendas_paths(setup: Setup) -> None:
    template = {
        "title": "probe it",
        "customerId": "acme",
        "agenda": {
            "operations": [
                {
                    "name": "probe",
                    "type": "analysis",
                    "payload": {"inputs": ["@<pop.payload::/input>"]},
                }
            ]
        },
    }
    added = setup.post(setup.customer, "/pop/agendatemplate", template)
    assert added.status_code == 200, added.text
    template_id = added.json()["all"][0]["id"]

    for given, words in (
        ("clip.mp4", "relative path"),
        (str(setup.outside / "secret.mp4"), "outside the input roots"),
    ):
        run = {"agendaTemplateId": template_id, "payload": {"input": given}}
        assert words in refused(setup, setup.customer, "/pop/agenda/service/run", run)
    run = {"agendaTemplateId": template_id, "payload": {"input": str(setup.root / "clip.mp4")}}
    response = setup.post(setup.customer, "/pop/agenda/service/run", run)
    assert response.status_code == 200, response.text


def test_without_input_roots_a_customer_token_names_no_local_input(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server()
    secret = add_token(server.home, kind="customer", customers=["acme"], name="acme")
    with server.http(headers={"Authorization": f"Bearer {secret}"}) as http:
        response = http.post("/pop/agenda", json=analysis(str(tmp_path / "clip.mp4")))
    assert response.status_code == 422, response.text
    assert "outside the input roots" in response.json()["errorResponse"]["description"]


def test_an_input_root_that_does_not_exist_is_a_usage_error(
    run_pop: Callable[..., Any], tmp_path: Path
) -> None:
    result = run_pop("serve", "--port", "0", "--input-root", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "--input-root" in result.stderr


def test_absolute_input_paths_makes_each_relative_path_field_absolute(tmp_path: Path) -> None:
    registry = Registry.load(None, settings=Settings.from_env().with_changes(home=tmp_path))
    document = {
        "title": "t",
        "operations": [
            {"name": "a", "type": "analysis", "payload": {"inputs": ["a.mp4", "/abs/b.mp4"]}},
            {"name": "t", "type": "thumbnail", "payload": {"input": "https://x/y.mp4"}},
            {"name": "r", "type": "thumbnail", "payload": {"input": "@<a.out::/file>"}},
            {"name": "l", "type": "logMessages", "payload": {"logMessages": ["c.mp4"]}},
        ],
    }

    made = absolute_input_paths(document, registry, str(tmp_path))

    assert made["operations"][0]["payload"]["inputs"] == [
        os.path.join(str(tmp_path), "a.mp4"),
        "/abs/b.mp4",
    ]
    assert made["operations"][1:] == document["operations"][1:]
    assert made["title"] == "t"
    assert document["operations"][0]["payload"]["inputs"][0] == "a.mp4"  # not changed in place


def test_create_agenda_checks_paths_and_records_who_created(setup: Setup) -> None:
    executor = add_token(setup.server.home, kind="executor", insights=["default"], name="ex")
    route = "/pop/resourcepool/service/createAgenda"
    for given, words in (
        ("clip.mp4", "relative path"),
        (str(setup.outside / "secret.mp4"), "outside the input roots"),
    ):
        before = without_tokens(setup.server.home)
        response = setup.post(executor, route, {"agendas": [analysis(given)]})
        assert response.status_code == 422, response.text
        assert words in response.json()["errorResponse"]["description"]
        assert without_tokens(setup.server.home) == before

    response = setup.post(executor, route, {"agendas": [analysis(str(setup.root / "clip.mp4"))]})
    assert response.status_code == 200, response.text
    created = response.json()["all"][0]["id"]
    with setup.server.http(headers={"Authorization": f"Bearer {setup.global_}"}) as http:
        changes = http.get(f"/pop/agenda/{created}/changes").json()["all"]
    assert [(item["action"], item["actor"].startswith("token:ex/")) for item in changes] == [
        ("submit", True)
    ]


def test_pop_submit_server_sends_relative_inputs_resolved_where_it_ran(
    setup: Setup, tmp_path: Path
) -> None:
    """The CLI makes each relative path absolute against its own directory before sending,
    so a customer's ``pop submit --server`` from the media folder is accepted (inside the
    roots) and the stored payload names the absolute file."""
    agenda = tmp_path / "agenda.json"
    agenda.write_text(json.dumps(analysis("clip.mp4")))
    remote = {"POP_SERVER": setup.server.url, "POP_TOKEN": setup.customer}

    submitted = run_pop_at(
        tmp_path / "client", "submit", str(agenda), "--json", env=remote, cwd=setup.root
    )

    assert submitted.returncode == 0, submitted.stderr
    stored = Client(Settings.from_env().with_changes(home=setup.server.home))
    try:
        (operation,) = stored.agenda(json.loads(submitted.stdout)["agendaId"]).operations
    finally:
        stored.close()
    assert operation.payload["inputs"] == [str(setup.root / "clip.mp4")]
