"""Every problem of a parsed registry document, each with its path in the document.

Layer: models/refs/registry. :mod:`pop.registry.reading` validates every document before layering
it and walks documents with :func:`base_fields` and :func:`entries` (the flat form and POP's JSON
form); ``pop registry validate`` prints what :func:`validate` found (exit 2 when anything).
Field rules check one value; entry rules (nothing to run, tainted nodes) check an entry's fields
over its document's ``basePodConfig``.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pop.errors import RegistryError
from pop.registry.entry import (
    POD_CONFIG_FIELDS,
    POP_OWN_FIELDS,
    PROTOCOL_POP,
    RETRY_KEYS,
    cpu_count,
    memory_quantity,
    normalized,
)

KNOWN_FIELDS = frozenset([*POD_CONFIG_FIELDS, *POP_OWN_FIELDS, "imageName"])
_TOP_LEVEL_KEYS = ("basePodConfig", "workVolume", "handlers")
_POP_JSON_ENTRY_KEYS = ("configMapName", "podConfig")
# Names other tools use that difflib does not find close enough.
_MISSPELLINGS = {
    "timeout": "timeoutSeconds",
    "retry": "retries",
    "args": "arguments",
    "env": "envVars",
}
_TAINT_FIELDS = ("useTaintedNodes", "taintedNodeSelector", "taintedNodeToleration")
_NFS_KEYS = ("nfsServer", "nfsServerPath", "nfsMountPaths", "nfsReadOnly")
_CONFIG_MAP_KEYS = ("configMapName", "volumeName", "volumeMountPath", "mapKeyPaths")
_HANDLER_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
# Kubernetes label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue)
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Problems:
    """Problems of one source, kept as (path, message) so both error formats can be made."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.found.append((path, message))

    def lines(self) -> list[str]:
        return [f"{self.source}: {p}: {m}" if p else f"{self.source}: {m}" for p, m in self.found]

    def error(self) -> RegistryError:
        return RegistryError([f"{p}: {m}" if p else m for p, m in self.found], source=self.source)


def validate(document: Any, problems: Problems) -> Problems:
    """Add every problem of a parsed document (nothing when reading it already failed)."""
    if problems.found or document is None:  # None: an empty file, no types
        return problems
    if not isinstance(document, Mapping):
        problems.add("(top level)", f"a registry must be a mapping, not {type(document).__name__}")
        return problems
    base = base_fields(document, problems)
    _check_tainted_nodes(base, base, "basePodConfig", problems)
    for name, path, own in entries(document, problems):
        effective = {**base, **own}
        handler, command = effective.get("handler"), effective.get("command")
        if handler is None and command is None and effective.get("image") is None:
            problems.add(path, "nothing to run: set handler, command or image")
        if handler is not None and command is not None:
            problems.add(path, "sets both handler and command; keep one")
        if effective.get("resident") is True and handler is None:
            problems.add(f"{path}.resident", "resident: true needs a handler (module:function)")
        raw = document.get(name) if "handlers" not in document else None
        fields_path = (
            f"{path}.podConfig" if isinstance(raw, Mapping) and "podConfig" in raw else path
        )
        _check_tainted_nodes(own, effective, fields_path, problems)
        external = own.get("external")
        for binary, settings in (external if isinstance(external, Mapping) else {}).items():
            if isinstance(settings, Mapping):
                layer = normalized(settings)
                where = f"{fields_path}.external.{binary}"
                _check_tainted_nodes(layer, {**effective, **layer}, where, problems)
    return problems


