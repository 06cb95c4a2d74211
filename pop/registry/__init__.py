"""The registry: which handler runs each operation type, and with which pod settings.

Layer: models/refs/registry (imports only the stdlib, yaml, ``pop.errors`` and ``pop.config``).
The engine looks up an op's :class:`HandlerEntry` before launching it, the API checks op types at
submit time, and ``pop registry validate|show`` call :func:`validate_file` and
:meth:`Registry.to_document`.

A registry document (YAML; a ``.json`` file is read as JSON) maps operation types to flat entries:
every field of POP's PodConfig at entry level (``image`` is POP's ``imageName``, which is accepted
as an alias) plus pop's own fields (``handler``, ``command``, ``resident``, ``protocol``,
``timeoutSeconds``, ``silenceTimeoutSeconds``, ``retries``, ``external``); the header of
``pop/data/registry.yaml`` describes the format. POP's JSON registry form is recognised and layered
the POP way (``configMapName`` goes into the first ``configMapSettings`` element).

Modules: :mod:`~pop.registry.entry` (what an entry is: :class:`HandlerEntry`, :class:`RetryPolicy`,
the typed :class:`PodConfig`), :mod:`~pop.registry.reading` (finding, parsing and layering
documents: :class:`Registry`), :mod:`~pop.registry.validation` (every problem with its path).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # each name loads its module on first use: the fast `pop submit` reads
if TYPE_CHECKING:  # pop.registry.builtin alone
    from pop.registry.entry import (
        PROTOCOL_POP,
        ConfigMapSetting,
        EnvFromSource,
        HandlerEntry,
        KeyPath,
        NfsSetting,
        PodConfig,
        RetryPolicy,
        SecretKeyRef,
        TaintedNodes,
    )
    from pop.registry.reading import (
        BUILT_IN_SOURCE,
        Registry,
        validate_document,
        validate_file,
    )

__all__ = [
    "BUILT_IN_SOURCE",
    "PROTOCOL_POP",
    "ConfigMapSetting",
    "EnvFromSource",
    "HandlerEntry",
    "KeyPath",
    "NfsSetting",
    "PodConfig",
    "Registry",
    "RetryPolicy",
    "SecretKeyRef",
    "TaintedNodes",
    "validate_document",
    "validate_file",
]

_ENTRY = (
    "PROTOCOL_POP",
    "ConfigMapSetting",
    "EnvFromSource",
    "HandlerEntry",
    "KeyPath",
    "NfsSetting",
    "PodConfig",
    "RetryPolicy",
    "SecretKeyRef",
    "TaintedNodes",
)
_READING = ("BUILT_IN_SOURCE", "Registry", "validate_document", "validate_file")


def __getattr__(name: str) -> object:
    if name in _ENTRY:
        module = "entry"
    elif name in _READING:
        module = "reading"
    else:
        raise AttributeError(f"module 'pop.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pop.registry.{module}"), name)
    globals()[name] = value
    return value
