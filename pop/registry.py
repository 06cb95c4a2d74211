"""The registry: which handler runs each operation type, and with which pod settings.

Layer: models/refs/registry (imports only the stdlib, yaml, ``pop.errors`` and ``pop.config``).
The engine looks up an op's :class:`HandlerEntry` before launching it, the API checks op types at
submit time, and ``pop registry validate|show`` call :func:`validate_file` and
:meth:`Registry.to_document`.

A registry document (YAML; a ``.json`` file is read as JSON) maps operation types to flat entries:
every field of POP's PodConfig at entry level (``image`` is POP's ``imageName``, which is accepted
as an alias) plus pop's own fields (``handler``, ``command``, ``resident``, ``protocol``,
``timeoutSeconds``, ``silenceTimeoutSeconds``, ``retries``, ``external``); the header of
``pop/data/registry.yaml`` describes the format. An entry is layered: core defaults (POP's
PodConfig defaults), then ``basePodConfig`` and ``workVolume``, then the entry itself; a field an
upper layer sets replaces the whole field, and null clears it. Documents layer in order (the
built-in one first): a later document's ``basePodConfig`` fields apply to every entry, and its
entries replace whole entries of the same type. POP's JSON registry form is recognised and layered
the POP way (``configMapName`` goes into the first ``configMapSettings`` element).
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pop.config import Settings
from pop.errors import RegistryError, UnknownOperationTypeError

BUILT_IN_SOURCE = "built-in"
PROTOCOL_POP = "pop"

# fmt: off
# Layer 1 of every entry: POP's PodConfig defaults (POP-REFERENCE §6.1, §6.2 step 1) and pop's own.
_CORE_DEFAULTS: dict[str, Any] = {
    "handler": None, "command": None, "image": None, "resident": False, "namePrefix": None,
    "arguments": None, "envVars": None, "serviceAccountName": "pop-service",
    "cpuMinRequestCount": "1.0", "cpuMaxRequestCount": "1.0", "memoryRequestCount": None,
    "reapCompletedPods": False, "pullAlways": False, "podScheduledTimeoutMs": 300000,
    "podStdoutTimeout": 120000, "podRetryCount": 0, "retryDelayMilliSecs": 3000,
    "dockerPrivileged": False, "useTaintedNodes": False, "taintedNodeSelector": None,
    "taintedNodeToleration": None, "defaultEmptyDirLogging": False, "enableOutputScraping": False,
    "endOfLogIdentifier": "HandlerComplete", "logLineExpectation": None, "aliveCheckDetails": None,
    "configMapSettings": [{
        "volumeName": "config-volume", "volumeMountPath": "/app/config",
        "mapKeyPaths": [{"key": "external-properties", "path": "external.properties"},
                        {"key": "env-properties", "path": "env.properties"}],
    }],
    "nfsSettings": None, "labels": None, "logback": None, "configMapName": None,
    "workVolume": None, "timeoutSeconds": None,
}
# Not in the core layer: their defaults depend on the entry (see _build_entry).
_COMPUTED_FIELDS = ("protocol", "silenceTimeoutSeconds", "retries", "external")
_KNOWN_FIELDS = frozenset([*_CORE_DEFAULTS, *_COMPUTED_FIELDS, "imageName"])
_TOP_LEVEL_KEYS = ("basePodConfig", "workVolume", "handlers")
_POP_JSON_ENTRY_KEYS = ("configMapName", "podConfig")
_RETRY_KEYS = {"limit": "limit", "backoffSeconds": "backoff_seconds", "factor": "factor",
               "maxBackoffSeconds": "max_backoff_seconds"}
# Names other tools use that difflib does not find close enough.
_MISSPELLINGS = {"timeout": "timeoutSeconds", "retry": "retries", "args": "arguments",
                 "env": "envVars"}
_BOOL_FIELDS = ("resident", "reapCompletedPods", "pullAlways", "dockerPrivileged",
                "useTaintedNodes", "defaultEmptyDirLogging", "enableOutputScraping")
_COUNT_FIELDS = ("podScheduledTimeoutMs", "podStdoutTimeout", "podRetryCount",
                 "retryDelayMilliSecs")
_STRING_FIELDS = ("image", "imageName", "namePrefix", "serviceAccountName", "endOfLogIdentifier",
                  "configMapName", "logLineExpectation", "taintedNodeSelector",
                  "taintedNodeToleration")
_MAPPING_FIELDS = ("envVars", "labels", "aliveCheckDetails", "workVolume", "external")
# fmt: on
_HANDLER_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
_MEMORY_PATTERN = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+|[mkMGTPE]|[KMGTPE]i)?")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed attempt of an op is retried, and how long to wait before each retry."""

    limit: int = 0
    backoff_seconds: float = 5.0
    factor: float = 2.0
    max_backoff_seconds: float = 300.0


