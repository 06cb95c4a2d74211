"""A simulated Kubernetes cluster for the tests (DESIGN §13): results from it are "simulated
cluster", never a cluster run.

- ``server.py``: ``start_api_server(folder) -> KubeApiServer``, a real HTTP server on a loopback
  port speaking core/v1 pods, pods/log, pods/status and configmaps to the official client;
  ``.kubeconfig`` (the tests'), ``.pod_kubeconfig`` (what pods get), ``.write_kubeconfig(...)``;
  hooks ``forbid``, ``fail_requests``, ``break_streams``, ``make_unschedulable``, ``fail_image``,
  ``seed_pod``, ``store.compact``, ``anonymous_user`` (for kubectl); ``count``/``requests`` (the
  request counter); ``wait_for_pod``.
- ``kubelet.py``: ``start_kubelet(server, folder, runner=None) -> KubeletSimulator``, which runs
  each pod (local processes, or ``runners.DockerRunner`` on a real engine); ``register_image``,
  ``map_volume``, ``extra_env``, ``cpu_capacity``, ``run_of``/``process_of``.
- ``fixtures.py``: ``kube_api``, ``kubelet``, ``docker_kubelet``, ``core_v1``.
- ``store.py`` (objects, history, logs, selectors), ``validation.py`` (the 422s),
  ``endpoints.py`` (the request handlers), ``runners.py`` (local and Docker containers).
"""
