"""What a registry entry is once layered: :class:`HandlerEntry`, its :class:`RetryPolicy` and the
typed :class:`PodConfig` of POP's PodConfig fields.

Layer: models/refs/registry (stdlib only). :mod:`pop.registry.reading` builds entries from the
layered field set with :meth:`HandlerEntry.from_fields`; the engine reads them, and a runtime that
gets the layered fields as ``LaunchSpec.options`` reads them typed with
:meth:`PodConfig.from_fields`. Values reaching these constructors are already validated by
:mod:`pop.registry.validation`; the constructors only convert.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

PROTOCOL_POP = "pop"

# pop's own entry fields (POP has no such fields); the rest of an entry is POP's PodConfig
POP_OWN_FIELDS = (
    "handler",
    "command",
    "resident",
    "protocol",
    "timeoutSeconds",
    "silenceTimeoutSeconds",
    "retries",
    "external",
)
RETRY_KEYS = {
    "limit": "limit",
    "backoffSeconds": "backoff_seconds",
    "factor": "factor",
    "maxBackoffSeconds": "max_backoff_seconds",
}
_MEMORY_PATTERN = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+|[mkMGTPE]|[KMGTPE]i)?")


def cpu_count(value: Any) -> float:
    """CPUs from ``"1.0"``, ``1`` or ``"500m"`` (millicores); ValueError for anything else."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    try:
        count = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        count = math.nan
    if isinstance(value, bool) or not math.isfinite(count) or count < 0:
        raise ValueError(f"{value!r} is not a number")
    return count


def memory_quantity(value: Any) -> str:
    """A Kubernetes memory quantity as a string: ``1073741824``, ``"512Mi"``, ``"1G"``."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    text = str(value).strip() if numeric or isinstance(value, str) else ""
    if not _MEMORY_PATTERN.fullmatch(text):
        raise ValueError(f"{value!r} is not a number with an optional unit (e.g. 512Mi, 1G)")
    return text


def normalized(layer: Mapping[Any, Any]) -> dict[str, Any]:
    """A deep copy of one layer with ``imageName`` renamed to ``image``."""
    result = {str(key): copy.deepcopy(value) for key, value in layer.items()}
    if "imageName" in result:
        image_name = result.pop("imageName")
        result.setdefault("image", image_name)
    return result


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed attempt of an op is retried, and how long to wait before each retry."""

    limit: int = 0
    backoff_seconds: float = 5.0
    factor: float = 2.0
    max_backoff_seconds: float = 300.0


@dataclass(frozen=True)
class KeyPath:
    """One item of a config map volume: the map's ``key`` mounted as file ``path``."""

    key: str
    path: str | None = None


@dataclass(frozen=True)
class ConfigMapSetting:
    """A ``configMapSettings`` element: a config map mounted as a volume."""

    config_map_name: str | None = None
    volume_name: str | None = None
    volume_mount_path: str | None = None
    map_key_paths: tuple[KeyPath, ...] = ()


@dataclass(frozen=True)
class NfsSetting:
    """An ``nfsSettings`` element: ``nfs_server:nfs_server_path`` mounted at each mount path."""

    nfs_server: str
    nfs_server_path: str
    nfs_mount_paths: tuple[str, ...] = ()
    nfs_read_only: bool = False


@dataclass(frozen=True)
class SecretKeyRef:
    """An ``envVars`` value ``{secretKeyRef: {name, key}}``: one key of a Kubernetes secret."""

    name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class EnvFromSource:
    """An ``envFrom`` element: every key of a secret or a config map as environment variables."""

    kind: Literal["secretRef", "configMapRef"]
    name: str
    prefix: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class TaintedNodes:
    """Where tainted-node pods go: preferred affinity on ``dedicated In [selector]`` and the
    toleration ``dedicated=<toleration>:NoSchedule`` (POP-REFERENCE §6.4)."""

    selector: str
    toleration: str


def _default_config_maps() -> tuple[ConfigMapSetting, ...]:
    keys = (
        KeyPath("external-properties", "external.properties"),
        KeyPath("env-properties", "env.properties"),
    )
    return (ConfigMapSetting(None, "config-volume", "/app/config", keys),)


