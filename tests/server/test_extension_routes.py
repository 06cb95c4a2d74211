"""pop's read-side extension routes on a real ``pop serve`` with tokens, after a real ``pop
executor`` ran the agendas: ``/pop/agenda/{id}/logs`` (with ``follow``), ``/outputs`` and
``/files/{path}`` (with the path-traversal attacks), each hidden (404) from a token that may not
see the agenda."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import run_pop_at
from tests.server.conftest import RunningServer
from tests.server.test_auth import bearer, token


def sample_op(name: str, message: str, sleep_ms: int = 0) -> dict[str, Any]:
    params: dict[str, Any] = {"logMessage": message}
    if sleep_ms:
        params["sleepMilliseconds"] = sleep_ms
    return {
        "name": name,
        "type": "sample",
        "payload": {"actions": [{"action": "log", "paramsMap": params}], "resultPayload": {}},
    }


@pytest.fixture(scope="module")
def tokens(auth_server: RunningServer) -> dict[str, str]:
    home = auth_server.home
    return {
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="umbrella"),
        "global": token(home, kind="global", name="root"),
    }


@pytest.fixture(scope="module")
def ran(auth_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """An agenda of acme (two ops) and one of umbrella, both run by a real executor."""
    ids = {}
    with auth_server.http() as http:
        for who in ("acme", "umbrella"):
            answer = http.post(
                "/pop/agenda",
                json={
                    "title": f"{who} logs",
                    "operations": [
                        sample_op("first", f"{who} says hello"),
                        sample_op("second", f"{who} says bye"),
                    ],
                },
                headers=bearer(tokens[who]),
            )
            assert answer.status_code == 200, answer.text
            ids[who] = answer.json()["all"][0]["id"]
    executed = run_pop_at(auth_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    return ids


def test_logs_lists_each_attempt_with_its_text(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str]
) -> None:
    with auth_server.http() as http:
        answer = http.get(f"/pop/agenda/{ran['acme'][:8]}/logs", headers=bearer(tokens["acme"]))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 2 and set(body) == {"all", "count", "cid"}
    items = {item["operation"]: item for item in body["all"]}
    assert set(items) == {"first", "second"}
    first = items["first"]
    assert set(first) == {"operation", "attempt", "path", "tail", "text"}
    assert first["attempt"] == 1
    assert "acme says hello" in first["text"]
    assert any("acme says hello" in line for line in first["tail"])
    assert first["text"] == Path(first["path"]).read_text()
    # the first four fields are what `pop logs --json` prints on the server's machine
    local = run_pop_at(auth_server.home, "logs", ran["acme"], "--json")
    assert local.returncode == 0, local.stderr
    assert [
        {key: value for key, value in item.items() if key != "text"} for item in body["all"]
    ] == json.loads(local.stdout)


def test_logs_of_one_operation_and_an_unknown_one(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str]
) -> None:
    with auth_server.http() as http:
        one = http.get(
            f"/pop/agenda/{ran['acme']}/logs",
            params={"operation": "second"},
            headers=bearer(tokens["acme"]),
        )
        unknown = http.get(
            f"/pop/agenda/{ran['acme']}/logs",
            params={"operation": "nope"},
            headers=bearer(tokens["acme"]),
        )
    assert [item["operation"] for item in one.json()["all"]] == ["second"]
    assert "acme says bye" in one.json()["all"][0]["text"]
    assert unknown.status_code == 404
    assert "first, second" in unknown.json()["errorResponse"]["hint"]


def test_outputs_are_what_pop_outputs_json_prints(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str]
) -> None:
    with auth_server.http() as http:
        answer = http.get(f"/pop/agenda/{ran['acme']}/outputs", headers=bearer(tokens["acme"]))
        one = http.get(
            f"/pop/agenda/{ran['acme']}/outputs",
            params={"operation": "first"},
            headers=bearer(tokens["acme"]),
        )
    assert answer.status_code == 200, answer.text
    local = run_pop_at(auth_server.home, "outputs", ran["acme"], "--json")
    assert answer.json()["all"] == json.loads(local.stdout)
    assert [item["operation"] for item in answer.json()["all"]] == ["first", "second"]
    assert [item["operation"] for item in one.json()["all"]] == ["first"]


@pytest.mark.parametrize("route", ["logs", "outputs", "files/report.txt"])
def test_another_customers_agenda_is_not_there(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str], route: str
) -> None:
    work = auth_server.home / "work" / ran["umbrella"]
    work.mkdir(parents=True, exist_ok=True)
    (work / "report.txt").write_text("umbrella only")
    with auth_server.http() as http:
        hidden = http.get(f"/pop/agenda/{ran['umbrella']}/{route}", headers=bearer(tokens["acme"]))
        missing = http.get(f"/pop/agenda/00000000-none/{route}", headers=bearer(tokens["acme"]))
        owner = http.get(
            f"/pop/agenda/{ran['umbrella']}/{route}", headers=bearer(tokens["umbrella"])
        )
        root = http.get(f"/pop/agenda/{ran['umbrella']}/{route}", headers=bearer(tokens["global"]))
        anonymous = http.get(f"/pop/agenda/{ran['umbrella']}/{route}")
    assert hidden.status_code == 404 and missing.status_code == 404
    assert hidden.json()["errorResponse"]["title"] == "NotFoundError"
    assert "umbrella" not in hidden.text
    assert owner.status_code == 200 and root.status_code == 200
    assert anonymous.status_code == 401


def raw_get(server: RunningServer, path: str, secret: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (httpx would remove ``..`` segments)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Authorization", f"Bearer {secret}")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_files_serves_bytes_from_the_work_directory(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str]
) -> None:
    work = auth_server.home / "work" / ran["acme"]
    (work / "hls").mkdir(parents=True, exist_ok=True)
    (work / "hls" / "master.m3u8").write_text("#EXTM3U\n")
    (work / "data.json").write_text('{"a": 1}')
    with auth_server.http() as http:
        playlist = http.get(
            f"/pop/agenda/{ran['acme']}/files/hls/master.m3u8", headers=bearer(tokens["acme"])
        )
        data = http.get(
            f"/pop/agenda/{ran['acme']}/files/data.json",
            headers={**bearer(tokens["acme"]), "Range": "bytes=1-4"},
        )
        folder = http.get(f"/pop/agenda/{ran['acme']}/files/hls", headers=bearer(tokens["acme"]))
        none = http.get(f"/pop/agenda/{ran['acme']}/files/nope.txt", headers=bearer(tokens["acme"]))
    assert playlist.status_code == 200 and playlist.content == b"#EXTM3U\n"
    assert "mpegurl" in playlist.headers["content-type"].lower()
    assert data.status_code == 206 and data.content == b'"a":'
    assert folder.status_code == 404 and none.status_code == 404


def test_files_never_leaves_the_work_directory(
    auth_server: RunningServer, tokens: dict[str, str], ran: dict[str, str]
) -> None:
    home = auth_server.home
    secret_text = b"TOP-SECRET-CONTENT"
    (home / "secret.txt").write_bytes(secret_text)
    (home / "work" / "secret.txt").write_bytes(secret_text)
    work = home / "work" / ran["acme"]
    (work / "sub").mkdir(parents=True, exist_ok=True)
    (work / "out").unlink(missing_ok=True)
    (work / "out").symlink_to(home / "secret.txt")
    (work / "outdir").unlink(missing_ok=True)
    (work / "outdir").symlink_to(home, target_is_directory=True)
    other = home / "work" / ran["umbrella"]
    other.mkdir(parents=True, exist_ok=True)
    (other / "theirs.txt").write_bytes(secret_text)
    base = f"/pop/agenda/{ran['acme']}/files/"
    attacks = [
        "../secret.txt",
        "../../secret.txt",
        "sub/../../secret.txt",
        "sub/../../../secret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "..%2fsecret.txt",
        "..%2f..%2fsecret.txt",
        "%2E%2E%2F%2E%2E%2Fsecret.txt",
        "..%5c..%5csecret.txt",
        f"../{ran['umbrella']}/theirs.txt",
        f"%2e%2e/{ran['umbrella']}/theirs.txt",
        "/" + str(home / "secret.txt").lstrip("/"),
        "%2f" + str(home / "secret.txt").lstrip("/").replace("/", "%2f"),
        "out",
        "outdir/secret.txt",
        "secret.txt%00.txt",
        ".",
        "",
    ]
    for attack in attacks:
        status, body = raw_get(auth_server, base + attack, tokens["acme"])
        assert status == 404, (attack, status)
        assert secret_text not in body, attack
    # the same file through a symlink that stays inside is served
    (work / "sub" / "inside.txt").write_bytes(b"fine")
    (work / "link").unlink(missing_ok=True)
    (work / "link").symlink_to(work / "sub" / "inside.txt")
    assert raw_get(auth_server, base + "link", tokens["acme"]) == (200, b"fine")


def test_a_work_dir_outside_pop_home_is_for_global_tokens_only(
    auth_server: RunningServer, tokens: dict[str, str], tmp_path: Path
) -> None:
    """An acme agenda whose params.workDir is outside POP_HOME/work (submitted on the server's
    machine): acme's own token is not served files from there, a global token is."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "passwd").write_text("not yours")
    document = tmp_path / "agenda.json"
    document.write_text(
        json.dumps(
            {
                "params": {"workDir": str(elsewhere), "doNotRun": True},
                "operations": [sample_op("only", "never runs")],
            }
        )
    )
    submitted = run_pop_at(auth_server.home, "submit", str(document), "--customer", "acme")
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = submitted.stdout.strip()
    with auth_server.http() as http:
        customer = http.get(f"/pop/agenda/{agenda_id}/files/passwd", headers=bearer(tokens["acme"]))
        root = http.get(f"/pop/agenda/{agenda_id}/files/passwd", headers=bearer(tokens["global"]))
    assert customer.status_code == 404 and "not yours" not in customer.text
    assert root.status_code == 200 and root.text == "not yours"