def base_fields(document: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """The normalised ``basePodConfig`` (and ``workVolume``) of a document."""
    base: dict[str, Any] = {}
    raw = document.get("basePodConfig")
    if isinstance(raw, Mapping):
        _check_fields(raw, "basePodConfig", problems)
        base = normalized(raw)
    elif raw is not None:
        problems.add("basePodConfig", "must be a mapping of PodConfig fields")
    if "workVolume" in document:
        if message := _rule_problem("workVolume", document["workVolume"]):
            problems.add("workVolume", message)
        base["workVolume"] = copy.deepcopy(document["workVolume"])
    return base


def entries(document: Mapping[str, Any], problems: Problems) -> list[tuple[str, str, Any]]:
    """(type, path, the entry's own normalised fields) of every usable entry of a document."""
    others = [(key, value) for key, value in document.items() if key not in _TOP_LEVEL_KEYS]
    pop_json = "handlers" not in document and any(
        isinstance(value, Mapping) and "podConfig" in value for _, value in others
    )
    handlers = document.get("handlers")
    handlers = {} if handlers is None else handlers
    if not pop_json:
        for key, _value in others:
            problems.add(str(key), f"unknown top-level key {key!r}{_hint(key, _TOP_LEVEL_KEYS)}")
        if not isinstance(handlers, Mapping):
            problems.add("handlers", "must be a mapping of operation type to entry")
            handlers = {}
    found: list[tuple[str, str, Any]] = []
    for name, value in others if pop_json else handlers.items():
        path = str(name) if pop_json else f"handlers.{name}"
        if not isinstance(name, str):
            problems.add(path, f"type name {name!r} is not a string; quote it in YAML")
        elif not isinstance(value, Mapping):
            problems.add(
                path, "an entry must be a mapping, e.g. {handler: package.module:function}"
            )
        elif not pop_json:
            _check_fields(value, path, problems)
            found.append((name, path, normalized(value)))
        elif not isinstance(value.get("podConfig"), Mapping):
            problems.add(path, "a POP registry entry needs a podConfig mapping")
        else:  # POP's form: {"configMapName": ..., "podConfig": {...}}
            _report_typos(value, _POP_JSON_ENTRY_KEYS, path, problems)
            _check_fields(value["podConfig"], f"{path}.podConfig", problems)
            own = normalized(value["podConfig"])
            if "configMapName" in value:
                _check_fields({"configMapName": value["configMapName"]}, path, problems)
                own["configMapName"] = value["configMapName"]
            found.append((name, path, own))
    return found


def _check_tainted_nodes(
    layer: Mapping[str, Any], effective: Mapping[str, Any], path: str, problems: Problems
) -> None:
    """A layer that sets a tainted-node field must leave the pod placeable: a selector needs a
    toleration (else the preferred nodes' taint keeps the pod off them), and ``useTaintedNodes``
    needs both (POP refuses to build such a pod)."""
    if not any(name in layer for name in _TAINT_FIELDS):
        return
    selector, toleration = (
        effective.get("taintedNodeSelector"),
        effective.get("taintedNodeToleration"),
    )
    if effective.get("useTaintedNodes") is True and (selector is None or toleration is None):
        missing = " and ".join(
            name
            for name, value in zip(_TAINT_FIELDS[1:], (selector, toleration), strict=True)
            if value is None
        )
        problems.add(f"{path}.useTaintedNodes", f"useTaintedNodes: true needs {missing}")
    elif selector is not None and toleration is None:
        problems.add(
            f"{path}.taintedNodeSelector",
            f"taintedNodeSelector {selector!r} needs a taintedNodeToleration",
        )


def _check_fields(fields: Mapping[Any, Any], path: str, problems: Problems) -> None:
    if "image" in fields and "imageName" in fields:
        problems.add(path, "sets both image and imageName (the same field); keep one")
    _report_typos(fields, KNOWN_FIELDS, path, problems)
    for name, value in fields.items():
        where = f"{path}.{name}"
        if message := _rule_problem(name, value):
            problems.add(where, message)
        elif value is not None and name in _NESTED_CHECKS:
            _NESTED_CHECKS[name](value, where, problems)


def _check_retries(value: Mapping[Any, Any], where: str, problems: Problems) -> None:
    for key, setting in value.items():
        if key not in RETRY_KEYS:
            message = f"unknown field {key!r}{_hint(key, RETRY_KEYS)}"
        else:
            message = _RETRY_RULES[key](setting) or ""
        if message:
            problems.add(f"{where}.{key}", message)


def _check_external(value: Mapping[Any, Any], where: str, problems: Problems) -> None:
    for binary, settings in value.items():
        if isinstance(settings, Mapping):
            _check_fields(settings, f"{where}.{binary}", problems)
        else:
            problems.add(f"{where}.{binary}", "must be a mapping of PodConfig fields")


def _check_nfs(value: list[Mapping[Any, Any]], where: str, problems: Problems) -> None:
    for index, setting in enumerate(value):
        at = f"{where}[{index}]"
        _report_typos(setting, _NFS_KEYS, at, problems)
        missing = [key for key in _NFS_KEYS[:3] if setting.get(key) in (None, "", [])]
        if missing:
            problems.add(at, f"incomplete NFS mount: set {', '.join(missing)}")
        for key in ("nfsServer", "nfsServerPath"):
            if setting.get(key) is not None and not isinstance(setting[key], str):
                problems.add(f"{at}.{key}", f"{setting[key]!r} is not a string")
        paths = setting.get("nfsMountPaths")
        if paths is not None and not (
            _is_list_of(paths, str) and all(p.startswith("/") for p in paths)
        ):
            problems.add(f"{at}.nfsMountPaths", "must be a list of absolute paths")
        if setting.get("nfsReadOnly") is not None and not isinstance(setting["nfsReadOnly"], bool):
            problems.add(f"{at}.nfsReadOnly", f"{setting['nfsReadOnly']!r} is not a boolean")


def _check_config_maps(value: list[Mapping[Any, Any]], where: str, problems: Problems) -> None:
    for index, setting in enumerate(value):
        at = f"{where}[{index}]"
        _report_typos(setting, _CONFIG_MAP_KEYS, at, problems)
        for key in _CONFIG_MAP_KEYS[:3]:
            if setting.get(key) is not None and not isinstance(setting[key], str):
                problems.add(f"{at}.{key}", f"{setting[key]!r} is not a string")
        items = setting.get("mapKeyPaths")
        if items is not None and not (
            _is_list_of(items, Mapping) and all(isinstance(i.get("key"), str) for i in items)
        ):
            problems.add(f"{at}.mapKeyPaths", "must be a list of {key, path} mappings")


def _check_labels(value: Mapping[Any, Any], where: str, problems: Problems) -> None:
    for key, label in value.items():
        if message := _label_key_problem(key):
            problems.add(f"{where}.{key}", message)
        elif not _is_scalar(label):
            problems.add(f"{where}.{key}", f"label value {label!r} is not a string")
        elif message := _label_value_problem(str(label)):
            problems.add(f"{where}.{key}", message)


def _label_key_problem(key: Any) -> str | None:
    """Kubernetes' rule for a label key: ``[prefix/]name``, a DNS-subdomain prefix of at most
    253 characters and a name of at most 63 (alphanumerics, ``-``, ``_``, ``.`` inside)."""
    if not isinstance(key, str):
        return f"label key {key!r} is not a string"
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return (
            f"label key {key!r}: the prefix before '/' must be a lowercase DNS subdomain"
            " (e.g. example.com) of at most 253 characters"
        )
    if not name or len(name) > 63 or not _LABEL_NAME.fullmatch(name):
        return (
            f"label key {key!r}: the name must be 1-63 characters, alphanumeric at both ends,"
            " with only '-', '_' and '.' besides"
        )
    return None


def _label_value_problem(label: str) -> str | None:
    if label and (len(label) > 63 or not _LABEL_NAME.fullmatch(label)):
        return (
            f"label value {label!r} must be empty or 1-63 characters, alphanumeric at both ends,"
            " with only '-', '_' and '.' besides"
        )
    return None


def _check_env_vars(value: Mapping[Any, Any], where: str, problems: Problems) -> None:
    for name, setting in value.items():
        if _is_scalar(setting):
            continue
        ref = setting.get("secretKeyRef") if isinstance(setting, Mapping) else None
        if not (
            isinstance(setting, Mapping)
            and len(setting) == 1
            and isinstance(ref, Mapping)
            and isinstance(ref.get("name"), str)
            and isinstance(ref.get("key"), str)
        ):
            problems.add(
                f"{where}.{name}",
                "must be a string or {secretKeyRef: {name: <secret>, key: <key>}}",
            )


def _check_env_from(value: list[Mapping[Any, Any]], where: str, problems: Problems) -> None:
    for index, setting in enumerate(value):
        kinds = [kind for kind in ("secretRef", "configMapRef") if kind in setting]
        source = setting.get(kinds[0]) if len(kinds) == 1 else None
        unknown = set(setting) - {"secretRef", "configMapRef", "prefix"}
        if not isinstance(source, Mapping) or not isinstance(source.get("name"), str) or unknown:
            problems.add(
                f"{where}[{index}]",
                "must be {secretRef: {name: <secret>}} or {configMapRef: {name: <map>}},"
                " with an optional prefix",
            )
        elif setting.get("prefix") is not None and not isinstance(setting["prefix"], str):
            problems.add(f"{where}[{index}].prefix", f"{setting['prefix']!r} is not a string")


def _report_typos(
    fields: Mapping[Any, Any], known: Collection[str], path: str, problems: Problems
) -> None:
    """Report unknown names close to a known one; keep the others (a newer pop may know them)."""
    for name in fields:
        if name not in known and (match := _close_match(str(name), known)):
            problems.add(f"{path}.{name}", f"unknown field '{name}' (did you mean '{match}'?)")


def _close_match(name: str, known: Collection[str]) -> str | None:
    if name in _MISSPELLINGS and _MISSPELLINGS[name] in known:
        return _MISSPELLINGS[name]
    lowered = {field.lower(): field for field in known}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.8)
    return lowered[matches[0]] if matches else None


