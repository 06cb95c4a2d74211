"""``pop k8s manifests``: the objects that prepare a Kubernetes cluster for pop.

Layer: cli. Calls :meth:`pop.api.Client.k8s_manifests` and prints a YAML stream for
``kubectl apply -f -`` (``--json``: a JSON list of the same objects). ``deploy/kubernetes/``
holds the output of ``pop k8s manifests`` and of ``pop k8s manifests --executor``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pop.cli.options import JsonFlag

app = typer.Typer(
    help="Print the manifests that prepare a cluster for pop's kubernetes runtime (tested on a "
    "simulated cluster only).",
    no_args_is_help=True,
)


@app.command("manifests")
def manifests(
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", metavar="N", help="Namespace of every object (default pop)."),
    ] = None,
    executor: Annotated[
        bool,
        typer.Option(
            "--executor",
            help="Also an in-cluster executor and the ReadWriteOnce volume of its store: a "
            "one-replica Deployment running `pop executor --launch kubernetes`.",
        ),
    ] = False,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            metavar="IMAGE",
            help="Image of the reaper and the executor (default pop-handlers:<pop version>, "
            "what `pop image build` tags).",
        ),
    ] = None,
    registry_file: Annotated[
        Path | None,
        typer.Option("--registry", metavar="FILE", help="Registry file for the ConfigMap."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Print the Namespace, ServiceAccount pop-service with its Role and RoleBinding, the
    registry ConfigMap, the pop-work volume claim and the pod reaper CronJob, as YAML for
    `kubectl apply -f -`."""
    from pop import __version__
    from pop.api import Client

    manifest_set = Client(registry_path=registry_file).k8s_manifests(
        version=__version__, namespace=namespace, executor=executor, image=image
    )
    if json_output:
        from pop.cli.render import print_json

        print_json(manifest_set.objects())
    else:
        sys.stdout.write(manifest_set.to_yaml())
