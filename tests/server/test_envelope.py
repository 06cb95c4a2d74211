"""The envelope's last resort, in-process: an exception that is not pop's becomes a 500
"internal error" whose traceback is logged, never returned (no route of pop raises one on
purpose, so a test route does)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from pop.config import Settings
from pop.server import create_app


def test_an_unexpected_exception_is_a_500_internal_error_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings=Settings.from_env().with_changes(home=tmp_path), auth=False)

    async def broken() -> None:
        raise RuntimeError("secret detail of a bug")

    app.add_api_route("/pop/broken", broken)

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://pop") as client:
            return await client.get("/pop/broken", headers={"X-pop-cid": "bug-1"})

    with caplog.at_level(logging.ERROR, logger="pop.server"):
        response = asyncio.run(ask())

    assert response.status_code == 500
    assert response.json() == {
        "errorResponse": {
            "title": "PopError",
            "description": "internal error",
            "responseCode": 500,
            "correlationId": "bug-1",
        },
        "cid": "bug-1",
    }
    assert "secret detail" not in response.text
    logged = [record for record in caplog.records if record.exc_info]
    assert logged and "bug-1" in logged[0].getMessage()
    assert "secret detail of a bug" in caplog.text
