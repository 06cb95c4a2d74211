"""Input paths: resolved where the submitting command ran, or checked for a server's caller.

Layer: engine. The api calls :func:`resolve_input_paths` on every agenda it validates for
``submit``, ``run-local``, ``template run`` and ``batch``: the agenda records the directory the
command ran in as ``params.submitDir`` (handlers see it as ``POP_SUBMIT_DIR``), and each op
whose handler's payload model declares path fields (:data:`pop.handlers.paths.InputPath`: the
media handlers' ``input``, ``inputs``, ``renditions``) gets those fields rewritten to absolute
paths, so the stored payload shows what a relative path resolved to and an executor started in
any directory finds the file.

Over HTTP the server cannot know the client's directory, so it resolves nothing: it checks the
agenda with a :class:`PathPolicy` first (:func:`path_problems`: relative paths, paths outside
the input roots of ``pop serve --input-root``, ``params.workDir``), and a client makes its
relative paths absolute before sending with :func:`absolute_input_paths`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pop.engine.payloads import payload_model_for
from pop.errors import InputError
from pop.handlers.paths import path_fields, resolve_payload_paths
from pop.models.wire import SUBMIT_DIR_PARAM

if TYPE_CHECKING:
    from pop.models import Agenda
    from pop.registry import Registry
    from pop.registry.builtin import HandlerRefs

WORK_DIR_PARAM = "workDir"


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


def absolute_input_paths(
    document: Mapping[str, Any], registry: HandlerRefs, base: str
) -> dict[str, Any]:
    """A copy of an agenda document (POP JSON, not yet validated) whose ops' relative path
    fields are made absolute against ``base`` (a client's directory), as a remote client sends
    it to a server, which refuses relative paths. Anything not shaped like an agenda is copied
    as it is: the server reports it."""
    result = dict(document)
    operations = document.get("operations")
    if not isinstance(operations, list):
        return result
    fields_by_type: dict[str, dict[str, str]] = {}
    resolved: list[Any] = []
    for operation in operations:
        if isinstance(operation, dict) and isinstance(operation.get("type"), str):
            op_type = operation["type"]
            if op_type not in fields_by_type:
                fields_by_type[op_type] = _fields_of(registry, op_type)
            payload = resolve_payload_paths(operation.get("payload"), fields_by_type[op_type], base)
            if payload is not operation.get("payload"):
                operation = {**operation, "payload": payload}
        resolved.append(operation)
    result["operations"] = resolved
    return result


@dataclass(frozen=True)
class PathPolicy:
    """What the paths of an agenda a server caller sends may be: never relative; inside one of
    ``roots`` unless ``roots`` is None (global tokens, ``--no-auth``); ``params.workDir`` only
    with ``work_dir``."""

    roots: tuple[str, ...] | None = None
    work_dir: bool = True

    @classmethod
    def limited(cls, roots: Sequence[str]) -> PathPolicy:
        """A customer token's policy: inputs inside ``roots`` only, no ``params.workDir``."""
        return cls(roots=tuple(os.path.realpath(root) for root in roots), work_dir=False)

    def allows(self, path: str) -> bool:
        if self.roots is None:
            return True
        real = os.path.realpath(path)
        return any(
            real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots
        )


def path_problems(agenda: Agenda, registry: Registry, policy: PathPolicy) -> list[str]:
    """Every way the agenda's path fields and ``params.workDir`` break ``policy``, one message
    each (empty: it may be stored as it is). URLs and ``@<...>`` references are not paths."""
    problems = []
    fields_by_type: dict[str, dict[str, str]] = {}
    for operation in agenda.operations:
        op_type = operation.type or ""
        if op_type not in fields_by_type:
            fields_by_type[op_type] = _fields_of(registry, op_type)
        for field, value in _path_values(operation.payload, fields_by_type[op_type]):
            path = _local_path(value)
            if path is None:
                continue
            where = f"operation {operation.name}: payload.{field} {value!r}"
            if not os.path.isabs(path):
                problems.append(
                    f"{where} is a relative path: the server cannot know the client's "
                    "directory, give an absolute path"
                )
            elif not policy.allows(path):
                problems.append(f"{where} is outside the input roots of this server")
    if not policy.work_dir and agenda.params.get(WORK_DIR_PARAM) is not None:
        problems.append(f"params.{WORK_DIR_PARAM} may only be given with a global token")
    return problems


def check_paths(agenda: Agenda, registry: Registry, policy: PathPolicy) -> None:
    """InputError listing every problem :func:`path_problems` finds; nothing when none."""
    found = path_problems(agenda, registry, policy)
    if found:
        noun = "problem" if len(found) == 1 else "problems"
        raise InputError(
            f"the agenda's paths ({len(found)} {noun}): " + "; ".join(found),
            hint="paths sent to a server are absolute and inside its input roots "
            "(`pop serve --input-root`)",
        )


def _path_values(payload: Any, fields: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(field, value) of each path a payload names, ``inputs[1]`` for an item of a list."""
    if not isinstance(payload, dict):
        return
    for name, kind in fields.items():
        value = payload.get(name)
        if kind == "one" and isinstance(value, str):
            yield name, value
        elif kind == "many" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{name}[{index}]", item


def _local_path(value: str) -> str | None:
    """The local path a path field names; None for an empty value, a reference or a URL that
    is not ``file:``."""
    if not value or "@<" in value:
        return None
    if value.startswith("file:"):
        return unquote(urlparse(value).path) or None
    if "://" in value:
        return None
    return value


def _fields_of(registry: HandlerRefs, op_type: str) -> dict[str, str]:
    model = payload_model_for(registry, op_type)
    return path_fields(model) if model is not None else {}
