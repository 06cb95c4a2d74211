"""The handler side's standard-library patch (pop.runtimes.kubernetes.patcher): the same request
as the official client for plain configurations, over TLS with the cluster's CA and a client
certificate, the official client for anything else, and no ``kubernetes`` import in a handler
that reports through its pod (simulated cluster of tests/kube, plus a local TLS endpoint)."""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pop.errors import PopError
from pop.runtimes.kubernetes.patcher import direct_patcher
from tests.kube.server import KubeApiServer


def kubeconfig(path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("cluster", "user"),
    [
        ({"server": "https://k:6443"}, {"exec": {"command": "aws", "apiVersion": "v1"}}),
        ({"server": "https://k:6443"}, {"auth-provider": {"name": "oidc"}}),
        ({"server": "https://k:6443"}, {"username": "a", "password": "b"}),
        ({"server": "https://k:6443", "proxy-url": "http://p:3128"}, {"token": "t"}),
        ({"server": "https://k:6443", "tls-server-name": "api"}, {"token": "t"}),
    ],
)
def test_configurations_beyond_a_token_or_certificate_use_the_official_client(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]
) -> None:
    path = kubeconfig(tmp_path / "config", cluster, user)
    assert direct_patcher({"KUBECONFIG": str(path)}) is None


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("secret\n")
    path = kubeconfig(tmp_path / "config", {"server": "http://k:8080"}, {"tokenFile": "token"})
    found = direct_patcher({"KUBECONFIG": str(path)})
    assert found is not None
    assert (found[0].server, found[0].token) == ("http://k:8080", "secret")


def test_oauth_files_need_a_master_url(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    with pytest.raises(PopError, match="masterUrl"):
        direct_patcher({}, oauth_cert_path="ca.crt", oauth_token_path=str(tmp_path / "token"))


# -- over TLS ---------------------------------------------------------------------------------


def _make_certificates(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all from openssl."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=handler")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.cnf",
                "-out", f"{name}.crt")  # fmt: skip
    return (folder / "ca.crt", folder / "server.crt", folder / "server.key", folder / "client")


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, Any]]

    def do_PATCH(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        peer = self.request.getpeercert()  # type: ignore[attr-defined]
        self.seen.append(
            {
                "path": self.path,
                "headers": dict(self.headers),
                "body": json.loads(self.rfile.read(length)),
                "client": dict(item[0] for item in peer["subject"]) if peer else None,
            }
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tls_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key, client = _make_certificates(folder)
    seen: list[dict[str, Any]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "url": f"https://127.0.0.1:{server.server_address[1]}",
            "ca": ca,
            "client": client,
            "seen": seen,
        }
    finally:
        server.shutdown()
        server.server_close()


def test_over_tls_with_the_clusters_ca_a_token_and_a_client_certificate(
    tls_endpoint: dict[str, Any], tmp_path: Path
) -> None:
    client = tls_endpoint["client"]
    cluster = {
        "server": tls_endpoint["url"],
        "certificate-authority-data": base64.b64encode(tls_endpoint["ca"].read_bytes()).decode(),
    }
    user = {
        "token": "sa-token",
        "client-certificate-data": base64.b64encode(Path(f"{client}.crt").read_bytes()).decode(),
        "client-key": str(Path(f"{client}.key")),
    }
    path = kubeconfig(tmp_path / "config", cluster, user)
    found = direct_patcher({"KUBECONFIG": str(path)})
    assert found is not None
    patcher, _ = found

    patcher.patch_namespaced_pod("p-1", "jobs", {"metadata": {"annotations": {"a": "b"}}})

    (request,) = tls_endpoint["seen"][-1:]
    assert request["path"] == "/api/v1/namespaces/jobs/pods/p-1"
    assert request["headers"]["Content-Type"] == "application/merge-patch+json"
    assert request["headers"]["Authorization"] == "Bearer sa-token"
    assert request["body"] == {"metadata": {"annotations": {"a": "b"}}}
    assert request["client"] == {"commonName": "handler"}


def test_a_server_the_ca_did_not_sign_is_refused(
    tls_endpoint: dict[str, Any], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    other_ca, *_ = _make_certificates(other)
    path = kubeconfig(
        tmp_path / "config",
        {"server": tls_endpoint["url"], "certificate-authority": str(other_ca)},
        {"token": "t"},
    )
    found = direct_patcher({"KUBECONFIG": str(path)})
    assert found is not None
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        found[0].patch_namespaced_pod("p", "pop", {})


# -- in a handler -----------------------------------------------------------------------------


def test_a_handler_reporting_through_its_pod_does_not_import_kubernetes(
    kube_api: KubeApiServer,
) -> None:
    kube_api.seed_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "h-1"},
            "spec": {"containers": [{"name": "main", "image": "x"}]},
        },
        status={"phase": "Running"},
    )
    script = (
        "import sys\n"
        "from pop.runtimes import create_report_sink\n"
        "sink = create_report_sink('kubernetes', {'MY_POD_NAME': 'h-1', 'POD_NAMESPACE': 'pop',"
        f" 'KUBECONFIG': {str(kube_api.pod_kubeconfig)!r}}})\n"
        "sink.report('{\"percentComplete\": 100}', '\"done\"', final=True)\n"
        "sink.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout
    assert done.stderr == ""
    (pod,) = kube_api.store.items("pods", "pop")
    assert pod["metadata"]["annotations"]["pop.report.payload"] == '"done"'
    pod_user = "system:serviceaccount:pop:default"  # the pod token's user (tests/kube/server.py)
    assert kube_api.count(verb="patch", resource="pods", name="h-1", user=pod_user) == 1


def test_an_exec_plugin_kubeconfig_patches_through_the_official_client(
    kube_api: KubeApiServer, tmp_path: Path
) -> None:
    """The fallback: a user whose token comes from an exec plugin (as EKS and GKE configure)."""
    from pop.runtimes import create_report_sink

    kube_api.seed_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "h-2"},
            "spec": {"containers": [{"name": "main", "image": "x"}]},
        },
        status={"phase": "Running"},
    )
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "pop-test-pod-token"},  # the pod token of tests/kube/server.py
    }
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"],
        "interactiveMode": "Never",
    }
    path = kubeconfig(tmp_path / "config", {"server": kube_api.url}, {"exec": plugin})
    env = {"MY_POD_NAME": "h-2", "POD_NAMESPACE": "pop", "KUBECONFIG": str(path)}
    assert direct_patcher(env) is None
    warnings: list[str] = []
    sink = create_report_sink("kubernetes", env, warn=warnings.append)
    assert sink is not None

    sink.report('{"percentComplete": 100}', '"done"', final=True)
    sink.close()

    assert warnings == []
    (pod,) = kube_api.store.items("pods", "pop")
    assert pod["metadata"]["annotations"]["pop.report.payload"] == '"done"'
