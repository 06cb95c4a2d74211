"""The remote client's HTTP: one ``httpx.Client`` per server, POP's envelope read back into
pop's own errors, and the wire-version check (issue 13 item 5).

Layer: api. :class:`RemoteHttp` is the base of :class:`pop.api.remote.RemoteClient` and of
its mixins (:mod:`pop.api.remote_reads`, :mod:`pop.api.remote_catalog`): each route's method
calls :meth:`RemoteHttp._data` (a data route's ``all``) or :meth:`RemoteHttp._envelope` (the
whole answer). The server's ``errorResponse.title`` names pop's error class and its
``description`` carries pop's message, so a remote command exits as the local one would (401
and 403 are exit 2 naming the cause; a server that cannot be reached is exit 3).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop import errors
from pop.errors import InputError, PopError, RuntimeUnavailableError

if TYPE_CHECKING:
    from pop.registry import Registry

DEFAULT_TIMEOUT_SECONDS = 30.0
UNLIMITED = str(1_000_000)  # a bylimit above any listing (the server's default is 100)
API_VERSION = 1  # the wire contract this client speaks (GET /pop/version answers the server's)

_BY_STATUS: dict[int, type[PopError]] = {
    401: errors.UnauthorizedError,
    403: errors.ForbiddenError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    413: InputError,
    422: InputError,
    503: RuntimeUnavailableError,
}


class RemoteHttp:
    """A ``pop serve`` at ``server`` with a bearer ``token`` (empty: none)."""

    def __init__(
        self,
        server: str,
        token: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        registry_path: Path | None = None,
    ) -> None:
        if not server.startswith(("http://", "https://")):
            raise InputError(
                f"--server {server}: not an http:// or https:// URL",
                hint="for example --server http://127.0.0.1:8740",
            )
        import httpx

        self.server = server.rstrip("/")
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)
        self._has_token = bool(token)
        self._checked = False
        self._registry_path = registry_path  # which fields of a payload are paths
        self._registry: Registry | None = None  # read once, on the first submit

    def close(self) -> None:
        self._http.close()

    def _data(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """The ``all`` of a data response; pop's error for an ``errorResponse``."""
        answer = self._envelope(method, path, body=body, query=query)
        found = answer.get("all")
        return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []

    def service(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /pop/resourcepool/service/{name}`` (the pool routes remote executors use):
        the whole answer; pop's error for an ``errorResponse`` (409 is ``ConflictError``)."""
        return self._envelope("POST", f"/pop/resourcepool/service/{name}", body=dict(body))

    def _envelope(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        import httpx

        if not self._checked:
            self._checked = True
            self._check_version()
        try:
            response = self._http.request(
                method,
                path,
                params=dict(query or {}),
                content=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"} if body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise RuntimeUnavailableError(
                f"cannot reach the pop server at {self.server}: {exc}",
                hint="is `pop serve` running there? (--server, POP_SERVER)",
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RuntimeUnavailableError(
                f"the pop server at {self.server} answered {method} {path} with HTTP "
                f"{response.status_code} and no pop envelope",
                hint="is --server a pop server?",
            )
        problem = answer.get("errorResponse")
        if isinstance(problem, dict) or response.status_code >= 400:
            error = _error(problem if isinstance(problem, dict) else {}, response.status_code)
            if isinstance(error, errors.UnauthorizedError) and error.hint is None:
                error.hint = (
                    "set POP_TOKEN or give --token-file (a token from `pop token add` on the "
                    "server's machine)"
                    if not self._has_token
                    else "check POP_TOKEN or --token-file: the server does not accept this one"
                )
            raise error
        return answer

    def _check_version(self) -> None:
        """Refuse a server whose wire contract (``GET /pop/version``: ``api``) is not ours."""
        import httpx

        try:
            answer = self._http.get("/pop/version").json()
        except (httpx.HTTPError, ValueError):
            return  # unreachable or not pop: the request itself says so
        if not isinstance(answer, dict):
            return
        api = answer.get("api")
        if api != API_VERSION:
            version = answer.get("version") or "?"
            raise InputError(
                f"the pop server at {self.server} speaks API {api} (pop {version}); this "
                f"client speaks API {API_VERSION}",
                hint="use a pop of the server's version",
            )


def _error(problem: Mapping[str, Any], status: int) -> PopError:
    """pop's error for a server's ``errorResponse``: the class its ``title`` names (pop's own
    classes only), else by the response code; the server's ``hint`` kept."""
    title = str(problem.get("title") or "")
    message = str(problem.get("description") or f"the server answered HTTP {status}")
    hint = str(problem["hint"]) if problem.get("hint") else None
    code = int(problem.get("responseCode") or status)
    named = getattr(errors, title, None) if title.isidentifier() else None
    if (
        isinstance(named, type)
        and issubclass(named, PopError)
        and named.__init__ is PopError.__init__
    ):
        return named(message, hint=hint)
    return _BY_STATUS.get(code, PopError)(message, hint=hint)