@dataclass(frozen=True)
class HandlerEntry:
    """The effective registry entry of one operation type (after layering)."""

    type: str
    handler: str | None
    command: tuple[str, ...] | None
    image: str | None
    resident: bool
    protocol: str | None
    cpu_request: float
    cpu_limit: float | None
    memory_request: str | None
    timeout_seconds: float | None
    silence_timeout_seconds: float | None
    retries: RetryPolicy
    external: Mapping[str, Mapping[str, Any]]
    fields: Mapping[str, Any]

    @property
    def external_cpus(self) -> dict[str, float]:
        """CPUs each declared external binary asks for (absent: as much as the handler)."""
        return {
            name: _cpu_count(settings["cpuMinRequestCount"])
            if settings.get("cpuMinRequestCount") is not None
            else self.cpu_request
            for name, settings in self.external.items()
        }

    def external_settings(self) -> dict[str, dict[str, Any]]:
        """What a handler needs to launch each external binary: its ``cpus`` and ``image``
        (absent: the handler's own), as handlers read them from ``POP_EXTERNAL``."""
        cpus = self.external_cpus
        return {
            name: {"cpus": cpus[name], "image": settings.get("image", self.image)}
            for name, settings in self.external.items()
        }

    @property
    def is_plain_command(self) -> bool:
        """A ``command:`` entry that does not speak the handler protocol."""
        return self.command is not None and self.protocol is None


class _Problems:
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


