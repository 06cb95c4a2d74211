"""The docker runtime: each launch is a container on a Docker engine, stopped (SIGTERM through
``docker-init``, then SIGKILL) on cancel and timeout and removed on cleanup unless kept.

Layer: runtimes. Built by ``pop.runtimes.create_launcher("docker")``; used through the Launcher
protocol by the executor, the services (reclaimer: ``stop``; reaper: ``list_launches`` and
``remove``) and the handler SDK.

Every blocking SDK call runs on the launcher's own thread pool, never on the event loop; each
launch's output and exit are followed by threads of its handle (:mod:`pop.runtimes.docker.handle`).

The record is ``LaunchRecord("docker", <container id>, {engineId, image, name, dockerHost})``:
``engineId`` tells this engine apart from another one a record may come from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pop.errors import InputError, LaunchError
from pop.runtimes.base import (
    DEFAULT_CLEANUP_GRACE_SECONDS,
    DEFAULT_TIMEOUT_GRACE_SECONDS,
    Capabilities,
    LaunchInfo,
    LaunchRecord,
    LaunchSpec,
    grace_options,
)
from pop.runtimes.docker.container_spec import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    create_kwargs,
    require_image,
)
from pop.runtimes.docker.engine import (
    Engine,
    docker_host_of,
    engine_time,
    remove_container,
    stop_children,
    stop_container,
    unavailable,
)
from pop.runtimes.docker.handle import DockerHandle

if TYPE_CHECKING:
    from docker import APIClient
    from docker.models.containers import Container

RUNTIME_NAME = "docker"
_NAME_ATTEMPTS = 5


class DockerLauncher:
    """Launches specs as containers on the engine at ``docker_host`` ("" = ``DOCKER_HOST``,
    ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH`` or the default socket).

    ``keep`` leaves containers in place after cleanup (``--keep``). ``timeout_grace_seconds`` is
    how long a timed-out container gets between SIGTERM and SIGKILL; ``cleanup_grace_seconds``
    the same for one still running at cleanup. Building a launcher never contacts the engine.
    """

    def __init__(
        self,
        *,
        docker_host: str = "",
        keep: bool = False,
        timeout_grace_seconds: float = DEFAULT_TIMEOUT_GRACE_SECONDS,
        cleanup_grace_seconds: float = DEFAULT_CLEANUP_GRACE_SECONDS,
    ) -> None:
        self._engine = Engine(docker_host)
        self._keep = keep
        self._timeout_grace_seconds = timeout_grace_seconds
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._user = f"{os.getuid()}:{os.getgid()}"
        self._id = secrets.token_hex(6)
        self._handles: dict[str, DockerHandle] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, keep: bool = False) -> DockerLauncher:
        """Build from runtime options: ``docker_host``, ``timeout_grace_seconds`` and
        ``cleanup_grace_seconds``; keys meant for other runtimes are ignored."""
        return cls(docker_host=docker_host_of(options), keep=keep, **grace_options(options))

    @property
    def name(self) -> str:
        return RUNTIME_NAME

    @property
    def capabilities(self) -> Capabilities:
        """Containers share this machine's CPUs and start handlers with the image's python3."""
        return _CAPABILITIES

    @property
    def launcher_id(self) -> str:
        """This launcher's id, in the ``pop.launcher`` label of every container it creates."""
        return self._id

    @property
    def docker_host(self) -> str:
        return self._engine.docker_host

    async def check(self) -> None:
        import docker

        try:
            await self._engine.call(lambda api: api.ping())
        except (docker.errors.DockerException, OSError) as exc:
            raise unavailable(exc, self.docker_host) from exc

    async def launch(self, spec: LaunchSpec) -> DockerHandle:
        require_image(spec)
        work = asyncio.ensure_future(self._engine.call(lambda api: self._create_and_start(spec)))
        try:
            container_id, name = await asyncio.shield(work)
        except asyncio.CancelledError:
            # The container may have been created all the same: it must not outlive us.
            await asyncio.wait([work])
            if not work.cancelled() and work.exception() is None:
                await remove_container(self._engine, work.result()[0])
            raise
        record = LaunchRecord(
            runtime=RUNTIME_NAME,
            ref=container_id,
            details={
                "engineId": self._engine.engine_id,
                "image": spec.image,
                "name": name,
                "dockerHost": self.docker_host,
            },
        )
        handle = DockerHandle(
            self._engine,
            spec,
            record,
            keep=self._keep,
            timeout_grace_seconds=self._timeout_grace_seconds,
            cleanup_grace_seconds=self._cleanup_grace_seconds,
            on_cleaned=self._forget,
        )
        self._handles[container_id] = handle
        return handle

    def _forget(self, container_id: str) -> None:
        self._handles.pop(container_id, None)

    async def stop(self, record: LaunchRecord, grace_seconds: float = 5.0) -> bool:
        import docker

        if record.runtime != RUNTIME_NAME or not record.ref:
            raise InputError(
                f"the docker runtime cannot stop {record.runtime!r} launch {record.ref!r}"
            )
        own = self._handles.get(record.ref)
        if own is not None:
            running = not own.ended
            await own.cancel(grace_seconds)
            await own.cleanup()
            return running
        await self.check()
        engine_id = record.details.get("engineId")
        if engine_id and engine_id != self._engine.engine_id:
            return False  # a container id means nothing on another engine
        name = str(record.details.get("name") or "")
        try:
            inspected = await self._engine.call(lambda api: api.inspect_container(record.ref))
            state = inspected["State"]
        except docker.errors.NotFound:
            state = {}
        except (docker.errors.DockerException, OSError) as exc:
            raise unavailable(exc, self.docker_host) from exc
        running = bool(state.get("Running"))
        await asyncio.gather(
            stop_container(self._engine, record.ref, grace_seconds) if running else _nothing(),
            stop_children(self._engine, name, grace_seconds, remove=not self._keep)
            if name
            else _nothing(),
        )
        if state and not self._keep:
            await remove_container(self._engine, record.ref)
        return running

    async def list_launches(self) -> list[LaunchInfo]:
        import docker

        try:
            found = await self._engine.call(_inspect_managed)
        except (docker.errors.DockerException, OSError) as exc:
            raise unavailable(exc, self.docker_host) from exc
        return [self._launch_info(container) for container in found]

    async def remove(self, record: LaunchRecord) -> None:
        await remove_container(self._engine, record.ref)

    async def close(self) -> None:
        self._engine.close()

    # -- internals -----------------------------------------------------------------------------

    def _launch_info(self, container: Mapping[str, Any]) -> LaunchInfo:
        state = container.get("State") or {}
        config = container.get("Config") or {}
        labels = dict(config.get("Labels") or {})
        record = LaunchRecord(
            runtime=RUNTIME_NAME,
            ref=str(container["Id"]),
            details={
                "engineId": self._engine.engine_id,
                "image": config.get("Image", ""),
                "name": str(container.get("Name", "")).lstrip("/"),
                "dockerHost": self.docker_host,
            },
        )
        running = bool(state.get("Running"))
        return LaunchInfo(
            record=record,
            labels=labels,
            running=running,
            finished_at=None if running else engine_time(state.get("FinishedAt")),
            created_at=engine_time(container.get("Created")),
        )

    def _create_and_start(self, spec: LaunchSpec) -> tuple[str, str]:
        """Blocking (on the pool): the image checked, the container created under a free name
        and started. Returns its id and name."""
        import docker

        client = self._engine.client()
        image = str(spec.image)
        try:
            image_config = self._image_config(client.api, spec, image)
            kwargs = create_kwargs(
                spec,
                launcher_id=self._id,
                user=self._user,
                image_config=image_config,
                engine_cpus=self._engine.cpus,
            )
            container = self._create(client, spec.name, kwargs)
        except docker.errors.ImageNotFound as exc:
            raise self._missing_image(spec, image) from exc
        except docker.errors.APIError as exc:
            raise _launch_error(spec, exc) from exc
        except (docker.errors.DockerException, OSError) as exc:
            raise unavailable(exc, self.docker_host) from exc
        try:
            container.start()
        except (docker.errors.DockerException, OSError) as exc:
            # When the engine is gone too, the reaper finds the container by its labels.
            with contextlib.suppress(docker.errors.DockerException, OSError):
                container.remove(force=True)
            if isinstance(exc, docker.errors.APIError):
                raise _launch_error(spec, exc) from exc
            raise unavailable(exc, self.docker_host) from exc
        return str(container.id), str(container.name)

    def _image_config(self, api: Any, spec: LaunchSpec, image: str) -> dict[str, Any] | None:
        """The image's Config when the command depends on it (no command, some args); None
        otherwise, so most launches cost no image lookup (a missing image fails the create)."""
        import docker

        if _pull_always(spec.options):
            try:
                api.pull(image)
            except docker.errors.APIError as exc:
                raise LaunchError(f"cannot pull image {image!r}: {exc.explanation}") from exc
        if spec.command or not spec.args:
            return None
        return dict(api.inspect_image(image).get("Config") or {})

    def _missing_image(self, spec: LaunchSpec, image: str) -> LaunchError:
        return LaunchError(
            f"cannot launch {spec.name!r}: image {image!r} is not in the Docker engine "
            f"at {self.docker_host or 'the default socket'}; build it with `pop image build` "
            "(pop pulls an image only for an entry with pullAlways: true)",
            hint="build it with `pop image build` (offline: "
            '`pop image build --base "$(pop image base | tail -1)"`)',
            permanent=True,
        )

    def _create(self, client: Any, name: str, kwargs: dict[str, Any]) -> Container:
        import docker

        candidate = name
        for _ in range(_NAME_ATTEMPTS):
            try:
                container: Container = client.containers.create(name=candidate, **kwargs)
                return container
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            candidate = f"{name}-{secrets.token_hex(2)}"
        raise LaunchError(f"cannot launch {name!r}: every container name tried is taken")


_CAPABILITIES = Capabilities(host_cpus=True, python="python3", images=True)


def _inspect_managed(api: APIClient) -> list[dict[str, Any]]:
    """Blocking: the inspect of every pop-labelled container, running or not."""
    import docker

    summaries = api.containers(all=True, filters={"label": f"{MANAGED_BY_LABEL}={MANAGED_BY}"})
    found = []
    for summary in summaries:
        with contextlib.suppress(docker.errors.NotFound):  # removed since the listing
            found.append(dict(api.inspect_container(summary["Id"])))
    return found


async def _nothing() -> None:
    return None


def _pull_always(options: Mapping[str, Any]) -> bool:
    policy = str(options.get("imagePullPolicy") or "")
    return bool(options.get("pullAlways")) or policy == "Always"


def _launch_error(spec: LaunchSpec, exc: Any) -> LaunchError:
    """An engine refusal of this launch: permanent for a bad request (4xx: a mount source that
    does not exist, a name or a limit the engine rejects), retryable otherwise."""
    status = exc.status_code or 500
    reason = exc.explanation or str(exc)
    return LaunchError(f"cannot launch {spec.name!r}: {reason}", permanent=400 <= status < 500)
