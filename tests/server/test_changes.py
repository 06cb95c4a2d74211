"""Change records over a real ``pop serve`` and the local CLI: every submit, cancel, rerun,
template run and every write of a template, a facility object or a stored agenda names the token
that made it (``token:<name>/<id>``, never the secret), ``no-auth`` without tokens, or
``local:<user>`` on the store's machine; ``GET /pop/agenda/{id}/changes`` and ``pop status``
show them; a refused change records nothing."""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pop.api import Client
from pop.config import Settings
from pop.errors import StoreError
from pop.store import Store
from tests.server.conftest import RunningServer

TEMPLATE = {
    "title": "say it",
    "agenda": {
        "operations": [
            {
                "name": "say",
                "type": "logMessages",
                "payload": {"logMessages": ["@<pop.payload::/v>"]},
            }
        ]
    },
}


def agenda(**fields: Any) -> dict[str, Any]:
    return {
        "operations": [{"name": "say", "type": "logMessages", "payload": {"logMessages": ["hi"]}}],
        **fields,
    }


def add_token(home: Path, **rights: Any) -> tuple[str, str]:
    """(the token's id, its secret)."""
    client = Client(Settings.from_env().with_changes(home=home))
    try:
        info, secret = client.token_add(**rights)
    finally:
        client.close()
    return info.id, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def records(home: Path, kind: str, object_id: str) -> list[tuple[str, str, str | None]]:
    """(actor, action, cid) of each record of one object, read from the store file."""
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT actor, action, cid FROM changes WHERE kind = ? AND object_id = ? ORDER BY id",
            (kind, object_id),
        ).fetchall()
    finally:
        connection.close()
    return [tuple(row) for row in rows]


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_each_change_of_an_agenda_names_the_token_that_made_it(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server()
    home = server.home
    acme_id, acme = add_token(home, kind="customer", customers=["acme"], name="acme-ci")
    root_id, root = add_token(home, kind="global", name="ops")
    with server.http() as http:
        submitted = ok(
            http.post("/pop/agenda", json=agenda(), headers={**bearer(acme), "X-pop-cid": "c-1"})
        )["all"][0]["id"]
        ok(
            http.post(
                "/pop/agenda/service/cancel", json={"agendaId": submitted}, headers=bearer(root)
            )
        )
        ok(
            http.post(
                "/pop/agenda/service/rerun",
                json={"agendaId": submitted, "params": ["skipExecution"]},
                headers=bearer(acme),
            )
        )
        ok(http.put(f"/pop/agenda/{submitted}", json={"title": "renamed"}, headers=bearer(root)))
        shown = ok(http.get(f"/pop/agenda/{submitted}/changes", headers=bearer(acme)))

    acme_actor, root_actor = f"token:acme-ci/{acme_id}", f"token:ops/{root_id}"
    assert [(item["actor"], item["action"]) for item in shown["all"]] == [
        (acme_actor, "submit"),
        (root_actor, "cancel"),
        (acme_actor, "rerun"),
        (root_actor, "agenda.put"),
    ]
    assert shown["all"][0]["cid"] == "c-1" and shown["all"][0]["objectId"] == submitted
    assert all(isinstance(item["time"], int) for item in shown["all"])
    assert acme not in json.dumps(shown) and root not in json.dumps(shown)

    with server.http() as http:
        ok(http.delete(f"/pop/agenda/{submitted}", headers=bearer(acme)))
    assert records(home, "agenda", submitted)[-1][:2] == (acme_actor, "agenda.delete")


def test_templates_facility_objects_and_template_runs_are_recorded(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server()
    home = server.home
    root_id, root = add_token(home, kind="global", name="ops")
    actor = f"token:ops/{root_id}"
    with server.http(headers=bearer(root)) as http:
        template = ok(http.post("/pop/agendatemplate", json={**TEMPLATE, "customerId": "acme"}))[
            "all"
        ][0]["id"]
        ok(http.put(f"/pop/agendatemplate/{template}", json={"title": "said"}))
        run = ok(
            http.post(
                "/pop/agenda/service/run",
                json={"agendaTemplateId": template, "payload": {"v": "x"}},
            )
        )["all"][0]["id"]
        ok(http.delete(f"/pop/agendatemplate/{template}"))
        ok(http.post("/pop/resourcepool", json={"id": "p1", "title": "p"}))
        ok(http.post("/pop/customer", json={"id": "c1", "title": "c", "resourcePoolId": "p1"}))
        ok(http.put("/pop/customer/c1", json={"title": "c again"}))
        ok(http.post("/pop/insight", json={"id": "i1", "title": "i", "resourcePoolId": "p1"}))
        ok(http.delete("/pop/insight/i1"))

    assert [row[:2] for row in records(home, "template", template)] == [
        (actor, "template.add"),
        (actor, "template.put"),
        (actor, "template.delete"),
    ]
    assert [row[:2] for row in records(home, "agenda", run)] == [(actor, "run-template")]
    assert [row[1] for row in records(home, "pool", "p1")] == ["pool.add"]
    assert [row[1] for row in records(home, "customer", "c1")] == ["customer.add", "customer.put"]
    assert [row[1] for row in records(home, "insight", "i1")] == ["insight.add", "insight.delete"]


def test_without_auth_the_actor_is_no_auth(server: RunningServer) -> None:
    with server.http() as http:
        submitted = ok(http.post("/pop/agenda", json=agenda()))["all"][0]["id"]
        shown = ok(http.get(f"/pop/agenda/{submitted}/changes"))
    assert [(item["actor"], item["action"]) for item in shown["all"]] == [("no-auth", "submit")]


def test_another_customers_token_sees_no_records(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server()
    _, acme = add_token(server.home, kind="customer", customers=["acme"], name="a")
    _, umbrella = add_token(server.home, kind="customer", customers=["umbrella"], name="u")
    with server.http() as http:
        submitted = ok(http.post("/pop/agenda", json=agenda(), headers=bearer(acme)))["all"][0]
        shown = ok(http.get(f"/pop/agenda/{submitted['id']}/changes", headers=bearer(umbrella)))
    assert shown["all"] == [] and shown["count"] == 0


def test_a_refused_change_records_nothing(start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    home = server.home
    _, acme = add_token(home, kind="customer", customers=["acme"], name="a")
    _, umbrella = add_token(home, kind="customer", customers=["umbrella"], name="u")
    with server.http() as http:
        submitted = ok(http.post("/pop/agenda", json=agenda(), headers=bearer(acme)))["all"][0]
        agenda_id = submitted["id"]
        before = records(home, "agenda", agenda_id)
        refused = [
            # another customer's token: 403
            http.post(
                "/pop/agenda/service/cancel", json={"agendaId": agenda_id}, headers=bearer(umbrella)
            ),
            # a field that cannot change: 422
            http.put(f"/pop/agenda/{agenda_id}", json={"linkId": "x"}, headers=bearer(acme)),
        ]
        ok(
            http.post(
                "/pop/agenda/service/cancel", json={"agendaId": agenda_id}, headers=bearer(acme)
            )
        )
        after_cancel = records(home, "agenda", agenda_id)
        # cancelling a COMPLETE agenda: 422
        refused.append(
            http.post(
                "/pop/agenda/service/cancel", json={"agendaId": agenda_id}, headers=bearer(acme)
            )
        )
        # an agenda that fails validation: nothing stored, no record
        refused.append(
            http.post("/pop/agenda", json={"operations": [{"name": "x"}]}, headers=bearer(acme))
        )
    assert [response.status_code for response in refused] == [403, 422, 422, 422]
    assert [row[1] for row in before] == ["submit"]
    assert [row[1] for row in after_cancel] == ["submit", "cancel"]
    assert records(home, "agenda", agenda_id) == after_cancel
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    try:
        (count,) = connection.execute("SELECT count(*) FROM changes").fetchone()
    finally:
        connection.close()
    assert count == 2


def test_a_record_outside_the_changes_transaction_is_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "pop.db")
    try:
        with pytest.raises(StoreError, match="inside the transaction"):
            store.changes.record("submit", "agenda", "a1", actor="local:x")
        with store.transaction():
            store.changes.record("submit", "agenda", "a1", actor="local:x")
        assert [record.action for record in store.changes.of("agenda", "a1")] == ["submit"]
    finally:
        store.close()


def test_local_commands_record_the_unix_user_and_status_shows_each_change(
    run_pop: Callable[..., Any], pop_home: Path, tmp_path: Path
) -> None:
    source = tmp_path / "a.json"
    source.write_text(json.dumps(agenda()))
    submitted = run_pop("submit", str(source), "--json")
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    cancelled = run_pop("cancel", agenda_id)
    assert cancelled.returncode == 0, cancelled.stderr
    rerun = run_pop("rerun", agenda_id, "--skip-execution")
    assert rerun.returncode == 0, rerun.stderr
    template = tmp_path / "t.json"
    template.write_text(json.dumps(TEMPLATE))
    added = run_pop("template", "add", str(template))
    assert added.returncode == 0, added.stderr

    shown = run_pop("status", agenda_id)
    as_json = run_pop("status", agenda_id, "--json")

    user = f"local:{getpass.getuser()}"
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    submitted_lines = [line for line in lines if line.startswith(f"submitted by {user} at ")]
    cancelled_lines = [line for line in lines if line.startswith(f"cancelled by {user} at ")]
    rerun_lines = [line for line in lines if line.startswith(f"rerun by {user} at ")]
    assert len(submitted_lines) == len(cancelled_lines) == len(rerun_lines) == 1
    order = [lines.index(found[0]) for found in (submitted_lines, cancelled_lines, rerun_lines)]
    assert order == sorted(order)
    changes = json.loads(as_json.stdout)["changes"]
    assert [(item["actor"], item["action"]) for item in changes] == [
        (user, "submit"),
        (user, "cancel"),
        (user, "rerun"),
    ]
    connection = sqlite3.connect(f"file:{pop_home / 'pop.db'}?mode=ro", uri=True)
    try:
        templates = connection.execute(
            "SELECT actor, action FROM changes WHERE kind = 'template'"
        ).fetchall()
    finally:
        connection.close()
    assert templates == [(user, "template.add")]