def _hint(name: object, known: Collection[str]) -> str:
    match = _close_match(str(name), known)
    return f" (did you mean '{match}'?)" if match else f" (known: {', '.join(known)})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _is_list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _is_gpus(value: Any) -> bool:
    """As the docker runtime reads ``gpus``: a count, ``all`` or a list of device ids."""
    if isinstance(value, list):
        return all(isinstance(item, str | int) and not isinstance(item, bool) for item in value)
    if isinstance(value, str):
        return value.strip().lower() == "all" or value.strip().isdigit()
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _rule(check: Callable[[Any], bool], message: str) -> Callable[[Any], str | None]:
    return lambda value: None if check(value) else message.format(value)


def _parses(parse: Callable[[Any], object]) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None

    return problem


def _rule_problem(name: object, value: Any) -> str | None:
    """What is wrong with the value of a known field (null is always fine: it clears the field)."""
    rule = _FIELD_RULES.get(name) if isinstance(name, str) else None
    return rule(value) if rule is not None and value is not None else None


# fmt: off
_BOOL_FIELDS = ("resident", "reapCompletedPods", "pullAlways", "dockerPrivileged",
                "useTaintedNodes", "defaultEmptyDirLogging", "enableOutputScraping")
_COUNT_FIELDS = ("podScheduledTimeoutMs", "podStdoutTimeout", "podRetryCount",
                 "retryDelayMilliSecs")