@dataclass(frozen=True)
class PodConfig:
    """POP's PodConfig fields of one entry, typed; defaults are POP's (POP-REFERENCE §6.1).

    Attribute names are POP's field names in snake case (``podScheduledTimeoutMs`` →
    ``pod_scheduled_timeout_ms``); durations keep POP's milliseconds. Fields pop does not know
    are kept in ``extra``. Which runtime reads what: docs/registry.md.
    """

    image: str | None = None
    name_prefix: str | None = None
    arguments: tuple[str, ...] | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)
    secret_env_vars: Mapping[str, SecretKeyRef] = field(default_factory=dict)
    env_from: tuple[EnvFromSource, ...] = ()
    service_account_name: str | None = "pop-service"
    cpu_min_request_count: float = 1.0
    cpu_max_request_count: float | None = 1.0
    memory_request_count: str | None = None
    gpus: int | Literal["all"] | tuple[str, ...] = 0
    image_pull_secrets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    reap_completed_pods: bool = False
    pull_always: bool = False
    docker_privileged: bool = False
    pod_scheduled_timeout_ms: int | None = 300000
    pod_stdout_timeout: int | None = 120000
    pod_retry_count: int | None = 0
    retry_delay_milli_secs: int | None = 3000
    use_tainted_nodes: bool = False
    tainted_node_selector: str | None = None
    tainted_node_toleration: str | None = None
    default_empty_dir_logging: bool = False
    enable_output_scraping: bool = False
    end_of_log_identifier: str | None = "HandlerComplete"
    log_line_expectation: str | None = None
    alive_check_details: Mapping[str, Any] | None = None
    config_map_name: str | None = None
    config_map_settings: tuple[ConfigMapSetting, ...] = field(default_factory=_default_config_maps)
    nfs_settings: tuple[NfsSetting, ...] = ()
    logback: Any = None
    work_volume: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __deepcopy__(self, memo: dict[int, Any]) -> PodConfig:
        # only the maps can change; the rest is frozen (lookups copy every entry, so keep it cheap)
        return replace(self, **{name: copy.deepcopy(getattr(self, name), memo) for name in _MAPS})

    @property
    def tainted_nodes(self) -> TaintedNodes | None:
        """Selector and toleration when ``useTaintedNodes`` is on and both are set."""
        selector, toleration = self.tainted_node_selector, self.tainted_node_toleration
        if self.use_tainted_nodes and selector and toleration:
            return TaintedNodes(selector, toleration)
        return None

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> PodConfig:
        """The PodConfig of a layered (validated) field set such as ``HandlerEntry.fields`` or a
        ``LaunchSpec.options``; absent fields get POP's defaults, null ones none (an empty
        list or map, a false flag)."""
        given = normalized(fields)
        values: dict[str, Any] = {
            attr: _NULL.get(attr) if given[name] is None else convert(given[name])
            for name, (attr, convert) in _CONVERTERS.items()
            if name in given
        }
        env = given.get("envVars") or {}
        values["env_vars"] = {str(k): str(v) for k, v in env.items() if not isinstance(v, Mapping)}
        values["secret_env_vars"] = {
            str(k): _secret_key_ref(v["secretKeyRef"])
            for k, v in env.items()
            if isinstance(v, Mapping)
        }
        known = {*POD_CONFIG_FIELDS, *POP_OWN_FIELDS}
        values["extra"] = {name: value for name, value in given.items() if name not in known}
        return cls(**values)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


def _config_map(value: Mapping[str, Any]) -> ConfigMapSetting:
    return ConfigMapSetting(
        config_map_name=value.get("configMapName"),
        volume_name=value.get("volumeName"),
        volume_mount_path=value.get("volumeMountPath"),
        map_key_paths=tuple(
            KeyPath(str(item["key"]), item.get("path")) for item in value.get("mapKeyPaths") or ()
        ),
    )


def _nfs(value: Mapping[str, Any]) -> NfsSetting:
    return NfsSetting(
        nfs_server=str(value["nfsServer"]),
        nfs_server_path=str(value["nfsServerPath"]),
        nfs_mount_paths=_strings(value.get("nfsMountPaths") or ()),
        nfs_read_only=bool(value.get("nfsReadOnly", False)),
    )


