"""Generated operations: a generator op's output adds operations to the running agenda.

Layer: engine. Called by the executor after a generator op (``params["agenda.operation.generator"]
= {operationsJsonPointer, paramsJsonPointer, logOnly}``) succeeded; the new ops are written
through the run's progress sink (:mod:`pop.engine.sink`).
"""

from __future__ import annotations

from typing import Any

import jsonpointer
from pydantic import ValidationError

from pop.engine.dag import dependencies_of, find_cycles
from pop.engine.sink import ProgressSink
from pop.errors import PopError
from pop.models import GENERATED_PARENT_PARAM, Agenda, Operation
from pop.models.validation import problems


def expand_generated(agenda: Agenda, generator: Operation, output: Any) -> list[Operation]:
    """Append the ops found in ``output`` to ``agenda`` (each marked with its parent) and return
    them; ``logOnly`` adds nothing. Raises PopError when the pointer is missing or the new ops
    are malformed (bad names, duplicates, cycles)."""
    settings = generator.generator or {}
    if settings.get("logOnly") is True:
        return []
    pointer = str(settings.get("operationsJsonPointer") or "")
    if pointer and not pointer.startswith("/"):
        pointer = "/" + pointer
    try:
        found = jsonpointer.resolve_pointer(output, pointer)
    except (jsonpointer.JsonPointerException, TypeError) as exc:
        raise PopError(
            f"operation '{generator.name}': generator pointer {pointer or '/'} "
            f"not found in its output"
        ) from exc
    if not isinstance(found, list):
        raise PopError(
            f"operation '{generator.name}': generator pointer {pointer or '/'} "
            "does not hold a list of operations"
        )
    taken = {op.name.casefold() for op in agenda.operations if op.name}
    added: list[Operation] = []
    for item in found:
        try:
            operation = Operation.model_validate(item)
        except ValidationError as exc:
            details = "; ".join(problems(exc, root="it"))
            raise PopError(
                f"operation '{generator.name}' generated an invalid operation: {details}"
            ) from exc
        if not operation.name or not operation.type:
            raise PopError(
                f"operation '{generator.name}' generated an operation without name or type"
            )
        if operation.name.casefold() in taken:
            raise PopError(
                f"operation '{generator.name}' generated '{operation.name}', a name already used"
            )
        taken.add(operation.name.casefold())
        operation.params = {**operation.params, GENERATED_PARENT_PARAM: generator.name}
        added.append(operation)
    graph = {op.name or "": dependencies_of(op) for op in [*agenda.operations, *added]}
    if find_cycles(graph):
        raise PopError(f"operation '{generator.name}' generated operations that form a cycle")
    agenda.operations.extend(added)
    return added


def add_generated(
    sink: ProgressSink,
    agenda: Agenda,
    progress_id: str,
    generator: Operation,
    output: Any,
    *,
    first_seq: int,
) -> list[Operation]:
    """Expand a generator's output into ``agenda`` and write the new ops with their progress
    records through ``sink`` in one step; returns the added ops."""
    from pop.engine.submission import new_operation_progress

    added = expand_generated(agenda, generator, output)
    if added:
        sink.add_generated(
            agenda,
            progress_id,
            [new_operation_progress(progress_id, op) for op in added],
            first_seq=first_seq,
        )
    return added
