"""How the kubelet simulator runs a pod's first container: as a local process (``LocalRunner``,
the default) or as a container on a real Docker engine (``DockerRunner``, for end-to-end tests
with an image such as ``pop-handlers``).

The kubelet turns the pod into a ``ContainerPlan`` (expanded command, args and env, container
paths, volumes already resolved to local folders); a runner starts it and gives back a ``Run``:
its output lines, its exit code, signals, removal.

Test infrastructure (DESIGN §13), not part of ``pop``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")
CONTAINER_KUBECONFIG = "/var/run/pop-kube/kubeconfig"


class NotReady(Exception):
    """The container cannot start: (waiting reason, message)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class ContainerPlan:
    """What to run, in the container's terms."""

    namespace: str
    name: str
    uid: str
    image: str
    command: list[str]  # empty: the image's entrypoint
    args: list[str]  # empty: the image's cmd (when command is empty too)
    env: dict[str, str]  # the pod's env, expanded, in order
    working_dir: str | None
    mounts: list[tuple[str, Path]]  # (mountPath, local folder), longest mount path first
    scratch: Path  # a folder of this pod's own (the local runner's default cwd)
    kubeconfig: Path  # the server's kubeconfig for pods
    extra_env: dict[str, str] = field(default_factory=dict)  # the test's, under the pod's
    read_only: set[str] = field(default_factory=set)  # mount paths mounted readOnly


class Run(Protocol):
    container_id: str

    def lines(self) -> Iterator[bytes]: ...

    def wait(self) -> int: ...

    def alive(self) -> bool: ...

    def signal(self, signum: int) -> None: ...

    def remove(self) -> None: ...


class Runner(Protocol):
    def start(self, plan: ContainerPlan) -> Run: ...


# ---------------------------------------------------------------------------------------------


class LocalRun:
    """A process in its own process group; stdout and stderr merged."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.container_id = f"sim://{process.pid}"

    def lines(self) -> Iterator[bytes]:
        assert self.process.stdout is not None
        yield from iter(self.process.stdout.readline, b"")
        self.process.stdout.close()

    def wait(self) -> int:
        code = self.process.wait()
        return 128 - code if code < 0 else code

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def remove(self) -> None:
        """Nothing left behind by a process once it has been waited for."""


class LocalRunner:
    """Runs ``command`` + ``args`` here (``python``/``python3``: this interpreter; an image without
    command: its registered entrypoint and cmd). Mount paths in argv, env values and workingDir
    are rewritten to their local folders."""

    def __init__(self, images: dict[str, tuple[list[str], list[str]]]) -> None:
        self.images = images

    def start(self, plan: ContainerPlan) -> LocalRun:
        def local(text: str) -> str:
            for mount_path, folder in plan.mounts:
                text = re.sub(
                    r"(?<![\w.-])" + re.escape(mount_path.rstrip("/")) + r"(?=/|$|[^\w.-])",
                    str(folder).replace("\\", "\\\\"),
                    text,
                )
            return text

        command, args = plan.command, plan.args
        if not command:
            if plan.image not in self.images:
                raise NotReady(
                    "CreateContainerConfigError",
                    f"kubelet simulator: no argv registered for image {plan.image!r} and no "
                    "command",
                )
            entrypoint, cmd = self.images[plan.image]
            command, args = entrypoint, args or cmd
        argv = [local(part) for part in command + args]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
        env.update(HOSTNAME=plan.name, KUBECONFIG=str(plan.kubeconfig))
        env.update(plan.extra_env)
        env.update({key: local(value) for key, value in plan.env.items()})
        cwd = local(plan.working_dir) if plan.working_dir else str(plan.scratch)
        Path(cwd).mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return LocalRun(process)


# ---------------------------------------------------------------------------------------------


class DockerRun:
    """A container on the engine; its log stream (stdout and stderr) split into lines."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.container_id = f"docker://{container.id}"
        self._exited = False

    def lines(self) -> Iterator[bytes]:
        pending = b""
        for chunk in self.container.logs(stream=True, follow=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line + b"\n"
        if pending:
            yield pending

    def wait(self) -> int:
        code = int(self.container.wait()["StatusCode"])
        self._exited = True
        return code

    def alive(self) -> bool:
        return not self._exited

    def signal(self, signum: int) -> None:
        import docker

        with contextlib.suppress(docker.errors.APIError):
            self.container.kill(signal=signum)

    def remove(self) -> None:
        import docker

        with contextlib.suppress(docker.errors.APIError):
            self.container.remove(force=True)


class DockerRunner:
    """Runs the pod's container on a Docker engine: the image's entrypoint unless ``command``,
    the pod's env, ``workingDir`` and volumes bind-mounted at their mount paths, the pod
    kubeconfig at ``/var/run/pop-kube/kubeconfig`` (``KUBECONFIG``), host network (so the
    server's loopback address answers). ``labels`` go on every container (the test engine's
    session label lets its finalizer remove leftovers)."""

    def __init__(self, client: Any, *, labels: dict[str, str] | None = None) -> None:
        self.client = client
        self.labels = labels or {}

    def start(self, plan: ContainerPlan) -> DockerRun:
        import docker

        env = {"HOSTNAME": plan.name, "KUBECONFIG": CONTAINER_KUBECONFIG}
        env.update(plan.extra_env)
        env.update(plan.env)
        volumes = {str(plan.kubeconfig): {"bind": CONTAINER_KUBECONFIG, "mode": "ro"}}
        for path, folder in plan.mounts:
            mode = "ro" if path in plan.read_only else "rw"
            volumes[str(folder)] = {"bind": path, "mode": mode}
        try:
            container = self.client.containers.run(
                plan.image,
                command=plan.args or None,
                entrypoint=plan.command or None,
                environment=env,
                working_dir=plan.working_dir,
                volumes=volumes,
                network_mode="host",
                labels={**self.labels, "pop.kubelet-sim/pod": f"{plan.namespace}.{plan.name}"},
                name=f"pop-kubelet-{plan.name[:40]}-{plan.uid[:8]}",
                detach=True,
            )
        except docker.errors.ImageNotFound as error:
            raise NotReady("ErrImageNeverPull", str(error)) from error
        except docker.errors.APIError as error:
            raise NotReady("CreateContainerError", str(error)) from error
        return DockerRun(container)