def _secret_key_ref(value: Mapping[str, Any]) -> SecretKeyRef:
    return SecretKeyRef(str(value["name"]), str(value["key"]), bool(value.get("optional", False)))


def _env_from(value: Mapping[str, Any]) -> EnvFromSource:
    kind: Literal["secretRef", "configMapRef"] = (
        "secretRef" if "secretRef" in value else "configMapRef"
    )
    source = value[kind]
    return EnvFromSource(
        kind, str(source["name"]), value.get("prefix"), bool(source.get("optional", False))
    )


def _gpus(value: Any) -> int | Literal["all"] | tuple[str, ...]:
    if isinstance(value, list | tuple):
        return _strings(value)
    text = str(value).strip().lower()
    return "all" if text == "all" else int(text)


def _pull_secret(value: Any) -> str:
    return str(value["name"]) if isinstance(value, Mapping) else str(value)


# POP field name -> (PodConfig attribute, conversion of a non-null value)
_CONVERTERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "image": ("image", str),
    "namePrefix": ("name_prefix", str),
    "arguments": ("arguments", _strings),
    "envFrom": ("env_from", lambda v: tuple(_env_from(item) for item in v)),
    "serviceAccountName": ("service_account_name", str),
    "cpuMinRequestCount": ("cpu_min_request_count", cpu_count),
    "cpuMaxRequestCount": ("cpu_max_request_count", cpu_count),
    "memoryRequestCount": ("memory_request_count", memory_quantity),
    "gpus": ("gpus", _gpus),
    "imagePullSecrets": ("image_pull_secrets", lambda v: tuple(_pull_secret(i) for i in v)),
    "labels": ("labels", lambda v: {str(key): str(value) for key, value in v.items()}),
    "reapCompletedPods": ("reap_completed_pods", bool),
    "pullAlways": ("pull_always", bool),
    "dockerPrivileged": ("docker_privileged", bool),
    "podScheduledTimeoutMs": ("pod_scheduled_timeout_ms", int),
    "podStdoutTimeout": ("pod_stdout_timeout", int),
    "podRetryCount": ("pod_retry_count", int),
    "retryDelayMilliSecs": ("retry_delay_milli_secs", int),
    "useTaintedNodes": ("use_tainted_nodes", bool),
    "taintedNodeSelector": ("tainted_node_selector", str),
    "taintedNodeToleration": ("tainted_node_toleration", str),
    "defaultEmptyDirLogging": ("default_empty_dir_logging", bool),
    "enableOutputScraping": ("enable_output_scraping", bool),
    "endOfLogIdentifier": ("end_of_log_identifier", str),
    "logLineExpectation": ("log_line_expectation", str),
    "aliveCheckDetails": ("alive_check_details", copy.deepcopy),
    "configMapName": ("config_map_name", str),
    "configMapSettings": ("config_map_settings", lambda v: tuple(_config_map(i) for i in v)),
    "nfsSettings": ("nfs_settings", lambda v: tuple(_nfs(item) for item in v)),
    "logback": ("logback", copy.deepcopy),
    "workVolume": ("work_volume", copy.deepcopy),
}
# fmt: off
# what null means for a field that cannot be None (a cleared list: empty; a cleared flag: off;
# a cleared CPU request: as many CPUs as an entry without the field)
_NULL: dict[str, Any] = {
    "env_from": (), "gpus": 0, "image_pull_secrets": (), "labels": {}, "config_map_settings": (),
    "nfs_settings": (), "cpu_min_request_count": 1.0,
    **dict.fromkeys(("reap_completed_pods", "pull_always", "docker_privileged",
                     "use_tainted_nodes", "default_empty_dir_logging", "enable_output_scraping"),
                    False),
}
# the attributes a copy of a PodConfig must copy (the others are immutable)
_MAPS = ("env_vars", "secret_env_vars", "labels", "alive_check_details", "logback", "work_volume",
         "extra")
# fmt: on
POD_CONFIG_FIELDS = (*_CONVERTERS, "envVars")
UNDECLARED_EXTERNAL = "*"  # the POP_EXTERNAL key of binaries an entry does not declare


