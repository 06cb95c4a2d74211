"""``GET /pop/agenda/{id}/outputs`` and ``GET /pop/agenda/{id}/files/{path}`` (pop's extensions).

Layer: server. ``outputs`` answers the envelope with one item per op,
:meth:`pop.engine.outputs.OperationOutputs.to_json` (what ``pop outputs --json`` prints);
``?operation=OP`` keeps one. ``files/{path}`` answers the raw bytes of one file under the
agenda's work directory (``params.workDir``, else ``$POP_HOME/work/<agenda id>``), its
``Content-Type`` guessed from its name, with ``Range`` support (Starlette's FileResponse).

Only a regular file strictly inside the work directory, symlinks resolved, is served: ``..``
segments (plain or percent-encoded), absolute paths, NUL bytes and symlinks leading out are
404, as is a file that does not exist. A work directory outside ``$POP_HOME/work`` (an agenda's
own ``params.workDir``) is served to global tokens only: a customer's agenda could otherwise
name any directory of the server. An agenda the caller may not see is 404 as if it did not exist.
Both routes also take a dashboard session cookie instead of a bearer token
(:func:`pop.server.auth.session_caller`): the agenda page's previews show these files.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from pop.api import Client
from pop.api.events import agenda_work_dir
from pop.errors import NotFoundError
from pop.server.auth import Caller, SessionCallerDep, client_thread
from pop.server.envelope import cid_of, data_response
from pop.server.logs import inside, visible_agenda

router = APIRouter(prefix="/pop/agenda", tags=["extensions"])


@router.get("/{agenda_id}/outputs")
async def agenda_outputs(
    agenda_id: str, request: Request, caller: SessionCallerDep, operation: str | None = None
) -> JSONResponse:
    """Each op's output folder and the files its result names."""

    def read(client: Client) -> list[dict[str, Any]]:
        agenda = visible_agenda(client, caller, agenda_id)
        return [item.to_json() for item in client.outputs(agenda.id or agenda_id, operation)]

    return data_response(await client_thread(request).call(read), cid_of(request))


def _work_dir(client: Client, caller: Caller, agenda_id: str) -> Path:
    agenda = visible_agenda(client, caller, agenda_id)
    work_dir = agenda_work_dir(client, agenda)
    if not caller.is_global and not inside(work_dir, client.settings.work_root):
        raise _not_found(agenda_id, "this agenda's work directory is outside $POP_HOME/work")
    return work_dir


def _not_found(agenda_id: str, why: str) -> NotFoundError:
    return NotFoundError(
        f"no such file in the work directory of agenda {agenda_id}",
        hint=f"{why}; GET /pop/agenda/{agenda_id}/outputs lists the files ops wrote",
    )


def served_file(work_dir: Path, relative: str) -> Path | None:
    """The regular file ``relative`` names strictly inside ``work_dir`` (symlinks resolved);
    None for anything else."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        return None
    parts = Path(relative).parts
    if any(part in ("..", ".") for part in parts) or Path(relative).is_absolute():
        return None
    try:
        root = work_dir.resolve(strict=True)
        candidate = (root / relative).resolve(strict=True)
        candidate.relative_to(root)
    except (OSError, ValueError, RuntimeError):
        return None
    if candidate == root or not candidate.is_file():
        return None
    return candidate


@router.get("/{agenda_id}/files/{path:path}")
async def agenda_file(
    agenda_id: str, path: str, request: Request, caller: SessionCallerDep
) -> FileResponse:
    """The bytes of one file of the agenda's work directory (404 for anything outside it)."""
    work_dir = await client_thread(request).call(
        lambda client: _work_dir(client, caller, agenda_id)
    )
    found = await asyncio.to_thread(served_file, work_dir, path)
    if found is None:
        raise _not_found(agenda_id, f"{path!r} is not a file inside it")
    media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    return FileResponse(found, media_type=media_type)
