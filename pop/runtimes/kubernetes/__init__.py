"""The kubernetes runtime (issue 12; tested on a simulated cluster only): the launcher and its
handle (``launcher``, ``handle``, ``follow``, ``client``), the pod of a launch (``podspec``), which
cluster and namespace (``config``), valid label values (``names``), the handler's annotation
reports (``reporter``) and the deploy manifests (``manifests``).

Layer: runtimes. The only place that imports the ``kubernetes`` client, lazily; nothing is
imported here, so ``pop --help`` never loads it.
"""
