"""Reading registry documents and layering them into entries: :class:`Registry`.

Layer: models/refs/registry (imports only the stdlib, yaml, ``pop.errors``, ``pop.config`` and the
other registry modules). Finds the registry file, parses YAML (duplicate keys reported) or JSON,
validates every document with :mod:`pop.registry.validation`, then layers each entry: core
defaults (POP's PodConfig defaults), then ``basePodConfig`` and ``workVolume``, then the entry
itself; a field an upper layer sets replaces the whole field, and null clears it. Documents layer
in order (the built-in one first): a later document's ``basePodConfig`` fields apply to every
entry, and its entries replace whole entries of the same type.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Hashable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pop.config import Settings, registry_places
from pop.errors import RegistryError, UnknownOperationTypeError
from pop.registry.entry import HandlerEntry
from pop.registry.validation import Problems, base_fields, entries, validate

BUILT_IN_SOURCE = "built-in"

# fmt: off
# Layer 1 of every entry: POP's PodConfig defaults (POP-REFERENCE §6.1, §6.2 step 1) and pop's own.
CORE_DEFAULTS: dict[str, Any] = {
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
    "gpus": None, "imagePullSecrets": None, "envFrom": None,
}
# fmt: on


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
            if validate(document, problems).found:
                raise problems.error()
            documents.append((str(chosen), document or {}))
        return cls.from_documents(documents)

    @classmethod
    def from_documents(cls, documents: Sequence[tuple[str, Mapping[str, Any]]]) -> Registry:
        """Layer parsed documents, given as (source name, document), in order."""
        checks = [validate(document, Problems(source)) for source, document in documents]
        failed = [problems for problems in checks if problems.found]
        if len(failed) == 1:
            raise failed[0].error()
        if failed:
            raise RegistryError([line for p in failed for line in p.lines()], source="registry")
        base: dict[str, Any] = {}
        own_fields: dict[str, dict[str, Any]] = {}
        for _source, document in documents:
            if document:
                base.update(base_fields(document, Problems("")))
                own_fields.update((t, own) for t, _, own in entries(document, Problems("")))
        built = {
            name: HandlerEntry.from_fields(name, copy.deepcopy({**CORE_DEFAULTS, **base, **own}))
            for name, own in own_fields.items()
        }
        return cls(built, sources=[source for source, _ in documents])

    def lookup(self, op_type: str) -> HandlerEntry:
        """A fresh deep copy of the entry of ``op_type``; unknown → UnknownOperationTypeError."""
        if op_type not in self._entries:
            close = difflib.get_close_matches(op_type, self.types(), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            hint += f"known types: {', '.join(self.types()) or 'none'}"
            hint += f" (registry: {', '.join(self.sources)})"
            raise UnknownOperationTypeError(f"unknown operation type '{op_type}'", hint=hint)
        return copy.deepcopy(self._entries[op_type])

    def handler_ref(self, op_type: str) -> str | None:
        """The ``handler`` reference of a known ``op_type`` (None: a plain command), read
        without :meth:`lookup`'s copy of the whole entry (submit asks it for every op)."""
        if op_type not in self._entries:
            self.lookup(op_type)  # raises with its hint
        return self._entries[op_type].handler

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
    return validate(document, Problems(source)).lines()


def validate_file(path: Path) -> list[str]:
    """Every problem of a registry file, including a missing file and syntax errors (with line)."""
    document, problems = _read_file(path)
    return validate(document, problems).lines()


# --- reading --------------------------------------------------------------------------------


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


def _parse(text: str, problems: Problems, *, json_syntax: bool) -> Any:
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


def _read_file(path: Path) -> tuple[Any, Problems]:
    problems = Problems(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        missing = isinstance(exc, FileNotFoundError)
        problems.add("", "file not found" if missing else f"cannot read the file: {exc}")
        return None, problems
    return _parse(text, problems, json_syntax=path.suffix.lower() == ".json"), problems


def _built_in_document() -> Any:
    text = (resources.files("pop") / "data" / "registry.yaml").read_text(encoding="utf-8")
    problems = Problems(BUILT_IN_SOURCE)
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
    for place in registry_places(str(cwd), str(settings.home)):
        candidate = Path(place)
        if candidate.is_file():
            return candidate
    return None
