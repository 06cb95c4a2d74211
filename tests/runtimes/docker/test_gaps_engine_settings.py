"""The engine's usual settings and its refusals (issue 11 audit): ``DOCKER_TLS_VERIFY`` and
``DOCKER_CERT_PATH`` reach the SDK client, shown against a real TLS endpoint that demands the
client certificate of ``DOCKER_CERT_PATH``; and a "permission denied" from the socket becomes
exit 3 with the docker group in its hint (as root a real socket cannot refuse, so the failure
is built as the SDK raises it)."""

from __future__ import annotations

import asyncio
import http.server
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pop.errors import RuntimeUnavailableError
from pop.runtimes.docker import DockerLauncher
from pop.runtimes.docker.engine import reason_of, unavailable

ENGINE_ID = "TLS:TEST:ENGINE"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, named as the docker
    CLI expects them in ``DOCKER_CERT_PATH`` (ca.pem, cert.pem, key.pem)."""
    folder.mkdir()
    days, subject = "2", "/CN=pop-test-ca"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
            "-out", "ca.pem", "-days", days, "-subj", subject, cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "pop-test-client")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem",
                "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=folder)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                "-CAcreateserial", "-out", f"{name}-cert.pem", "-days", days,
                "-extfile", f"{name}.ext", cwd=folder)  # fmt: skip
    (folder / "cert.pem").write_bytes((folder / "client-cert.pem").read_bytes())
    (folder / "key.pem").write_bytes((folder / "client-key.pem").read_bytes())


class EngineAnswers(http.server.BaseHTTPRequestHandler):
    """Answers the three calls a launcher's check makes (version, info, ping); records the
    client certificate's subject of each request."""

    clients: list[str] = []

    def do_GET(self) -> None:
        peer = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        self.clients.append(str(subject.get("commonName", "")))
        if self.path.endswith("/_ping"):
            body, kind = b"OK", "text/plain"
        elif self.path.endswith("/version"):
            body, kind = json.dumps({"ApiVersion": "1.41"}).encode(), "application/json"
        elif self.path.endswith("/info"):
            body, kind = json.dumps({"ID": ENGINE_ID, "NCPU": 2}).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(tcp://127.0.0.1:PORT, cert folder): an HTTPS endpoint that only talks to clients with a
    certificate of the test CA."""
    certs = tmp_path / "certs"
    make_certificates(certs)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certs / "server-cert.pem", certs / "server-key.pem")
    EngineAnswers.clients = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EngineAnswers)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}", certs
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def checked(launcher: DockerLauncher) -> None:
    try:
        await asyncio.wait_for(launcher.check(), timeout=30)
    finally:
        await launcher.close()


def test_docker_tls_verify_and_cert_path_reach_the_client(
    tls_engine: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, certs = tls_engine
    monkeypatch.setenv("DOCKER_HOST", address)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    # requests lets these override the session's CA (the SDK's ca.pem): psf/requests#3829.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    # Without the TLS settings the client speaks plain HTTP to a TLS endpoint: refused.
    with pytest.raises(RuntimeUnavailableError) as plain:
        asyncio.run(checked(DockerLauncher()))
    assert address.removeprefix("tcp://") in plain.value.message

    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    launcher = DockerLauncher()
    asyncio.run(checked(launcher))  # the server verified our client certificate, we its own
    assert EngineAnswers.clients and set(EngineAnswers.clients) == {"pop-test-client"}

    # A cert path without the client's files fails at once, saying so, as exit 3.
    empty = certs.parent / "empty"
    empty.mkdir()
    monkeypatch.setenv("DOCKER_CERT_PATH", str(empty))
    with pytest.raises(RuntimeUnavailableError) as missing:
        asyncio.run(checked(DockerLauncher()))
    assert missing.value.exit_code == 3 and "certificate" in missing.value.message


def permission_denied_as_the_sdk_raises_it() -> BaseException:
    """requests' ConnectionError around urllib3's ProtocolError around the socket's
    PermissionError, as ``docker.from_env()`` raises for a socket it may not open."""
    from urllib3.exceptions import ProtocolError

    denied = PermissionError(13, "Permission denied")
    protocol = ProtocolError("Connection aborted.", denied)
    try:
        try:
            raise protocol from denied
        except ProtocolError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
    except requests.exceptions.ConnectionError as raised:
        return raised


def test_a_permission_denied_socket_is_exit_3_naming_the_docker_group() -> None:
    failure = permission_denied_as_the_sdk_raises_it()
    assert reason_of(failure) == "permission denied"
    # Some layers keep only the OS error's words.
    text_only = requests.exceptions.ConnectionError(
        "('Connection aborted.', PermissionError(13, 'Permission denied'))"
    )
    assert reason_of(text_only) == "permission denied"
    assert reason_of(PermissionError(13, "Permission denied")) == "permission denied"

    error = unavailable(failure, "unix:///var/run/docker.sock")
    assert isinstance(error, RuntimeUnavailableError) and error.exit_code == 3
    assert error.message == (
        "cannot reach the Docker engine at unix:///var/run/docker.sock: permission denied"
    )
    hint = str(error.hint)
    assert "docker group" in hint and "usermod -aG docker" in hint
    assert "dockerd" in hint and "DOCKER_HOST" in hint


def test_a_refused_or_missing_socket_is_not_called_permission_denied() -> None:
    assert reason_of(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert reason_of(FileNotFoundError(2, "No such file or directory")) == "no such socket"
