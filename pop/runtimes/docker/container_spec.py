"""A LaunchSpec as the Docker engine's container settings: a pure function, tested without an
engine.

Layer: runtimes. Used by :mod:`pop.runtimes.docker.launcher`; imports nothing of the ``docker``
SDK (the result is the keyword arguments of ``DockerClient.containers.create``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pop.errors import LaunchError
from pop.runtimes.base import LaunchSpec

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "pop"
LAUNCHER_LABEL = "pop.launcher"
# Set by a handler on the containers it launches for its externals: stopped with it.
PARENT_LABEL = "pop.parent"

_BINARY_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50}
_DECIMAL_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_QUANTITY = re.compile(
    r"^(?P<number>\d+(?:\.\d*)?|\.\d+)(?:[eE](?P<exponent>\d+))?(?P<unit>[A-Za-z]*)$"
)


def create_kwargs(
    spec: LaunchSpec,
    *,
    launcher_id: str,
    user: str,
    image_config: Mapping[str, Any] | None = None,
    engine_cpus: int | None = None,
) -> dict[str, Any]:
    """The ``containers.create`` keyword arguments that run ``spec`` (name excluded).

    ``image_config`` is the image's ``Config`` (``Entrypoint``, ``Cmd``): with an empty
    ``spec.command`` the image's entry point runs and ``spec.args`` are appended to it (to its
    ``Cmd`` when it has no entry point). ``engine_cpus`` caps the CPU limit (the engine refuses a
    limit above its CPU count). Raises a permanent LaunchError for a spec the engine cannot run.
    """
    require_image(spec)
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "environment": dict(spec.env),
        "labels": {
            **spec.labels,
            MANAGED_BY_LABEL: MANAGED_BY,
            LAUNCHER_LABEL: launcher_id,
        },
        "user": user,
        "init": True,
        "detach": True,
        "stdin_open": False,
        "tty": False,
    }
    kwargs.update(_command(spec, image_config))
    if spec.cwd:
        kwargs["working_dir"] = spec.cwd
    if spec.mounts:
        kwargs["mounts"] = [
            {
                "Type": "bind",
                "Source": mount.source,
                "Target": mount.target,
                "ReadOnly": mount.read_only,
            }
            for mount in spec.mounts
        ]
    cpus = spec.cpu_limit if spec.cpu_limit is not None else spec.cpus
    if cpus and cpus > 0:
        if engine_cpus:
            cpus = min(cpus, float(engine_cpus))
        kwargs["nano_cpus"] = round(cpus * 1e9)
    if spec.memory:
        kwargs["mem_limit"] = parse_memory(spec.memory)
    requests = device_requests(spec.options.get("gpus"))
    if requests:
        kwargs["device_requests"] = requests
    return kwargs


def require_image(spec: LaunchSpec) -> str:
    """The spec's image; a permanent LaunchError when it has none."""
    if not spec.image:
        raise LaunchError(
            f"cannot launch {spec.name!r}: its registry entry has no image "
            "(the docker runtime runs every launch in an image)",
            hint="set `image:` on the registry entry or in basePodConfig",
            permanent=True,
        )
    return spec.image


def _command(spec: LaunchSpec, image_config: Mapping[str, Any] | None) -> dict[str, Any]:
    if spec.command:
        return {"entrypoint": list(spec.command), "command": list(spec.args)}
    if not spec.args:
        return {}  # the image's entry point and command, as built
    config = image_config or {}
    if config.get("Entrypoint"):
        return {"command": list(spec.args)}
    # No entry point: the image's command is what runs, so the args extend it.
    return {"entrypoint": [*(config.get("Cmd") or [])], "command": list(spec.args)}


def parse_memory(quantity: str) -> int:
    """Bytes of a Kubernetes memory quantity: ``512Mi``, ``2Gi``, ``1G``, ``129e6``, ``1024``.
    Raises a permanent LaunchError for anything else (``512m`` means milli-bytes there)."""
    text = str(quantity).strip()
    match = _QUANTITY.match(text)
    unit = match["unit"] if match else ""
    if match is None or (unit not in _BINARY_UNITS and unit not in _DECIMAL_UNITS):
        raise LaunchError(
            f"invalid memory quantity {quantity!r}",
            hint="use a Kubernetes quantity such as 512Mi, 2Gi or 1G",
            permanent=True,
        )
    if match["exponent"] and unit:
        raise LaunchError(f"invalid memory quantity {quantity!r}", permanent=True)
    value = float(match["number"]) * 10 ** int(match["exponent"] or 0)
    size = int(value * _BINARY_UNITS.get(unit, _DECIMAL_UNITS.get(unit, 1)))
    if size <= 0:
        raise LaunchError(f"invalid memory quantity {quantity!r}: not above 0", permanent=True)
    return size


def device_requests(gpus: Any) -> list[dict[str, Any]]:
    """The engine's device requests for a registry ``gpus`` field: a count (``2``, ``"2"``),
    ``"all"``, or a list of device ids; none for an absent or zero field."""
    if gpus is None or gpus == 0 or gpus == "0" or gpus == []:
        return []
    request: dict[str, Any] = {"Driver": "", "Capabilities": [["gpu"]], "Options": {}}
    if isinstance(gpus, list | tuple):
        request.update(Count=0, DeviceIDs=[str(device) for device in gpus])
    elif str(gpus).strip().lower() == "all":
        request.update(Count=-1, DeviceIDs=[])
    else:
        try:
            count = int(str(gpus).strip())
        except ValueError:
            count = -2
        if count < 0:
            raise LaunchError(
                f"invalid gpus value {gpus!r}: a count, 'all' or a list of device ids",
                permanent=True,
            )
        request.update(Count=count, DeviceIDs=[])
    return [request]
