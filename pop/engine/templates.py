"""The template phase: fill an AgendaTemplate's ``@<...>`` tokens from a payload.

Layer: engine. Called by the api for ``pop template add`` (:func:`parse_template`) and
``pop template run`` (:func:`expand_template`). DESIGN.md §4 and POP-REFERENCE.md §3.6 are the
contract:

- the parameters are ``pop.payload`` and ``pop.transformRequest`` (both the payload) plus every
  ``staticParameters`` entry; a name defined twice is an error;
- the whole ``agenda`` node is substituted (title, customerId, linkId, params, payloads, ...);
- unresolved tokens stay as written, so ``@<op.out...>`` tokens survive to the executor phase
  (two-phase substitution). With ``strict=True`` the tokens that can never resolve are an error:
  a template parameter whose pointer finds nothing (no default), and any token left outside the
  operation payloads (the executor fills payloads only);
- the agenda's ``title`` defaults to the template's title.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pop import refs
from pop.engine.dag import TEMPLATE_NAMES
from pop.errors import InputError
from pop.models import Agenda, AgendaTemplate
from pop.models.validation import json_kind
from pop.models.validation import problems as validation_problems

PAYLOAD_PARAMETERS = tuple(sorted(TEMPLATE_NAMES))
"""``pop.payload`` and ``pop.transformRequest``: the names whose value is the payload."""


def _first_error(exc: ValidationError, root: str = "the template") -> str:
    return "; ".join(validation_problems(exc, root=root))


def _check_parameter_names(template: AgendaTemplate, *, source: str) -> None:
    for name in PAYLOAD_PARAMETERS:
        if name in template.static_parameters:
            raise InputError(
                f"{source}: template parameter '{name}' is defined twice: as a static parameter "
                "and as the payload",
                hint="rename the static parameter; pop.payload and pop.transformRequest are "
                "always the payload of `pop template run`",
            )


def parse_template(document: Any, *, source: str = "template") -> AgendaTemplate:
    """An AgendaTemplate from a JSON document, checked for what ``pop template run`` needs: an
    ``agenda`` object with operations and no static parameter named like a payload parameter."""
    if not isinstance(document, dict):
        raise InputError(f"{source}: a template must be a JSON object, not {json_kind(document)}")
    try:
        template = AgendaTemplate.model_validate(document)
    except ValidationError as exc:
        raise InputError(f"{source}: {_first_error(exc)}") from None
    if template.agenda is None:
        raise InputError(
            f"{source}: a template needs an 'agenda' object with operations",
            hint="see examples/templates/hello-template.json",
        )
    if not template.agenda.operations:
        raise InputError(f"{source}: the template's agenda has no operations")
    _check_parameter_names(template, source=source)
    return template


def template_parameters(template: AgendaTemplate, payload: Any) -> dict[str, Any]:
    """The template-phase names: every static parameter, ``pop.payload`` and
    ``pop.transformRequest``; InputError when a name is defined twice."""
    _check_parameter_names(template, source=_label(template))
    parameters = dict(template.static_parameters)
    for name in PAYLOAD_PARAMETERS:
        parameters[name] = payload
    return parameters


def _label(template: AgendaTemplate) -> str:
    return f"template '{template.title or template.id or 'untitled'}'"


def _operation_name(operation: Any, index: int) -> str:
    name = operation.get("name") if isinstance(operation, Mapping) else None
    return name if isinstance(name, str) and name else f"#{index + 1}"


def _regions(document: Mapping[str, Any]) -> list[tuple[str, Any, bool]]:
    """(where, part of the agenda document, is an op payload) for every part of it."""
    regions: list[tuple[str, Any, bool]] = []
    for key, value in document.items():
        if key != "operations" or not isinstance(value, list):
            regions.append((key, value, False))
            continue
        for index, operation in enumerate(value):
            if not isinstance(operation, Mapping):
                regions.append((f"operation #{index + 1}", operation, False))
                continue
            name = _operation_name(operation, index)
            for op_key, op_value in operation.items():
                regions.append((f"operation '{name}' {op_key}", op_value, op_key == "payload"))
    return regions


def unresolvable_references(template: AgendaTemplate, payload: Any) -> list[str]:
    """Every token of the template that no phase can fill with this payload, with where it is.

    In op payloads: template parameters whose pointer finds nothing (and no default), and objects
    or arrays inside longer strings. Elsewhere in the agenda: every token left (only payloads are
    substituted by the executor). Executor-phase tokens in payloads are judged later, by agenda
    validation at submit.
    """
    if template.agenda is None:
        return []
    parameters = template_parameters(template, payload)
    problems: list[str] = []
    for where, part, is_payload in _regions(template.agenda.to_wire()):
        resolution = refs.substitute(part, parameters)
        for token in resolution.invalid:
            if token.endswith(" cannot be used in composite string"):
                problems.append(f"{where}: {token} (an object or array inside a longer string)")
            else:
                problems.append(f"{where}: {token} finds no value and has no default")
        if not is_payload:
            problems.extend(
                f"{where}: {token} names no template parameter (the executor fills only "
                "operation payloads)"
                for token in resolution.missing
            )
    return problems


def expand_template(template: AgendaTemplate, payload: Any, *, strict: bool = False) -> Agenda:
    """The agenda of ``template`` with every template-phase token filled from ``payload``.

    Tokens that do not resolve stay as written (POP's behaviour); with ``strict`` those that can
    never resolve are an InputError listing each (see :func:`unresolvable_references`).
    """
    if template.agenda is None:
        raise InputError(f"{_label(template)} has no agenda")
    parameters = template_parameters(template, payload)
    if strict:
        problems = unresolvable_references(template, payload)
        if problems:
            # its tokens look up fields: a payload that is no object is the likely mistake
            kind = (
                "" if isinstance(payload, dict) else f" ({json_kind(payload)}, not a JSON object)"
            )
            raise InputError(
                f"{_label(template)} cannot be filled from this payload{kind}: "
                + "; ".join(problems),
                hint="add the missing payload fields, or give the tokens a default (?value)",
            )
    document = refs.substitute(template.agenda.to_wire(), parameters).value
    try:
        agenda = Agenda.model_validate(document)
    except ValidationError as exc:
        raise InputError(
            f"{_label(template)}: the filled agenda is not valid: {_first_error(exc, 'it')}"
        ) from None
    if not agenda.title and template.title:
        agenda.set(title=template.title)
    return agenda
