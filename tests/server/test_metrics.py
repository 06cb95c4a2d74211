"""``GET /metrics`` on a real ``pop serve --no-auth``, parsed with prometheus_client's own
parser: the store's numbers move after a real ``pop executor`` runs agendas, ``getAgenda``
hand-outs are counted, request durations are labelled by route template; and CORS headers
only with ``--cors-origin``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_pop_at
from tests.server.conftest import RunningServer
from tests.server.test_extension_routes import sample_op
from tests.server.test_pool import pull


def scrape(server: RunningServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    with server.http() as http:
        answer = http.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def submit(server: RunningServer, count: int = 1, **params: Any) -> list[str]:
    ids = []
    with server.http() as http:
        for _ in range(count):
            answer = http.post(
                "/pop/agenda",
                json={"params": params, "operations": [sample_op("step", "counted")]},
            )
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["all"][0]["id"])
    return ids


def test_store_numbers_move_after_agendas_run(server: RunningServer) -> None:
    before = scrape(server)
    ids = submit(server, 2)
    queued = scrape(server)
    assert value(queued, "pop_queue_depth", insight="default") >= 2
    assert (
        value(queued, "pop_agendas", state="WAITING")
        == value(before, "pop_agendas", state="WAITING") + 2
    )
    executed = run_pop_at(server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    after = scrape(server)
    assert value(after, "pop_agendas", state="COMPLETE") >= value(
        before, "pop_agendas", state="COMPLETE"
    ) + len(ids)
    assert value(after, "pop_queue_depth", insight="default") == 0
    ran = value(after, "pop_operations_total", type="sample", outcome="succeeded")
    assert ran == value(before, "pop_operations_total", type="sample", outcome="succeeded") + 2
    count = value(after, "pop_operation_duration_seconds_count", type="sample")
    assert count >= 2
    assert value(after, "pop_operation_duration_seconds_bucket", type="sample", le="+Inf") == count


def test_claims_and_request_durations_are_counted(server: RunningServer) -> None:
    before = scrape(server)
    ids = submit(server, 3)
    with server.http() as http:
        for agenda_id in ids:
            assert http.get(f"/pop/agenda/{agenda_id}").status_code == 200
        assert http.get("/pop/no/such/route").status_code == 404
    claimed = pull(server, "default", 2)
    assert claimed["count"] == 2
    assert pull(server, "default", 5)["count"] == 1  # the one left
    assert pull(server, "default", 5)["count"] == 0  # nothing left: nothing handed out
    after = scrape(server)
    assert value(after, "pop_claims_total") == value(before, "pop_claims_total") + 3
    route = {"method": "GET", "route": "/pop/agenda/{agenda_id}", "status": "200"}
    got = value(after, "pop_http_request_duration_seconds_count", **route)
    assert got == value(before, "pop_http_request_duration_seconds_count", **route) + 3
    labels = {dict(key[1]).get("route") for key in after if key[0].startswith("pop_http")}
    assert "unmatched" in labels
    assert not any(agenda_id in str(label) for label in labels for agenda_id in ids)


def test_cors_headers_only_for_the_origins_given(
    start_server: Callable[..., RunningServer],
) -> None:
    origin = "https://dash.example"
    with_cors = start_server("--no-auth", "--cors-origin", origin, "--cors-origin", "http://b.test")
    with with_cors.http() as http:
        simple = http.get("/pop/agenda", headers={"Origin": origin})
        preflight = http.options(
            "/pop/agenda",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type, X-pop-cid",
            },
        )
        stranger = http.get("/pop/agenda", headers={"Origin": "https://evil.example"})
    assert simple.headers["access-control-allow-origin"] == origin
    assert "x-pop-cid" in simple.headers["access-control-expose-headers"].lower()
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers
    plain = start_server("--no-auth", home=with_cors.home.parent / "plain")
    with plain.http() as http:
        answer = http.get("/pop/agenda", headers={"Origin": origin})
    assert answer.status_code == 200
    assert not any(name.startswith("access-control-") for name in answer.headers)
