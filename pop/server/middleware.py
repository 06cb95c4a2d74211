"""What every request goes through: its correlation id, the body size limit, one log line, and
the last resort for exceptions that are not pop's.

Layer: server. A pure ASGI middleware (no response buffering): it takes ``X-pop-cid`` from the
request (or makes one), puts it in ``scope["state"]["cid"]`` for the routes and the error
handlers, and adds it to the response headers. A body over the limit is refused with 413 before
it is read when ``Content-Length`` says so, else as soon as the bytes received pass the limit.
The log line names the method, path, status, cid and duration; never a header (so never a
token). With a :class:`pop.server.metrics.ServerMetrics` it also times each request by its
route's template (``pop_http_request_duration_seconds``) and counts the agendas each successful
``getAgenda`` hands out (``pop_claims_total``, from its answer's ``count``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pop.errors import RequestTooLargeError
from pop.models import new_id
from pop.server.envelope import internal_error_response, pop_error_response

if TYPE_CHECKING:
    from pop.server.metrics import ServerMetrics

logger = logging.getLogger("pop.server")

MAX_CID_LENGTH = 200
CLAIM_PATH = "/pop/resourcepool/service/getAgenda"


def request_cid(given: str | None) -> str:
    """The client's correlation id when it is a plausible one, else a new id."""
    cid = (given or "").strip()
    if not cid or len(cid) > MAX_CID_LENGTH or not cid.isprintable():
        return new_id()
    return cid


class RequestContext:
    """The cid, the size limit, the log line and the 500 of last resort, for HTTP requests."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, metrics: ServerMetrics | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = Headers(scope=scope)
        cid = request_cid(headers.get("x-pop-cid"))
        scope.setdefault("state", {})["cid"] = cid
        response: dict[str, Any] = {"status": 500, "started": False}
        claims = self.metrics is not None and scope["path"] == CLAIM_PATH
        answer: list[bytes] = []

        async def send_with_cid(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["started"] = True
                response["status"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-pop-cid", cid.encode("latin-1")),
                ]
            elif claims and message["type"] == "http.response.body":
                answer.append(message.get("body", b""))
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise self._too_large()
            return message

        try:
            if self._declared_length(headers) > self.max_body_bytes:
                await pop_error_response(self._too_large(), cid)(scope, receive, send_with_cid)
            else:
                await self.app(scope, limited_receive, send_with_cid)
        except Exception:
            logger.exception("cid=%s %s %s: internal error", cid, scope["method"], scope["path"])
            if not response["started"]:
                await internal_error_response(cid)(scope, receive, send_with_cid)
        finally:
            if self.metrics is not None:
                self._observe(scope, response["status"], time.monotonic() - started)
                if claims and response["status"] == 200:
                    self.metrics.count_claims(_answered_count(b"".join(answer)))
            logger.info(
                "%s %s %s cid=%s %.1f ms",
                scope["method"],
                scope["path"],
                response["status"],
                cid,
                (time.monotonic() - started) * 1000,
            )

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        """The request's duration under its route's template (never the raw path: ids would
        make one label value each)."""
        assert self.metrics is not None
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.observe_request(scope["method"], str(route), status, seconds)

    def _too_large(self) -> RequestTooLargeError:
        return RequestTooLargeError(
            f"the request body is over the server's limit of {self.max_body_bytes} bytes",
            hint="pop serve --max-body-bytes sets the limit",
        )

    @staticmethod
    def _declared_length(headers: Headers) -> int:
        try:
            return int(headers.get("content-length", "0"))
        except ValueError:
            return 0


def _answered_count(body: bytes) -> int:
    """The ``count`` of a getAgenda answer (0 when it cannot be read)."""
    try:
        count = json.loads(body).get("count", 0)
    except (ValueError, AttributeError):
        return 0
    return count if isinstance(count, int) and count > 0 else 0