_STRING_FIELDS = ("image", "imageName", "namePrefix", "serviceAccountName", "endOfLogIdentifier",
                  "configMapName", "logLineExpectation", "taintedNodeSelector",
                  "taintedNodeToleration")
_MAPPING_FIELDS = ("envVars", "labels", "aliveCheckDetails", "workVolume", "external")
_COUNT = _rule(lambda v: _is_number(v) and 0 <= v == int(v), "{!r} is not a whole number >= 0")
_SECONDS = _rule(lambda v: _is_number(v) and v > 0, "{!r} is not a positive number of seconds")
_MAPPING = _rule(lambda v: isinstance(v, Mapping), "must be a mapping")
_FIELD_RULES: dict[str, Callable[[Any], str | None]] = {
    **dict.fromkeys(_BOOL_FIELDS, _rule(lambda v: isinstance(v, bool), "{!r} is not a boolean")),
    **dict.fromkeys(_COUNT_FIELDS, _COUNT),
    **dict.fromkeys(_STRING_FIELDS, _rule(lambda v: isinstance(v, str), "{!r} is not a string")),
    **dict.fromkeys(_MAPPING_FIELDS, _MAPPING),
    **dict.fromkeys(("configMapSettings", "nfsSettings", "envFrom"),
                    _rule(lambda v: _is_list_of(v, Mapping), "must be a list of mappings")),
    "arguments": _rule(lambda v: _is_list_of(v, str), "must be a list of strings"),
    "command": _rule(lambda v: _is_list_of(v, str) and len(v) > 0,
                     "must be a non-empty argv list of strings such as ['/opt/bin/tool', '-v']"),
    "handler": _rule(lambda v: isinstance(v, str) and _HANDLER_PATTERN.fullmatch(v) is not None,
                     "{!r} is not of the form 'module.path:function'"),
    "protocol": _rule(lambda v: v == PROTOCOL_POP, "{!r} is not a known protocol (only 'pop')"),
    "cpuMinRequestCount": _parses(cpu_count), "cpuMaxRequestCount": _parses(cpu_count),
    "memoryRequestCount": _parses(memory_quantity),
    "timeoutSeconds": _SECONDS, "silenceTimeoutSeconds": _SECONDS, "retries": _MAPPING,
    "gpus": _rule(_is_gpus, "{!r} is not a GPU count, 'all' or a list of device ids"),
    "imagePullSecrets": _rule(
        lambda v: isinstance(v, list) and all(
            isinstance(i, str) or (isinstance(i, Mapping) and isinstance(i.get("name"), str))
            for i in v),
        "must be a list of secret names (or {{name: <secret>}} mappings)"),
}
_RETRY_RULES = {
    "limit": _COUNT,
    "backoffSeconds": _rule(lambda v: _is_number(v) and v >= 0, "{!r} is not a number >= 0"),
    "factor": _rule(lambda v: _is_number(v) and v >= 1, "{!r} is not a number >= 1"),
    "maxBackoffSeconds": _rule(lambda v: _is_number(v) and v >= 0, "{!r} is not a number >= 0"),
}
# checks of a field's parts, each with its own path (after the field's type rule passed)
_NESTED_CHECKS: dict[str, Callable[[Any, str, Problems], None]] = {
    "retries": _check_retries, "external": _check_external, "nfsSettings": _check_nfs,
    "configMapSettings": _check_config_maps, "labels": _check_labels, "envVars": _check_env_vars,
    "envFrom": _check_env_from,
}
# fmt: on
