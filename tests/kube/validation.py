"""What the Kubernetes API server rejects before storing an object, with its 422 ``Status``
bodies: names (DNS-1123), labels, the annotations' total size, and for pods the checks a pod
builder can get wrong where a schema check cannot see it (containers, env names, volumes and
their mounts, resource quantities and requests over limits, restartPolicy,
activeDeadlineSeconds).

Test infrastructure (DESIGN §13), not part of ``pop``; ``store.py`` calls ``validate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
QUANTITY = re.compile(
    r"(?P<number>[+-]?(\d+(\.\d*)?|\.\d+))(?P<suffix>[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?"
)
SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    **{
        suffix: Decimal(1024) ** power
        for power, suffix in enumerate(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"], 1)
    },
}
ANNOTATIONS_LIMIT = 262144
SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MESSAGE = (
    "a DNS-1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ENV_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
    "or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
    "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
QUANTITY_MESSAGE = "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


class ApiError(Exception):
    """An error the API answers with a ``Status`` body (``code`` is the HTTP status)."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(resource: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource}
    )


@dataclass(frozen=True)
class Cause:
    """One field error, worded as the API server words it."""

    field: str
    reason: str  # FieldValueInvalid, FieldValueRequired, FieldValueNotFound, ...
    text: str  # the part after "<field>: "

    @staticmethod
    def invalid(field: str, value: Any, detail: str) -> Cause:
        return Cause(field, "FieldValueInvalid", f'Invalid value: "{value}": {detail}')

    @staticmethod
    def required(field: str) -> Cause:
        return Cause(field, "FieldValueRequired", "Required value")


def validate(resource: str, obj: Obj) -> None:
    """Raise 422 Invalid naming every problem, as the API server does."""
    kind = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret"}[resource]
    metadata = obj.get("metadata") or {}
    name = metadata.get("name") or ""
    causes = _metadata(metadata)
    if resource == "pods":
        causes += _pod_spec(obj.get("spec") or {})
    elif resource in ("configmaps", "secrets"):
        causes += [
            Cause.invalid(
                f"data[{key}]",
                key,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            )
            for key in obj.get("data") or {}
            if not CONFIG_KEY.fullmatch(key)
        ]
    if not causes:
        return
    messages = [f"{cause.field}: {cause.text}" for cause in causes]
    joined = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    raise ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {joined}',
        {
            "name": name,
            "kind": kind,
            "causes": [
                {"reason": cause.reason, "message": cause.text, "field": cause.field}
                for cause in causes
            ],
        },
    )


