"""The kubernetes runtime (issue 12; the launcher is not built yet): which cluster and namespace
(``config``), valid label values (``names``) and the deploy manifests (``manifests``).

Layer: runtimes. The only place that will import the ``kubernetes`` client, lazily; nothing is
imported here, so ``pop --help`` never loads it.
"""