@dataclass(frozen=True)
class HandlerEntry:
    """The effective registry entry of one operation type (after layering).

    ``fields`` holds every layered field as written (POP's names; what ``pop registry show``
    prints and what launchers get as ``LaunchSpec.options``); ``pod`` is the typed PodConfig of
    the same fields.
    """

    type: str
    handler: str | None
    command: tuple[str, ...] | None
    resident: bool
    protocol: str | None
    timeout_seconds: float | None
    silence_timeout_seconds: float | None
    retries: RetryPolicy
    external: Mapping[str, Mapping[str, Any]]
    fields: Mapping[str, Any]
    pod: PodConfig

    @property
    def image(self) -> str | None:
        return self.pod.image

    @property
    def cpu_request(self) -> float:
        return self.pod.cpu_min_request_count

    @property
    def cpu_limit(self) -> float | None:
        return self.pod.cpu_max_request_count

    @property
    def memory_request(self) -> str | None:
        return self.pod.memory_request_count

    @property
    def external_cpus(self) -> dict[str, float]:
        """CPUs each declared external binary asks for (absent: as much as the handler)."""
        return {
            name: cpu_count(settings["cpuMinRequestCount"])
            if settings.get("cpuMinRequestCount") is not None
            else self.cpu_request
            for name, settings in self.external.items()
        }

    def external_settings(self) -> dict[str, dict[str, Any]]:
        """What a handler needs to launch each external binary, as handlers read it from
        ``POP_EXTERNAL``: per declared binary its ``cpus``, ``image`` (absent: the handler's own)
        and ``pod`` (:meth:`external_fields`, for runtimes that build pods); under ``"*"`` the
        ``pod`` of binaries the entry does not declare."""
        cpus = self.external_cpus
        settings: dict[str, dict[str, Any]] = {
            name: {
                "cpus": cpus[name],
                "image": normalized(settings).get("image", self.image),
                "pod": self.external_fields(name),
            }
            for name, settings in self.external.items()
        }
        settings[UNDECLARED_EXTERNAL] = {"pod": self.external_fields(None)}
        return settings

    def external_fields(self, name: str | None) -> dict[str, Any]:
        """The PodConfig fields of external binary ``name``: the entry's own overlaid by its
        ``external.<name>`` fields (``workVolume`` included); for None or a binary the entry
        does not declare, the entry's own."""
        declared = self.external.get(name) if name is not None else None
        layered = {**self.fields, **normalized(declared or {})}
        return {key: value for key, value in layered.items() if key in POD_CONFIG_FIELDS}

    def external_pod(self, name: str) -> PodConfig:
        """The PodConfig of external binary ``name`` (KeyError for a binary the entry does not
        declare)."""
        if name not in self.external:
            raise KeyError(name)
        return PodConfig.from_fields(self.external_fields(name))

    @property
    def is_plain_command(self) -> bool:
        """A ``command:`` entry that does not speak the handler protocol."""
        return self.command is not None and self.protocol is None

    @classmethod
    def from_fields(cls, name: str, fields: dict[str, Any]) -> HandlerEntry:
        """The entry of a validated, layered and already deep-copied field set (which it
        completes in place with the computed fields and keeps as ``fields``)."""
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
                for key, attr in RETRY_KEYS.items()
                if key in given
            }
        )
        fields.update(
            protocol=protocol,
            silenceTimeoutSeconds=silence,
            retries={key: getattr(retries, attr) for key, attr in RETRY_KEYS.items()},
            external=fields.get("external") or {},
            resident=bool(fields["resident"]),
        )
        timeout = fields["timeoutSeconds"]
        return cls(
            type=name,
            handler=fields["handler"],
            command=tuple(command) if command is not None else None,
            resident=fields["resident"],
            protocol=protocol,
            timeout_seconds=float(timeout) if timeout is not None else None,
            silence_timeout_seconds=float(silence) if silence is not None else None,
            retries=retries,
            external=copy.deepcopy(fields["external"]),
            fields=fields,
            pod=PodConfig.from_fields(fields),
        )