class Registry:
    """Operation type → :class:`HandlerEntry`; build with :meth:`load` or :meth:`from_documents`."""

    def __init__(self, entries: Mapping[str, HandlerEntry], *, sources: Sequence[str]) -> None:
        self._entries = dict(entries)
        self.sources: list[str] = list(sources)

    @classmethod
    def load(
        cls, path: Path | None = None, *, settings: Settings | None = None, cwd: Path | None = None
    ) -> Registry:
        """The built-in registry, overlaid by the first registry file found.

        Files are looked for in this order: ``path``, ``settings.registry_path`` (POP_REGISTRY),
        ``<cwd>/registry.yaml``, ``<settings.home>/registry.yaml``; the first two must exist.
        Raises :class:`RegistryError` listing every problem of the file.
        """
        settings = settings if settings is not None else Settings.from_env()
        documents: list[tuple[str, Mapping[str, Any]]] = [(BUILT_IN_SOURCE, _built_in_document())]
        chosen = _registry_file(path, settings, cwd if cwd is not None else Path.cwd())
        if chosen is not None:
            document, problems = _read_file(chosen)
            if _validate(document, problems).found:
                raise problems.error()
            documents.append((str(chosen), document or {}))
        return cls.from_documents(documents)

    @classmethod
    def from_documents(cls, documents: Sequence[tuple[str, Mapping[str, Any]]]) -> Registry:
        """Layer parsed documents, given as (source name, document), in order."""
        checks = [_validate(document, _Problems(source)) for source, document in documents]
        failed = [problems for problems in checks if problems.found]
        if len(failed) == 1:
            raise failed[0].error()
        if failed:
            raise RegistryError([line for p in failed for line in p.lines()], source="registry")
        base: dict[str, Any] = {}
        own_fields: dict[str, dict[str, Any]] = {}
        for _source, document in documents:
            if document:
                base.update(_base_fields(document, _Problems("")))
                own_fields.update((t, own) for t, _, own in _entries(document, _Problems("")))
        entries = {
            name: _build_entry(name, copy.deepcopy({**_CORE_DEFAULTS, **base, **own}))
            for name, own in own_fields.items()
        }
        return cls(entries, sources=[source for source, _ in documents])

    def lookup(self, op_type: str) -> HandlerEntry:
        """A fresh deep copy of the entry of ``op_type``; unknown → UnknownOperationTypeError."""
        if op_type not in self._entries:
            close = difflib.get_close_matches(op_type, self.types(), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            hint += f"known types: {', '.join(self.types()) or 'none'}"
            hint += f" (registry: {', '.join(self.sources)})"
            raise UnknownOperationTypeError(f"unknown operation type '{op_type}'", hint=hint)
        return copy.deepcopy(self._entries[op_type])

    def types(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, op_type: object) -> bool:
        return isinstance(op_type, str) and op_type in self._entries

    def to_document(self) -> dict[str, Any]:
        """The effective registry as a document that loads back to the same entries."""
        handlers = {name: dict(self._entries[name].fields) for name in self.types()}
        return {"handlers": copy.deepcopy(handlers)}


def validate_document(document: Any, *, source: str) -> list[str]:
    """Every problem of a parsed document, each as ``<source>: <path>: <message>``."""
    return _validate(document, _Problems(source)).lines()


def validate_file(path: Path) -> list[str]:
    """Every problem of a registry file, including a missing file and syntax errors (with line)."""
    document, problems = _read_file(path)
    return _validate(document, problems).lines()


# --- reading -------------------------------------------------------------------------------------


# libyaml's parser when PyYAML was built with it: the pure-Python one costs every pop command
# about 20 ms on the built-in registry alone
if TYPE_CHECKING or not getattr(yaml, "__with_libyaml__", False):
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = yaml.CSafeLoader


class _Loader(_SafeLoader):
    """A SafeLoader that records duplicate mapping keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key_node.tag.endswith(":merge") or not isinstance(key, Hashable):
                continue
            line = key_node.start_mark.line + 1
            if key in first_lines:
                message = f"duplicate key {key!r} (first at line {first_lines[key]})"
                self.duplicates.append((f"line {line}", message))
            first_lines.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)


def _parse(text: str, problems: _Problems, *, json_syntax: bool) -> Any:
    if json_syntax:  # POP's registry.json is often tab-indented, which YAML rejects
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problems.add(f"line {exc.lineno}, column {exc.colno}", f"JSON syntax error: {exc.msg}")
            return None
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add(where, f"YAML syntax error: {exc.problem or exc.context or exc}")
        return None
    except yaml.YAMLError as exc:
        problems.add("", f"YAML syntax error: {exc}")
        return None
    finally:
        loader.dispose()
    for where, message in loader.duplicates:
        problems.add(where, message)
    return document


def _read_file(path: Path) -> tuple[Any, _Problems]:
    problems = _Problems(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        missing = isinstance(exc, FileNotFoundError)
        problems.add("", "file not found" if missing else f"cannot read the file: {exc}")
        return None, problems
    return _parse(text, problems, json_syntax=path.suffix.lower() == ".json"), problems


def _built_in_document() -> Any:
    text = (resources.files("pop") / "data" / "registry.yaml").read_text(encoding="utf-8")
    problems = _Problems(BUILT_IN_SOURCE)
    document = _parse(text, problems, json_syntax=False)
    if problems.found:
        raise problems.error()
    return document


def _registry_file(path: Path | None, settings: Settings, cwd: Path) -> Path | None:
    for explicit in (path, settings.registry_path):
        if explicit is not None:
            resolved = cwd / explicit.expanduser()  # an absolute path stays as it is
            if not resolved.exists():
                raise RegistryError(["file not found"], source=str(resolved))
            return resolved
    for candidate in (cwd / "registry.yaml", settings.home / "registry.yaml"):
        if candidate.is_file():
            return candidate
    return None


# --- validation ----------------------------------------------------------------------------------


def _validate(document: Any, problems: _Problems) -> _Problems:
    """Add every problem of a parsed document (nothing when reading it already failed)."""
    if problems.found or document is None:  # None: an empty file, no types
        return problems
    if not isinstance(document, Mapping):
        problems.add("(top level)", f"a registry must be a mapping, not {type(document).__name__}")
        return problems
    base = _base_fields(document, problems)
    for _name, path, own in _entries(document, problems):
        effective = {**base, **own}
        handler, command = effective.get("handler"), effective.get("command")
        if handler is None and command is None and effective.get("image") is None:
            problems.add(path, "nothing to run: set handler, command or image")
        if handler is not None and command is not None:
            problems.add(path, "sets both handler and command; keep one")
        if effective.get("resident") is True and handler is None:
            problems.add(f"{path}.resident", "resident: true needs a handler (module:function)")
    return problems


def _base_fields(document: Mapping[str, Any], problems: _Problems) -> dict[str, Any]:
    base: dict[str, Any] = {}
    raw = document.get("basePodConfig")
    if isinstance(raw, Mapping):
        _check_fields(raw, "basePodConfig", problems)
        base = _normalized(raw)
    elif raw is not None:
        problems.add("basePodConfig", "must be a mapping of PodConfig fields")
    if "workVolume" in document:
        if message := _rule_problem("workVolume", document["workVolume"]):
            problems.add("workVolume", message)
        base["workVolume"] = copy.deepcopy(document["workVolume"])
    return base


def _entries(document: Mapping[str, Any], problems: _Problems) -> list[tuple[str, str, Any]]:
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
            found.append((name, path, _normalized(value)))
        elif not isinstance(value.get("podConfig"), Mapping):
            problems.add(path, "a POP registry entry needs a podConfig mapping")
        else:  # POP's form: {"configMapName": ..., "podConfig": {...}}
            _report_typos(value, _POP_JSON_ENTRY_KEYS, path, problems)
            _check_fields(value["podConfig"], f"{path}.podConfig", problems)
            own = _normalized(value["podConfig"])
            if "configMapName" in value:
                _check_fields({"configMapName": value["configMapName"]}, path, problems)
                own["configMapName"] = value["configMapName"]
            found.append((name, path, own))
    return found


def _check_fields(fields: Mapping[Any, Any], path: str, problems: _Problems) -> None:
    if "image" in fields and "imageName" in fields:
        problems.add(path, "sets both image and imageName (the same field); keep one")
    _report_typos(fields, _KNOWN_FIELDS, path, problems)
    for name, value in fields.items():
        where = f"{path}.{name}"
        if message := _rule_problem(name, value):
            problems.add(where, message)
        elif name == "retries" and value is not None:
            for key, setting in value.items():
                if key not in _RETRY_KEYS:
                    message = f"unknown field {key!r}{_hint(key, _RETRY_KEYS)}"
                else:
                    message = _RETRY_RULES[key](setting) or ""
                if message:
                    problems.add(f"{where}.{key}", message)
        elif name == "external" and value is not None:
            for binary, settings in value.items():
                if isinstance(settings, Mapping):
                    _check_fields(settings, f"{where}.{binary}", problems)
                else:
                    problems.add(f"{where}.{binary}", "must be a mapping of PodConfig fields")


def _report_typos(
    fields: Mapping[Any, Any], known: Collection[str], path: str, problems: _Problems
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


def _is_list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(isinstance(item, kind) for item in value)


def _cpu_count(value: Any) -> float:
    """CPUs from ``"1.0"``, ``1`` or ``"500m"`` (millicores)."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    try:
        count = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        count = math.nan
    if isinstance(value, bool) or not math.isfinite(count) or count < 0:
        raise ValueError(f"{value!r} is not a number")
    return count


def _memory_quantity(value: Any) -> str:
    """A Kubernetes memory quantity as a string: ``1073741824``, ``"512Mi"``, ``"1G"``."""
    text = str(value).strip() if _is_number(value) or isinstance(value, str) else ""
    if not _MEMORY_PATTERN.fullmatch(text):
        raise ValueError(f"{value!r} is not a number with an optional unit (e.g. 512Mi, 1G)")
    return text


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
_COUNT = _rule(lambda v: _is_number(v) and 0 <= v == int(v), "{!r} is not a whole number >= 0")
_SECONDS = _rule(lambda v: _is_number(v) and v > 0, "{!r} is not a positive number of seconds")
_MAPPING = _rule(lambda v: isinstance(v, Mapping), "must be a mapping")
_FIELD_RULES: dict[str, Callable[[Any], str | None]] = {
    **dict.fromkeys(_BOOL_FIELDS, _rule(lambda v: isinstance(v, bool), "{!r} is not a boolean")),
    **dict.fromkeys(_COUNT_FIELDS, _COUNT),
    **dict.fromkeys(_STRING_FIELDS, _rule(lambda v: isinstance(v, str), "{!r} is not a string")),
    **dict.fromkeys(_MAPPING_FIELDS, _MAPPING),
    **dict.fromkeys(("configMapSettings", "nfsSettings"),
                    _rule(lambda v: _is_list_of(v, Mapping), "must be a list of mappings")),
    "arguments": _rule(lambda v: _is_list_of(v, str), "must be a list of strings"),
    "command": _rule(lambda v: _is_list_of(v, str) and len(v) > 0,
                     "must be a non-empty argv list of strings such as ['/opt/bin/tool', '-v']"),
    "handler": _rule(lambda v: isinstance(v, str) and _HANDLER_PATTERN.fullmatch(v) is not None,
                     "{!r} is not of the form 'module.path:function'"),
    "protocol": _rule(lambda v: v == PROTOCOL_POP, "{!r} is not a known protocol (only 'pop')"),
    "cpuMinRequestCount": _parses(_cpu_count), "cpuMaxRequestCount": _parses(_cpu_count),
    "memoryRequestCount": _parses(_memory_quantity),
    "timeoutSeconds": _SECONDS, "silenceTimeoutSeconds": _SECONDS, "retries": _MAPPING,
}
_RETRY_RULES = {
    "limit": _COUNT,
    "backoffSeconds": _rule(lambda v: _is_number(v) and v >= 0, "{!r} is not a number >= 0"),
    "factor": _rule(lambda v: _is_number(v) and v >= 1, "{!r} is not a number >= 1"),
    "maxBackoffSeconds": _rule(lambda v: _is_number(v) and v >= 0, "{!r} is not a number >= 0"),
}
# fmt: on


# --- building ------------------------------------------------------------------------------------


def _normalized(layer: Mapping[Any, Any]) -> dict[str, Any]:
    """A deep copy of one layer with ``imageName`` renamed to ``image``."""
    result = {str(key): copy.deepcopy(value) for key, value in layer.items()}
    if "imageName" in result:
        image_name = result.pop("imageName")
        result.setdefault("image", image_name)
    return result


def _build_entry(name: str, fields: dict[str, Any]) -> HandlerEntry:
    """The entry of a validated, layered and already deep-copied field set."""
    config_maps = fields["configMapSettings"]
    if fields["configMapName"] is not None and isinstance(config_maps, list) and config_maps:
        config_maps[0] = {**config_maps[0], "configMapName": fields["configMapName"]}  # as POP
    command = fields["command"]
    protocol = fields.get("protocol") or (None if command is not None else PROTOCOL_POP)
    if "silenceTimeoutSeconds" in fields:  # some layer set it (null: no silence timeout)
        silence = fields["silenceTimeoutSeconds"]
    else:  # POP's podStdoutTimeout (120 s by default) for programs that speak the protocol
        stdout_ms = fields["podStdoutTimeout"]
        silence = stdout_ms / 1000 if protocol and stdout_ms is not None else None
    given = fields.get("retries") or {}
    retries = RetryPolicy(
        **{
            attr: type(getattr(RetryPolicy, attr))(given[key])
            for key, attr in _RETRY_KEYS.items()
            if key in given
        }
    )
    fields.update(
        protocol=protocol,
        silenceTimeoutSeconds=silence,
        retries={key: getattr(retries, attr) for key, attr in _RETRY_KEYS.items()},
        external=fields.get("external") or {},
        resident=bool(fields["resident"]),
    )
    cpu_request, cpu_limit = fields["cpuMinRequestCount"], fields["cpuMaxRequestCount"]
    memory, timeout = fields["memoryRequestCount"], fields["timeoutSeconds"]
    return HandlerEntry(
        type=name,
        handler=fields["handler"],
        command=tuple(command) if command is not None else None,
        image=fields["image"],
        resident=fields["resident"],
        protocol=protocol,
        cpu_request=_cpu_count(cpu_request) if cpu_request is not None else 1.0,
        cpu_limit=_cpu_count(cpu_limit) if cpu_limit is not None else None,
        memory_request=_memory_quantity(memory) if memory is not None else None,
        timeout_seconds=float(timeout) if timeout is not None else None,
        silence_timeout_seconds=float(silence) if silence is not None else None,
        retries=retries,
        external=copy.deepcopy(fields["external"]),
        fields=fields,
    )
