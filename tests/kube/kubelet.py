"""A kubelet (and scheduler) simulator for the Kubernetes API test server: it binds each new pod to
its node unless a test made it unschedulable (``server.make_unschedulable``, an unmapped claim,
or past ``cpu_capacity`` when one is set), runs the pod's first container through its runner
(``runners.LocalRunner``: a local process, ``python``/``python3`` being this interpreter and an
image-only pod running the argv registered for its image; ``runners.DockerRunner``: the real
engine), with the pod's env (plain values, downward-API ``fieldRef``, configmap and secret keys,
``envFrom``), ``workingDir`` and ``KUBECONFIG`` at the server (so a handler can patch its own
pod), feeds the log endpoint, writes Pending/Running/Succeeded/Failed statuses as a kubelet does,
and honours graceful deletion (SIGTERM, SIGKILL at the grace end) and ``activeDeadlineSeconds``.
``restartPolicy`` is treated as Never (pop's pods use Never); init containers and sidecars are
not run.

Volumes: ``persistentVolumeClaim`` and ``nfs`` volumes need a local folder registered with
``map_volume``; ``hostPath`` is the host path itself unless mapped; ``emptyDir``, ``configMap``
and ``secret`` get a folder per pod. A local process sees local paths: each mount path is
rewritten to its local folder in argv, env values and ``workingDir`` (mount at the local folder's
own path and nothing is rewritten); the Docker runner bind-mounts them instead.

Test infrastructure (DESIGN §13), not part of ``pop``; it talks to the store in-process, so its
writes do not show in the server's request counter.
"""

from __future__ import annotations

import base64
import contextlib
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.kube.runners import ContainerPlan, LocalRun, LocalRunner, NotReady, Run, Runner
from tests.kube.server import KubeApiServer
from tests.kube.store import ApiError, Obj, format_time, now, parse_time
from tests.kube.validation import quantity

NODE_NAME = "sim-node"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass
class _Container:
    namespace: str
    name: str
    uid: str
    started_at: datetime
    run: Run | None = None
    reader: threading.Thread | None = None
    exited: bool = False
    term_sent: bool = False
    kill_at: float | None = None
    deadline_exceeded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _condition(
    kind: str, status: bool, reason: str | None = None, message: str | None = None
) -> Obj:
    condition: Obj = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": format_time(now()),
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _cpu_request(pod: Obj) -> float:
    total = Decimal(0)
    for container in pod["spec"]["containers"]:
        requested = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
        if requested is not None:
            total += quantity(requested) or Decimal(0)
    return float(total)


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion; ``$$(VAR)`` escapes."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
        lambda match: "$" if match[0] == "$$" else env.get(match[1], match[0]),
        text,
    )


