"""``pop serve`` keeps work safe with no executor of its own (issue 13, item 1): the reclaimer
runs on its interval, so an agenda whose remote executor died (it pulled it with getAgenda and
never reported again) is queued again by the server alone; ``--reap-data`` is checked like
every duration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, run_pop_at, wait_for
from tests.server.test_pool import pull


def test_the_server_reclaims_a_dead_executors_agenda_by_itself(start_server: Any) -> None:
    quick = {"POP_RECLAIM_EVERY": "1s", "POP_RECLAIM_GRACE": "0s", "POP_LEASE_SECONDS": "1"}
    server = start_server("--no-auth", env=quick)
    submitted = run_pop_at(server.home, "submit", str(EXAMPLES / "hello.json"), "--json")
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]

    (claimed,) = pull(server, "default", 1, executor="dies-at-once")["agendas"]
    assert claimed["id"] == agenda_id
    started = time.monotonic()

    def requeued() -> bool:
        shown = run_pop_at(server.home, "status", agenda_id, "--json", env=quick)
        return json.loads(shown.stdout)["processingState"] == "WAITING"

    wait_for(requeued, timeout=60, what="the server's reclaimer to queue the agenda again")
    assert time.monotonic() - started < 30  # its own interval (1 s), not a client's request
    assert any("reclaim" in line and agenda_id in line for line in server.lines), server.stderr()
    (again,) = pull(server, "default", 1, executor="second")["agendas"]
    assert again["id"] == agenda_id


def test_a_bad_reap_data_age_is_exit_2(run_pop: Any, pop_home: Path) -> None:
    done = run_pop("serve", "--port", "0", "--reap-data", "soon")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "--reap-data" in done.stderr
