"""What the library facade offers around launches: images for the image runtimes, and the
reaper of launches left behind.

Layer: api. :class:`pop.api.Client` takes these methods from :class:`LaunchesMixin`:
``pop image base``, ``pop image build`` and ``pop reap containers`` each call one of them. The
docker runtime is imported inside the methods, so importing ``pop.api`` loads no docker SDK.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pop.errors import InputError

if TYPE_CHECKING:
    from pop.config import Settings
    from pop.runtimes.docker.build import ImageBuild
    from pop.services.launch_reaper import AttemptKey, ReapedLaunch
    from pop.store import Store

DEFAULT_REAP_LAUNCHES_AGE = 24 * 3600.0
REAP_PODS_RATE = 1000.0  # requests a second for `pop reap pods` (the launcher: 20)

Log = Callable[[str], None]


class LaunchesMixin:
    """``pop image base|build``, ``pop reap containers`` and ``pop reap pods``."""

    if TYPE_CHECKING:
        settings: Settings

        @property
        def store(self) -> Store: ...

    # -- images (pop image ...) ----------------------------------------------------------------

    def build_base_image(
        self,
        *,
        suite: str | None = None,
        mirror: str | None = None,
        docker_host: str | None = None,
        log: Log = print,
    ) -> str:
        """Build (or find, by its recipe tag) the offline ``pop-base`` image; its tag."""
        from pop.runtimes.docker.base_image import (
            DEFAULT_MIRROR,
            DEFAULT_SUITE,
            build_base_image,
        )

        return build_base_image(
            suite=suite or DEFAULT_SUITE,
            mirror=mirror or DEFAULT_MIRROR,
            docker_host=docker_host or "",
            log=log,
        )

    def build_handlers_image(
        self,
        *,
        version: str,
        base: str | None = None,
        tag: str | None = None,
        push: str | None = None,
        docker_host: str | None = None,
        log: Log = print,
    ) -> ImageBuild:
        """Build (or find, by its recipe) the ``pop-handlers:<version>`` image on ``base``
        (``version``: pop's, which the caller knows: the api does not import the package
        root)."""
        from pop.runtimes.docker.build import DEFAULT_BASE, build_handlers_image

        return build_handlers_image(
            version=version,
            base=base or DEFAULT_BASE,
            tag=tag,
            push=push,
            docker_host=docker_host or "",
            log=log,
        )

    # -- the launch reaper (pop reap containers) -----------------------------------------------

    def open_launches(self) -> tuple[set[str], set[AttemptKey]]:
        """The refs of what every open attempt (no end time) launched, its externals included,
        and those attempts' (agenda id, operation, number): what no reaper may touch."""
        from pop.services.launch_reaper import open_launch_keys

        return open_launch_keys(self.store.attempts.all_open())

    def reap_containers(
        self,
        *,
        older_than: float | None = None,
        dry_run: bool = False,
        docker_host: str | None = None,
        selector: Mapping[str, str] | None = None,
    ) -> builtins.list[ReapedLaunch]:
        """Remove pop's finished containers that finished more than ``older_than`` seconds ago
        (default 24 h) on the engine at ``docker_host``; ``dry_run`` removes none. Every
        pop-labelled container (matching ``selector``) is reported with what was done."""
        import asyncio  # here, not at import: `pop list` and friends never need it

        return asyncio.run(
            self._reap_launches(
                "docker",
                {"docker_host": docker_host} if docker_host else {},
                older_than=DEFAULT_REAP_LAUNCHES_AGE if older_than is None else older_than,
                dry_run=dry_run,
                selector=selector,
            )
        )

    def reap_pods(
        self,
        *,
        older_than: float | None = None,
        dry_run: bool = False,
        kube: Mapping[str, str] | None = None,
        selector: Mapping[str, str] | None = None,
        batch_size: int = 50,
        max_runtime: float | None = None,
        orphans: bool = False,
    ) -> builtins.list[ReapedLaunch]:
        """Delete pop's finished pods (POP's pod reaper: finish time from the first container's
        end, else the pod's start) that finished ``older_than`` seconds ago or more (default
        24 h), in batches of ``batch_size``, no new batch after ``max_runtime`` seconds; ``kube``
        holds ``kubeconfig``, ``context``, ``namespace``; ``dry_run`` deletes none. ``orphans``:
        also running pods this store no longer needs (their attempt ended, their agenda is
        complete), whatever their age."""
        if batch_size < 1:
            raise InputError(f"the batch size must be at least 1 (got {batch_size})")
        # POP's reaper deletes a batch at once: its client is not held to the launcher's
        # 20 requests/s (the API server's priority and fairness answers 429 when busy, retried)
        options = {"rate": str(REAP_PODS_RATE), "burst": str(batch_size), **(kube or {})}
        import asyncio  # here, not at import: `pop list` and friends never need it

        return asyncio.run(
            self._reap_launches(
                "kubernetes",
                options,
                older_than=DEFAULT_REAP_LAUNCHES_AGE if older_than is None else older_than,
                dry_run=dry_run,
                selector=selector,
                batch_size=batch_size,
                max_runtime=max_runtime,
                orphans=orphans,
            )
        )

    async def _reap_launches(
        self,
        runtime: str,
        options: Mapping[str, Any],
        *,
        older_than: float,
        dry_run: bool,
        selector: Mapping[str, str] | None,
        batch_size: int = 50,
        max_runtime: float | None = None,
        orphans: bool = False,
    ) -> builtins.list[ReapedLaunch]:
        from pop.runtimes import create_launcher
        from pop.runtimes.base import ListingLauncher
        from pop.services.launch_reaper import (
            list_pop_launches,
            reap_launches,
            store_orphan_cause,
        )

        if older_than < 0:
            raise InputError(f"the age must not be negative (got {older_than:g} s)")
        launcher = create_launcher(runtime, options=dict(options))
        try:
            if not isinstance(launcher, ListingLauncher):
                raise InputError(f"the {runtime} runtime keeps no launches to reap")
            await launcher.check()
            listed = await list_pop_launches(launcher, selector)
            # Read after the listing: an attempt row exists before its launch, so a listed
            # launch whose attempt is not open now is never needed again.
            open_refs, open_attempts = self.open_launches()
            return await reap_launches(
                launcher,
                older_than_seconds=older_than,
                dry_run=dry_run,
                open_refs=open_refs,
                open_attempts=open_attempts,
                listed=listed,
                batch_size=batch_size,
                max_runtime_seconds=max_runtime,
                orphan_cause=store_orphan_cause(self.store) if orphans else None,
            )
        finally:
            await launcher.close()
