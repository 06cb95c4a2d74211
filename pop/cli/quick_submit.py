"""The fast ``pop submit FILE``: an agenda checked and stored without pydantic, or declined.

Layer: cli. Called by :mod:`pop.cli.quick` before typer loads. It answers only what it can
answer exactly as the usual path (``Client.submit``) would, writing the same rows through the
same functions (:func:`pop.engine.submission.prepare_wire`, :func:`store_submission_wire`,
:func:`pop.engine.dag.validate_agenda`): a JSON file whose keys and values are all of the types
the Agenda model takes as they are, op types of the built-in registry whose handler declares no
payload model, no registry file of the user's, a store without customers (single-user mode).
Anything else (and every problem, so every error message) is left to the usual path, before
anything is written: it returns False and the typer app runs the command.
"""

from __future__ import annotations

import os
import sys

from pop.config import home_dir, registry_places
from pop.models.wire import AGENDA_FIELDS, OPERATION_FIELDS, SUBMIT_DIR_PARAM, loads, ordered

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pop.models.views import OperationLike

_TEXT_FIELDS = ("id", "cid", "customerId", "title", "linkId", "progressId", "jobId")
_TIME_FIELDS = ("addedTime", "updatedTime")


def _plain_operation(operation: Any) -> bool:
    """An op whose every key the Operation model takes as it is."""
    if not isinstance(operation, dict):
        return False
    for key, value in operation.items():
        if key in ("name", "type", "id"):
            ok = value is None or isinstance(value, str)
        elif key == "params":
            ok = isinstance(value, dict)
        else:
            ok = key == "payload"
        if not ok:
            return False
    return True


def plain_agenda(document: Any) -> dict[str, Any] | None:
    """The agenda document as ``Agenda.model_validate(document).to_wire()`` gives it back, when
    the model would take every key and value as it is (known keys only, exact JSON types); None
    for anything else (unknown keys, ``agendaInsight``, a number where a text goes...)."""
    if not isinstance(document, dict):
        return None
    for key, value in document.items():
        if key in _TEXT_FIELDS:
            ok = value is None or isinstance(value, str)
        elif key in _TIME_FIELDS:
            ok = value is None or type(value) is int
        elif key == "params":
            ok = isinstance(value, dict)
        elif key == "operations":
            ok = isinstance(value, list) and all(_plain_operation(op) for op in value)
        else:
            ok = False
        if not ok:
            return None
    agenda = dict(document)
    if "operations" in agenda:
        agenda["operations"] = [ordered(op, OPERATION_FIELDS) for op in agenda["operations"]]
    return ordered(agenda, AGENDA_FIELDS)


def _user_registry(registry: str | None) -> bool:
    """Whether a registry file of the user's may be in effect (``pop.registry.Registry.load``
    looks at --registry, POP_REGISTRY, ./registry.yaml, $POP_HOME/registry.yaml)."""
    places = registry_places(os.getcwd(), home_dir())
    return bool(
        registry is not None
        or os.environ.get("POP_REGISTRY")
        or any(os.path.lexists(place) for place in places)
    )


def _read(source: str) -> Any:
    """The file's JSON; ValueError for anything the usual path reports (or reads as YAML)."""
    if source == "-" or not source.strip() or source.endswith((".yaml", ".yml")):
        raise ValueError(source)
    try:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(source) from exc
    return loads(text)  # ValueError for what the usual path refuses


def submit(
    source: str,
    *,
    customer: str | None,
    link_id: str | None,
    priority: int | None,
    registry: str | None,
    json_output: bool,
) -> bool:
    """Store and queue the agenda of ``source`` as ``pop submit`` does and print what it prints;
    False (nothing written, nothing printed) when the usual path must answer."""
    from pop.engine.dag import validate_agenda
    from pop.errors import AgendaValidationError
    from pop.models.views import AgendaView
    from pop.registry.builtin import TYPES, WITH_PAYLOAD_MODEL

    if _user_registry(registry):
        return False
    try:
        agenda = plain_agenda(_read(source))
    except ValueError:
        return False
    if agenda is None:
        return False
    params = agenda.get("params") or {}
    stored = params.get(SUBMIT_DIR_PARAM)
    base = stored if isinstance(stored, str) and stored else os.getcwd()
    if stored != base:
        agenda["params"] = {**params, SUBMIT_DIR_PARAM: base}
    check_payload = None
    if any(op.get("type") in WITH_PAYLOAD_MODEL for op in agenda.get("operations") or []):
        agenda, check_payload = _with_payload_models(agenda, base)
    try:
        validate_agenda(AgendaView(agenda), known_types=TYPES, check_payload=check_payload)
    except AgendaValidationError:
        return False
    return _store(
        agenda, customer=customer, link_id=link_id, priority=priority, json_output=json_output
    )


def _with_payload_models(
    agenda: dict[str, Any], base: str
) -> tuple[dict[str, Any], Callable[[OperationLike], list[str]]]:
    """The agenda with its ops' path fields resolved against ``base`` and the check of each
    op's payload by its handler's model, as the usual path has them (pydantic loads here)."""
    from pop.engine.input_paths import absolute_input_paths
    from pop.engine.payloads import payload_checker
    from pop.registry.builtin import BuiltinHandlers

    handlers = BuiltinHandlers()
    resolved = absolute_input_paths(agenda, handlers, base)
    resolved["operations"] = [ordered(op, OPERATION_FIELDS) for op in resolved["operations"]]
    return ordered(resolved, AGENDA_FIELDS), payload_checker(handlers)


def _store(
    agenda: dict[str, Any],
    *,
    customer: str | None,
    link_id: str | None,
    priority: int | None,
    json_output: bool,
) -> bool:
    from pop.cli.reads import open_store
    from pop.engine.submission import check_priority, prepare_wire, store_submission_wire
    from pop.store.changes import AGENDA, Change, ChangeStore

    check_priority((agenda.get("params") or {}).get("priority") if priority is None else priority)
    db = open_store()
    if db.any_row("customers"):  # insight mapping (pop.scheduling.mapping) decides
        return False
    document, progress, operations = prepare_wire(
        agenda, customer_id=customer, link_id=link_id, priority=priority
    )
    with db.transaction():
        queued = store_submission_wire(db, document, progress, operations, queue=True)
        Change("submit").record(
            ChangeStore(db), AGENDA, document["id"], default_cid=document["cid"]
        )
    if json_output:
        from pop.cli.render import print_json, submission_json

        print_json(submission_json(document, queued=queued))
    else:
        sys.stdout.write(f"{document['id']}\n")
    return True