def _metadata(metadata: Obj) -> list[Cause]:
    name = metadata.get("name") or ""
    if not name:
        return [Cause.required("metadata.name")]
    causes = []
    if len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
        causes.append(Cause.invalid("metadata.name", name, SUBDOMAIN_MESSAGE))
    for key, value in (metadata.get("labels") or {}).items():
        prefix, _, label_name = key.rpartition("/")
        if (
            not LABEL_NAME.fullmatch(label_name)
            or len(label_name) > 63
            or (prefix and not DNS1123_SUBDOMAIN.fullmatch(prefix))
        ):
            causes.append(Cause.invalid("metadata.labels", key, "name part must be valid"))
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            detail = "must be no more than 63 characters" if len(str(value)) > 63 else ""
            causes.append(Cause.invalid("metadata.labels", value, detail or LABEL_VALUE_MESSAGE))
    annotations = metadata.get("annotations") or {}
    size = sum(len(key) + len(str(value)) for key, value in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        causes.append(
            Cause(
                "metadata.annotations",
                "FieldValueTooLong",
                f"Too long: must have at most {ANNOTATIONS_LIMIT} bytes",
            )
        )
    return causes


def quantity(text: Any) -> Decimal | None:
    """A resource quantity's value, None when it is not one."""
    match = QUANTITY.fullmatch(str(text))
    if not match:
        return None
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return None
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * Decimal(10) ** int(suffix[1:])
    return number * SUFFIXES[suffix]


def _pod_spec(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        return [Cause.required("spec.containers")]
    volumes = spec.get("volumes") or []
    volume_names: set[str] = set()
    for index, volume in enumerate(volumes):
        volume_name = volume.get("name") or ""
        if not DNS1123_LABEL.fullmatch(volume_name) or len(volume_name) > 63:
            causes.append(Cause.invalid(f"spec.volumes[{index}].name", volume_name, LABEL_MESSAGE))
        elif volume_name in volume_names:
            field = f"spec.volumes[{index}].name"
            causes.append(Cause(field, "FieldValueDuplicate", f'Duplicate value: "{volume_name}"'))
        volume_names.add(volume_name)
    for index, container in enumerate(containers):
        causes += _container(f"spec.containers[{index}]", container, volume_names)
    policy = spec.get("restartPolicy", "Always")
    if policy not in ("Always", "OnFailure", "Never"):
        causes.append(
            Cause(
                "spec.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{policy}": supported values: "Always", "OnFailure", "Never"',
            )
        )
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not (isinstance(deadline, int) and 1 <= deadline <= 2**31 - 1):
        causes.append(
            Cause.invalid(
                "spec.activeDeadlineSeconds",
                deadline,
                "must be between 1 and 2147483647, inclusive",
            )
        )
    return causes


def _container(path: str, container: Obj, volume_names: set[str]) -> list[Cause]:
    causes: list[Cause] = []
    name = container.get("name") or ""
    if not name:
        causes.append(Cause.required(f"{path}.name"))
    elif not DNS1123_LABEL.fullmatch(name) or len(name) > 63:
        causes.append(Cause.invalid(f"{path}.name", name, LABEL_MESSAGE))
    if not container.get("image"):
        causes.append(Cause.required(f"{path}.image"))
    for index, item in enumerate(container.get("env") or []):
        env_name = item.get("name") or ""
        if not ENV_NAME.fullmatch(env_name):
            causes.append(Cause.invalid(f"{path}.env[{index}].name", env_name, ENV_MESSAGE))
    mount_paths: set[str] = set()
    for index, mount in enumerate(container.get("volumeMounts") or []):
        mount_name, mount_path = mount.get("name") or "", mount.get("mountPath") or ""
        if mount_name not in volume_names:
            field = f"{path}.volumeMounts[{index}].name"
            causes.append(Cause(field, "FieldValueNotFound", f'Not found: "{mount_name}"'))
        if not mount_path:
            causes.append(Cause.required(f"{path}.volumeMounts[{index}].mountPath"))
        elif mount_path in mount_paths:
            causes.append(
                Cause.invalid(
                    f"{path}.volumeMounts[{index}].mountPath", mount_path, "must be unique"
                )
            )
        mount_paths.add(mount_path)
        sub_path = mount.get("subPath") or ""
        if sub_path.startswith("/") or ".." in sub_path.split("/"):
            causes.append(
                Cause.invalid(
                    f"{path}.volumeMounts[{index}].subPath",
                    sub_path,
                    "must be a relative path without '..'",
                )
            )
    resources = container.get("resources") or {}
    values: dict[str, dict[str, Decimal]] = {}
    for section in ("requests", "limits"):
        for resource, text in (resources.get(section) or {}).items():
            value = quantity(text)
            if value is None:
                field = f"{path}.resources.{section}[{resource}]"
                causes.append(Cause.invalid(field, text, QUANTITY_MESSAGE))
            else:
                values.setdefault(section, {})[resource] = value
    for resource, request in (values.get("requests") or {}).items():
        limit = (values.get("limits") or {}).get(resource)
        if limit is not None and request > limit:
            text = resources["requests"][resource]
            detail = (
                f"must be less than or equal to {resource} limit of {resources['limits'][resource]}"
            )
            causes.append(Cause.invalid(f"{path}.resources.requests", text, detail))
    return causes
