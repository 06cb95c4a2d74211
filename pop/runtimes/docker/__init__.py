"""The docker runtime: launches as containers on a Docker engine, and offline base images.

Layer: runtimes. Imported lazily by ``pop.runtimes.create_launcher("docker")`` (and by the image
commands); nothing else should import it. This package is the only place pop imports the
``docker`` SDK, and it does so inside functions, so importing it does not load the SDK.
"""

from pop.runtimes.docker.handle import DockerHandle
from pop.runtimes.docker.launcher import DockerLauncher

__all__ = ["DockerHandle", "DockerLauncher"]