class KubeletSimulator:
    """Runs the pods of ``server``. ``folder`` holds per-pod scratch folders."""

    def __init__(
        self,
        server: KubeApiServer,
        folder: Path,
        *,
        runner: Runner | None = None,
        poll: float = 0.05,
    ) -> None:
        self.server = server
        self.store = server.store
        self.folder = folder
        self.poll = poll
        self.extra_env: dict[str, str] = {}
        self.cpu_capacity: float | None = None  # None: every pod fits; else requests are summed
        self._images: dict[str, tuple[list[str], list[str]]] = {}
        self.runner: Runner = runner or LocalRunner(self._images)
        self._volumes: dict[tuple[str, str], Path] = {}
        self._containers: dict[str, _Container] = {}
        self.node_name = NODE_NAME
        self._lock = threading.Lock()
        self._dirty: set[tuple[str, str]] = set()  # pods changed since the last pass
        self._active: set[tuple[str, str]] = set()  # pods not yet ended: looked at every pass
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet-sim", daemon=True)

    # -- test API ------------------------------------------------------------------------------

    def register_image(
        self, image: str, entrypoint: Iterable[str], cmd: Iterable[str] = ()
    ) -> None:
        """What an image runs when the pod gives no ``command`` (ENTRYPOINT, CMD); the pod's
        ``args`` replace ``cmd`` as in Docker."""
        self._images[image] = (list(entrypoint), list(cmd))

    def map_volume(self, kind: str, name: str, local: Path) -> None:
        """Back a volume with a local folder: ``("persistentVolumeClaim", claimName)``,
        ``("nfs", "server:/path")`` or ``("hostPath", path)``."""
        local.mkdir(parents=True, exist_ok=True)
        self._volumes[(kind, name)] = local

    def run_of(self, namespace: str, name: str) -> Run | None:
        """The running or finished container of a pod (a ``LocalRun`` or ``DockerRun``)."""
        with self._lock:
            for container in self._containers.values():
                if (container.namespace, container.name) == (namespace, name):
                    return container.run
        return None

    def process_of(self, namespace: str, name: str) -> subprocess.Popen[bytes] | None:
        """The local process of a pod (local runner only)."""
        run = self.run_of(namespace, name)
        return run.process if isinstance(run, LocalRun) else None

    def start(self) -> KubeletSimulator:
        with self.store.lock:
            self.server.kubelet_nodes.add(self.node_name)
            self.store.listeners.append(self._on_event)
            self._dirty.update(
                (pod["metadata"]["namespace"], pod["metadata"]["name"])
                for pod in self.store.items("pods")
            )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill every process this kubelet started and join its threads."""
        with self.store.lock:
            self.store.listeners.remove(self._on_event)
            self.server.kubelet_nodes.discard(self.node_name)
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        with self._lock:
            containers = list(self._containers.values())
        for container in containers:
            if container.run is not None and container.run.alive():
                container.run.signal(signal.SIGKILL)
        for container in containers:
            if container.reader is not None:
                container.reader.join(timeout=10)
            if container.run is not None:
                container.run.remove()

    def leftovers(self) -> list[str]:
        """Threads and containers of this kubelet still running (none after ``stop()``)."""
        with self._lock:
            containers = list(self._containers.values())
        left = [self._thread.name] if self._thread.is_alive() else []
        for container in containers:
            if container.reader is not None and container.reader.is_alive():
                left.append(container.reader.name)
            if container.run is not None and container.run.alive():
                left.append(f"{container.namespace}/{container.name}: {container.run.container_id}")
        return left

    # -- the loop ------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        """Store listener (under the store's lock): note the pod, wake the loop."""
        if event.resource == "pods":
            with self._lock:
                self._dirty.add((event.namespace, event.new["metadata"]["name"]))
            self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.poll)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self._reconcile()

    def _reconcile(self) -> None:
        with self._lock:
            keys = self._dirty | self._active
            self._dirty.clear()
            started = [c for c in self._containers.values() if not c.exited and c.run]
        for container in started:  # force-deleted (grace 0) while running: kill at once
            pod = self.store.find("pods", container.namespace, container.name)
            if (pod is None or pod["metadata"]["uid"] != container.uid) and container.run:
                container.run.signal(signal.SIGKILL)
        for key in sorted(keys):
            pod = self.store.find("pods", *key)
            try:
                active = pod is not None and self._reconcile_pod(pod)
            except ApiError:
                active = True  # the pod changed between reading and writing: next pass
            with self._lock:
                if active:
                    self._active.add(key)
                else:
                    self._active.discard(key)

    def _reconcile_pod(self, pod: Obj) -> bool:
        """One step for one pod; True while the pod needs another look next pass."""
        metadata, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
        with self._lock:
            container = self._containers.get(uid)
        running = container is not None and container.run is not None and not container.exited
        if spec.get("nodeName") not in (None, self.node_name):
            return False  # another node's pod (seeded): not ours to run
        if "deletionTimestamp" in metadata:
            if running:
                assert container is not None
                grace = int(metadata.get("deletionGracePeriodSeconds") or 0)
                self._terminate(container, grace)
                return True
            with self._lock:
                gone = self._containers.pop(uid, None)
            if gone is not None and gone.run is not None:
                gone.run.remove()  # the container goes before the pod object, as on a node
            with contextlib.suppress(ApiError):
                self.store.remove("pods", namespace, name)
            return False
        if status.get("phase") in ("Succeeded", "Failed"):
            return False
        if not spec.get("nodeName"):
            self._schedule(pod)
            return True
        deadline, started = spec.get("activeDeadlineSeconds"), status.get("startTime")
        overdue = (
            deadline is not None
            and started is not None
            and (now() - parse_time(started)).total_seconds() >= deadline
        )
        if overdue:
            if running:
                assert container is not None
                container.deadline_exceeded = True
                self._terminate(container, int(spec.get("terminationGracePeriodSeconds", 30)))
            elif container is None or container.run is None:
                self._write_status(namespace, name, self._deadline_status)
            return True
        if container is None:
            self._start(pod)
        return True

    def _schedule(self, pod: Obj) -> None:
        metadata = pod["metadata"]
        message = (
            self.server.unschedulable_message(pod)
            or self._missing_claims(pod)
            or self._insufficient_cpu(pod)
        )
        if message:
            condition = _condition("PodScheduled", False, "Unschedulable", message)

            def unschedulable(obj: Obj) -> None:
                existing = [
                    c for c in obj["status"].get("conditions") or [] if c["type"] == "PodScheduled"
                ]
                if existing and existing[0].get("message") == message:
                    return
                obj["status"]["conditions"] = [condition]

            self.store.update("pods", metadata["namespace"], metadata["name"], unschedulable)
            return

        def bind(obj: Obj) -> None:
            obj["spec"]["nodeName"] = NODE_NAME
            obj["status"].update(
                conditions=[_condition("PodScheduled", True)],
                hostIP="127.0.0.1",
                startTime=format_time(now()),
            )

        self.store.update("pods", metadata["namespace"], metadata["name"], bind)

    def _insufficient_cpu(self, pod: Obj) -> str | None:
        if self.cpu_capacity is None:
            return None
        used = sum(
            _cpu_request(other)
            for other in self.store.items("pods")
            if other["spec"].get("nodeName") == self.node_name
            and other["status"].get("phase") not in ("Succeeded", "Failed")
        )
        if used + _cpu_request(pod) > self.cpu_capacity:
            return "0/1 nodes are available: 1 Insufficient cpu."
        return None

    def _missing_claims(self, pod: Obj) -> str | None:
        for volume in pod["spec"].get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and ("persistentVolumeClaim", claim) not in self._volumes:
                return f'0/1 nodes are available: persistentvolumeclaim "{claim}" not found.'
        return None

    # -- containers ----------------------------------------------------------------------------

    def _start(self, pod: Obj) -> None:
        metadata, spec = pod["metadata"], pod["spec"]
        namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
        first = spec["containers"][0]
        container = _Container(namespace, name, uid, now())
        try:
            failure = self.server.image_failure(first["image"])
            if failure:
                raise NotReady(*failure)
            plan = self._plan(pod, first)
            self.store.start_log(namespace, name)
            container.run = self.runner.start(plan)
        except NotReady as not_ready:
            with self.store.lock:
                self.store.logs.pop((namespace, name), None)
            self._write_status(namespace, name, self._waiting_status(first, not_ready))
            with self._lock:  # waiting for good: a test hook decides, not a retry loop
                self._containers[uid] = container
            return
        except OSError as error:  # the command does not exist or cannot run
            container.exited = True
            with self._lock:
                self._containers[uid] = container
            self.store.end_log(namespace, name)
            self._write_status(
                namespace, name, self._terminated_status(container, first, 128, str(error))
            )
            return
        container.reader = threading.Thread(
            target=self._follow, args=(container, first), name=f"kubelet-{name}", daemon=True
        )
        with self._lock:
            self._containers[uid] = container
        try:
            self._write_status(namespace, name, self._running_status(container, first))
        finally:  # even when the pod was deleted meanwhile: the reader sees the run to its end
            container.reader.start()

    def _follow(self, container: _Container, spec: Obj) -> None:
        run = container.run
        assert run is not None
        for line in run.lines():
            self.store.append_log(container.namespace, container.name, line)
        exit_code = run.wait()
        self.store.end_log(container.namespace, container.name)
        with contextlib.suppress(ApiError):
            self._write_status(
                container.namespace,
                container.name,
                self._terminated_status(container, spec, exit_code),
            )
        container.exited = True
        found = self.store.find("pods", container.namespace, container.name)
        if found is None or found["metadata"]["uid"] != container.uid:  # force-deleted
            with self._lock:
                self._containers.pop(container.uid, None)
            run.remove()
        self._wake.set()

    def _terminate(self, container: _Container, grace: int) -> None:
        assert container.run is not None
        if not container.term_sent:
            container.term_sent = True
            container.kill_at = time.monotonic() + grace
            container.run.signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
        elif container.kill_at is not None and time.monotonic() >= container.kill_at:
            container.kill_at = None
            container.run.signal(signal.SIGKILL)

    def _plan(self, pod: Obj, first: Obj) -> ContainerPlan:
        metadata = pod["metadata"]
        env: dict[str, str] = {}
        for source in first.get("envFrom") or []:
            resource = "configmaps" if "configMapRef" in source else "secrets"
            reference = source.get("configMapRef") or source.get("secretRef") or {}
            data = self._data(resource, metadata["namespace"], reference)
            env.update({(source.get("prefix") or "") + k: v for k, v in data.items()})
        for item in first.get("env") or []:
            if "valueFrom" in item:
                env[item["name"]] = self._value_from(pod, item["valueFrom"])
            else:
                env[item["name"]] = _expand(item.get("value") or "", env)
        scratch = self.folder / f"{metadata['namespace']}-{metadata['name']}-{metadata['uid'][:8]}"
        scratch.mkdir(parents=True, exist_ok=True)
        return ContainerPlan(
            namespace=metadata["namespace"],
            name=metadata["name"],
            uid=metadata["uid"],
            image=first["image"],
            command=[_expand(part, env) for part in first.get("command") or []],
            args=[_expand(part, env) for part in first.get("args") or []],
            env=env,
            working_dir=first.get("workingDir"),
            mounts=self._mounts(pod, first),
            scratch=scratch,
            kubeconfig=self.server.pod_kubeconfig,
            extra_env=dict(self.extra_env),
            read_only={
                mount["mountPath"]
                for mount in first.get("volumeMounts") or []
                if mount.get("readOnly")
            },
        )

    def _value_from(self, pod: Obj, source: Obj) -> str:
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            labelled = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
            if labelled:
                return str((pod["metadata"].get(labelled[1]) or {}).get(labelled[2], ""))
            section, _, key = path.partition(".")
            if path in ("status.podIP", "status.hostIP"):
                return "127.0.0.1"
            if path == "spec.serviceAccountName":
                return str(pod["spec"].get("serviceAccountName") or "default")
            value = (pod.get(section) or {}).get(key)
            if value is None:
                raise NotReady("CreateContainerConfigError", f"unsupported fieldPath {path!r}")
            return str(value)
        for ref_kind, resource, label in (
            ("configMapKeyRef", "configmaps", "ConfigMap"),
            ("secretKeyRef", "secrets", "Secret"),
        ):
            if ref_kind not in source:
                continue
            reference = source[ref_kind]
            data = self._data(resource, pod["metadata"]["namespace"], reference)
            if reference["key"] not in data:
                if reference.get("optional"):
                    return ""
                raise NotReady(
                    "CreateContainerConfigError",
                    f"couldn't find key {reference['key']} in {label} "
                    f"{pod['metadata']['namespace']}/{reference['name']}",
                )
            return data[reference["key"]]
        kind = next(iter(source), "?")
        raise NotReady("CreateContainerConfigError", f"{kind} is not simulated")

    def _data(self, resource: str, namespace: str, reference: Obj) -> dict[str, str]:
        """A configmap's data or a secret's decoded data; NotReady when missing (not optional)."""
        name = reference.get("name") or reference.get("secretName") or ""
        found = self.store.find(resource, namespace, name)
        if found is None:
            if reference.get("optional"):
                return {}
            singular = "configmap" if resource == "configmaps" else "secret"
            raise NotReady("CreateContainerConfigError", f'{singular} "{name}" not found')
        data = dict(found.get("data") or {})
        if resource == "secrets":
            data = {key: base64.b64decode(value).decode() for key, value in data.items()}
        return data

    def _mounts(self, pod: Obj, first: Obj) -> list[tuple[str, Path]]:
        metadata = pod["metadata"]
        pod_folder = self.folder / f"{metadata['namespace']}-{metadata['name']}-volumes"
        folders: dict[str, Path] = {}
        for volume in pod["spec"].get("volumes") or []:
            volume_name = volume["name"]
            if "persistentVolumeClaim" in volume:
                folders[volume_name] = self._volumes[
                    ("persistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
                ]
            elif "hostPath" in volume:
                path = volume["hostPath"]["path"]
                folders[volume_name] = self._volumes.get(("hostPath", path), Path(path))
            elif "nfs" in volume:
                key = f"{volume['nfs']['server']}:{volume['nfs']['path']}"
                if ("nfs", key) not in self._volumes:
                    raise NotReady(
                        "ContainerCreating",
                        f'MountVolume.SetUp failed for volume "{volume_name}": nfs {key} is not '
                        "mapped in the kubelet simulator",
                    )
                folders[volume_name] = self._volumes[("nfs", key)]
            else:
                folder = pod_folder / volume_name
                folder.mkdir(parents=True, exist_ok=True)
                kind = "configMap" if "configMap" in volume else "secret"
                if kind in volume:
                    resource = "configmaps" if kind == "configMap" else "secrets"
                    data = self._data(resource, metadata["namespace"], volume[kind])
                    items = volume[kind].get("items")
                    chosen = (
                        {item["path"]: data.get(item["key"], "") for item in items}
                        if items
                        else data
                    )
                    for relative, text in chosen.items():
                        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                        (folder / relative).write_text(text)
                folders[volume_name] = folder
        mounts: list[tuple[str, Path]] = []
        for mount in first.get("volumeMounts") or []:
            base = folders.get(mount["name"])
            if base is None:
                raise NotReady(
                    "CreateContainerConfigError", f'volume "{mount["name"]}" is not defined'
                )
            target = base / mount["subPath"] if mount.get("subPath") else base
            target.mkdir(parents=True, exist_ok=True)
            mounts.append((mount["mountPath"], target))
        return sorted(mounts, key=lambda pair: len(pair[0]), reverse=True)

    # -- statuses ------------------------------------------------------------------------------

    def _write_status(self, namespace: str, name: str, status: Any) -> None:
        def change(obj: Obj) -> None:
            obj["status"] = status(obj) if callable(status) else status

        self.store.update("pods", namespace, name, change)

    @staticmethod
    def _base(container: Obj, state: Obj, *, ready: bool, container_id: str | None) -> Obj:
        entry: Obj = {
            "name": container["name"],
            "image": container["image"],
            "imageID": f"sim://{container['image']}",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
            "lastState": {},
        }
        if container_id:
            entry["containerID"] = container_id
        return entry

    def _running_status(self, container: _Container, spec: Obj) -> Any:
        assert container.run is not None
        started = format_time(container.started_at)
        entry = self._base(
            spec,
            {"running": {"startedAt": started}},
            ready=True,
            container_id=container.run.container_id,
        )

        def status(obj: Obj) -> Obj:
            current = obj.get("status") or {}
            return {
                **current,
                "phase": "Running",
                "conditions": [
                    _condition("PodReadyToStartContainers", True),
                    _condition("Initialized", True),
                    _condition("Ready", True),
                    _condition("ContainersReady", True),
                    _condition("PodScheduled", True),
                ],
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": current.get("startTime") or started,
                "containerStatuses": [entry],
            }

        return status

    def _waiting_status(self, spec: Obj, not_ready: NotReady) -> Any:
        entry = self._base(
            spec,
            {"waiting": {"reason": not_ready.reason, "message": not_ready.message}},
            ready=False,
            container_id=None,
        )
        unready = f"containers with unready status: [{spec['name']}]"

        def status(obj: Obj) -> Obj:
            current = obj.get("status") or {}
            return {
                **current,
                "phase": "Pending",
                "conditions": [
                    _condition("Initialized", True),
                    _condition("Ready", False, "ContainersNotReady", unready),
                    _condition("ContainersReady", False, "ContainersNotReady", unready),
                    _condition("PodScheduled", True),
                ],
                "containerStatuses": [entry],
            }

        return status

    def _terminated_status(
        self, container: _Container, spec: Obj, exit_code: int, message: str | None = None
    ) -> Any:
        terminated: Obj = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": format_time(container.started_at),
            "finishedAt": format_time(now()),
        }
        if message:
            terminated.update(reason="StartError", message=message)
        container_id = container.run.container_id if container.run else None
        if container_id:
            terminated["containerID"] = container_id
        entry = self._base(spec, {"terminated": terminated}, ready=False, container_id=container_id)
        succeeded = exit_code == 0 and not container.deadline_exceeded
        reason = "PodCompleted" if succeeded else "PodFailed"

        def status(obj: Obj) -> Obj:
            current = obj.get("status") or {}
            result = {
                **current,
                "phase": "Succeeded" if succeeded else "Failed",
                "conditions": [
                    _condition("PodReadyToStartContainers", False),
                    _condition("Initialized", True),
                    _condition("Ready", False, reason),
                    _condition("ContainersReady", False, reason),
                    _condition("PodScheduled", True),
                ],
                "containerStatuses": [entry],
            }
            if container.deadline_exceeded:
                result.update(reason="DeadlineExceeded", message=DEADLINE_MESSAGE)
            return result

        return status

    @staticmethod
    def _deadline_status(obj: Obj) -> Obj:
        return {
            **(obj.get("status") or {}),
            "phase": "Failed",
            "reason": "DeadlineExceeded",
            "message": DEADLINE_MESSAGE,
        }


def start_kubelet(
    server: KubeApiServer, folder: Path, *, runner: Runner | None = None
) -> KubeletSimulator:
    """Start a kubelet simulator for ``server`` (local processes unless ``runner``, e.g.
    ``DockerRunner(docker_client)``); call ``stop()`` when done (``kubelet`` fixture)."""
    folder.mkdir(parents=True, exist_ok=True)
    return KubeletSimulator(server, folder, runner=runner).start()
