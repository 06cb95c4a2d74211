"""What the library facade offers for Kubernetes: the manifests that prepare a cluster.

Layer: api. :class:`pop.api.Client` takes :meth:`K8sMixin.k8s_manifests` from here
(``pop k8s manifests`` calls it). The manifests are plain dicts built by
:mod:`pop.runtimes.kubernetes.manifests`, which imports no ``kubernetes`` client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pop.runtimes.kubernetes.manifests import ManifestSet


class K8sMixin:
    """``pop k8s manifests``."""

    if TYPE_CHECKING:

        def registry_document(self) -> dict[str, Any]: ...

    def k8s_manifests(
        self,
        *,
        version: str,
        namespace: str | None = None,
        executor: bool = False,
        image: str | None = None,
    ) -> ManifestSet:
        """The Namespace, RBAC, registry ConfigMap (this client's effective registry, as
        ``pop registry show`` prints it), work PVC and reaper CronJob for ``namespace``
        (default ``pop``); with ``executor`` also the store PVC and the executor Deployment.
        ``image`` defaults to ``pop-handlers:<version>`` (``version``: pop's, which the caller
        knows: the api does not import the package root). InputError for a bad namespace or
        image, before the registry is read."""
        import yaml

        from pop.runtimes.kubernetes.manifests import (
            DEFAULT_NAMESPACE,
            build_manifests,
            check_image,
            check_namespace,
            default_image,
        )

        namespace = DEFAULT_NAMESPACE if namespace is None else namespace
        image = default_image(version) if image is None else image
        check_namespace(namespace)
        check_image(image)
        registry_text = yaml.safe_dump(self.registry_document(), sort_keys=False)
        return build_manifests(
            namespace=namespace,
            image=image,
            registry_text=registry_text,
            executor=executor,
            version=version,
        )