def test_follow_streams_the_log_until_the_attempt_ends(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    with auth_server.http() as http:
        submitted = http.post(
            "/pop/agenda",
            json={"operations": [sample_op("slow", "slow op finished", sleep_ms=1500)]},
            headers=bearer(tokens["acme"]),
        )
        assert submitted.status_code == 200, submitted.text
        agenda_id = submitted.json()["all"][0]["id"]
        no_op = http.get(
            f"/pop/agenda/{agenda_id}/logs",
            params={"follow": "true"},
            headers=bearer(tokens["acme"]),
        )
        assert no_op.status_code == 422
        hidden = http.get(
            f"/pop/agenda/{agenda_id}/logs",
            params={"follow": "true", "operation": "slow"},
            headers=bearer(tokens["umbrella"]),
        )
        assert hidden.status_code == 404
    received: list[bytes] = []
    status: list[int] = []

    def follow() -> None:  # started before the executor: no attempt yet, so it waits
        with (
            httpx.Client(base_url=auth_server.url, timeout=120) as client,
            client.stream(
                "GET",
                f"/pop/agenda/{agenda_id}/logs",
                params={"follow": "true", "operation": "slow"},
                headers=bearer(tokens["acme"]),
            ) as response,
        ):
            status.append(response.status_code)
            assert response.headers["content-type"].startswith("text/plain")
            for chunk in response.iter_bytes():
                received.append(chunk)

    reader = threading.Thread(target=follow)
    reader.start()
    executed = run_pop_at(auth_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    reader.join(timeout=60)
    assert not reader.is_alive(), "the follow stream did not end with the attempt"
    assert status == [200]
    text = b"".join(received).decode()
    assert "slow op finished" in text
    assert "OPERATION_NAME : slow" in text
