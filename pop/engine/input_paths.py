"""Relative input paths, resolved where the submitting command ran.

Layer: engine. The api calls :func:`resolve_input_paths` on every agenda it validates for
``submit``, ``run-local``, ``template run`` and ``batch``: the agenda records the directory the
command ran in as ``params.submitDir`` (handlers see it as ``POP_SUBMIT_DIR``), and each op
whose handler's payload model declares path fields (:data:`pop.handlers.paths.InputPath`: the
media handlers' ``input``, ``inputs``, ``renditions``) gets those fields rewritten to absolute
paths, so the stored payload shows what a relative path resolved to and an executor started in
any directory finds the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pop.engine.payloads import payload_model_for
from pop.handlers.paths import path_fields, resolve_payload_paths
from pop.models.agenda import SUBMIT_DIR_PARAM, Agenda

if TYPE_CHECKING:
    from pop.registry import Registry


def resolve_input_paths(agenda: Agenda, registry: Registry, base: str | None = None) -> Agenda:
    """The agenda with ``params.submitDir`` recorded (kept when already set) and its ops' path
    fields resolved against it. Ops of unknown types or without a payload model are untouched."""
    stored = agenda.params.get(SUBMIT_DIR_PARAM)
    base = str(stored) if isinstance(stored, str) and stored else (base or os.getcwd())
    fields_by_type: dict[str, dict[str, str]] = {}
    operations = []
    changed = False
    for operation in agenda.operations:
        op_type = operation.type or ""
        if op_type not in fields_by_type:
            fields_by_type[op_type] = _fields_of(registry, op_type)
        fields = fields_by_type[op_type]
        payload = resolve_payload_paths(operation.payload, fields, base)
        if payload != operation.payload:
            operation = operation.model_copy(update={"payload": payload})
            changed = True
        operations.append(operation)
    update: dict[str, object] = {}
    if changed:
        update["operations"] = operations
    if stored != base:
        update["params"] = {**agenda.params, SUBMIT_DIR_PARAM: base}
    return agenda.model_copy(update=update) if update else agenda


def _fields_of(registry: Registry, op_type: str) -> dict[str, str]:
    model = payload_model_for(registry, op_type)
    return path_fields(model) if model is not None else {}
