"""The agenda page's media previews: what each op's output files are and how a page shows them.

Layer: server (the dashboard). :func:`previews_of` turns the op outputs
(:meth:`pop.api.Client.outputs`, the files each op's result names) into :class:`Preview` items:
``image`` (.jpg/.jpeg/.png/.webp/.gif: thumbnails, the filmstrip sprite), ``video`` (.mp4/.m4v:
renditions), ``manifest`` (.m3u8/.mpd, with the variants a player would pick from: an HLS
master playlist's ``#EXT-X-STREAM-INF`` lines, a DASH MPD's ``Representation`` elements) and
``file`` (anything else, a download link). Each links the API's file route
``GET /pop/agenda/{id}/files/{path}`` (:mod:`pop.server.files`, which answers ``Range``
requests, so a ``<video>`` can seek), which takes the dashboard's session cookie.

``templates/_previews.html`` renders them; the agenda page includes it, and
``GET /agendas/{id}/previews[?operation=OP]`` (this module's route) answers that partial alone,
for the page's script to refresh one op's previews when it completes (JSON with ``Accept:
application/json``: the API's outputs). An agenda the session may not see is 404, by the API's
own check (:func:`pop.server.logs.visible_agenda`). A manifest that cannot be read is shown as
``could not read: <reason>``; nothing here writes anything.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from pop.api import Client
from pop.api.events import agenda_work_dir
from pop.engine.outputs import OperationOutputs
from pop.errors import NotFoundError
from pop.server.auth import Caller, client_thread
from pop.server.dashboard.pages import (
    caller_or_none,
    not_found,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.envelope import cid_of, data_response
from pop.server.logs import inside, visible_agenda

router = APIRouter(include_in_schema=False)

IMAGE, VIDEO, MANIFEST, FILE = "image", "video", "manifest", "file"
KINDS = {
    ".jpg": IMAGE,
    ".jpeg": IMAGE,
    ".png": IMAGE,
    ".webp": IMAGE,
    ".gif": IMAGE,
    ".mp4": VIDEO,
    ".m4v": VIDEO,
    ".m3u8": MANIFEST,
    ".mpd": MANIFEST,
}
MANIFEST_CAP_BYTES = 1024 * 1024  # a manifest larger than this is not read
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclass(frozen=True)
class Variant:
    """One variant of a manifest: an HLS stream or a DASH representation."""

    name: str  # the HLS URI or the DASH representation id
    bandwidth: int | None = None
    resolution: str = ""  # 1280x720
    codecs: str = ""


@dataclass(frozen=True)
class Preview:
    """One output file of one op, and how a page shows it."""

    kind: str  # image, video, manifest or file
    operation: str
    path: str  # relative to the agenda's work directory
    url: str | None  # the API's file route; None when the session may not read it
    size: int
    variants: list[Variant] = field(default_factory=list)
    note: str = ""  # what a manifest is (HLS master playlist, ...) or why it could not be read
    error: bool = False

    @property
    def name(self) -> str:
        return Path(self.path).name


def kind_of(path: str) -> str:
    """``image``, ``video``, ``manifest`` or ``file``, by the file's extension."""
    return KINDS.get(Path(path).suffix.lower(), FILE)


def file_url(agenda_id: str, relative: str) -> str:
    """The API's file route for a path relative to the agenda's work directory."""
    return f"/pop/agenda/{quote(agenda_id, safe='')}/files/{quote(relative, safe='/')}"


def hls_variants(text: str) -> tuple[list[Variant], str]:
    """The variants of an HLS master playlist and what the playlist is; InvalidManifest when
    the text is not an HLS playlist."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise InvalidManifest("not an HLS playlist (no #EXTM3U first line)")
    variants = []
    for index, line in enumerate(lines):
        if not line.startswith("#EXT-X-STREAM-INF:"):
            continue
        attributes = {
            key: value.strip('"') for key, value in _ATTRIBUTE.findall(line.split(":", 1)[1])
        }
        uri = next((later for later in lines[index + 1 :] if not later.startswith("#")), "")
        variants.append(
            Variant(
                name=uri or "(no URI)",
                bandwidth=_integer(attributes.get("BANDWIDTH")),
                resolution=attributes.get("RESOLUTION", ""),
                codecs=attributes.get("CODECS", ""),
            )
        )
    if variants:
        return variants, f"HLS master playlist, {len(variants)} variants"
    segments = sum(1 for line in lines if line.startswith("#EXTINF"))
    return [], f"HLS media playlist, {segments} segments"


def dash_variants(text: str) -> tuple[list[Variant], str]:
    """The representations of a DASH MPD (attributes an AdaptationSet gives its
    representations are inherited) and what the MPD is; InvalidManifest when it is not one."""
    try:
        root = ElementTree.fromstring(text)  # expat >= 2.4.1: no entity expansion bombs
    except ElementTree.ParseError as error:
        raise InvalidManifest(f"not XML: {error}") from None
    if _local(root.tag) != "MPD":
        raise InvalidManifest(f"not a DASH MPD (its root element is <{_local(root.tag)}>)")
    variants = []
    for adaptation in (node for node in root.iter() if _local(node.tag) == "AdaptationSet"):
        for node in adaptation:
            if _local(node.tag) != "Representation":
                continue

            width, height = (
                _inherited(node, adaptation, "width"),
                _inherited(node, adaptation, "height"),
            )
            variants.append(
                Variant(
                    name=node.get("id") or "(no id)",
                    bandwidth=_integer(node.get("bandwidth")),
                    resolution=f"{width}x{height}" if width and height else "",
                    codecs=_inherited(node, adaptation, "codecs"),
                )
            )
    return variants, f"DASH MPD, {len(variants)} representations"


class InvalidManifest(ValueError):
    """A manifest that is not what its name says (the preview shows the reason)."""


def _inherited(node: ElementTree.Element, parent: ElementTree.Element, name: str) -> str:
    return str(node.get(name) or parent.get(name) or "")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def read_manifest(path: Path) -> tuple[list[Variant], str]:
    """The variants of the manifest at ``path`` and what it is; InvalidManifest when it
    cannot be read as one (too large, not text, not HLS/DASH)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MANIFEST_CAP_BYTES + 1)
    except OSError as error:
        raise InvalidManifest(error.strerror or str(error)) from None
    if len(data) > MANIFEST_CAP_BYTES:
        raise InvalidManifest(f"larger than {MANIFEST_CAP_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidManifest("not UTF-8 text") from None
    if path.suffix.lower() == ".mpd":
        return dash_variants(text)
    return hls_variants(text)


def previews_of(
    outputs: list[OperationOutputs], agenda_id: str, work_dir: Path, *, served: bool = True
) -> list[Preview]:
    """A preview of each file the ops' results name (in op order); ``served`` False when the
    session may not read the agenda's files (no URLs then)."""
    found = []
    root = work_dir.resolve()
    for output in outputs:
        for item in output.files:
            try:
                relative = Path(item.path).resolve().relative_to(root).as_posix()
            except (OSError, ValueError):
                continue  # not under the work directory: the file route would not serve it
            kind = kind_of(relative)
            variants: list[Variant] = []
            note, error = "", False
            if kind == MANIFEST:
                try:
                    variants, note = read_manifest(Path(item.path))
                except InvalidManifest as problem:
                    note, error = f"could not read: {problem}", True
            url = file_url(agenda_id, relative) if served else None
            found.append(
                Preview(kind, output.operation, relative, url, item.size, variants, note, error)
            )
    return found


def _agenda_outputs(
    client: Client, caller: Caller, agenda_id: str, operation: str | None
) -> tuple[str, Path, bool, list[OperationOutputs]]:
    """The agenda's id, work directory, whether the caller may read its files, and its
    outputs (NotFoundError when the caller may not see it)."""
    agenda = visible_agenda(client, caller, agenda_id)
    full_id = agenda.id or agenda_id
    work_dir = agenda_work_dir(client, agenda)
    served = caller.is_global or inside(work_dir, client.settings.work_root)  # as files.py
    return full_id, work_dir, served, client.outputs(full_id, operation)


async def agenda_previews(
    request: Request, caller: Caller, agenda_id: str, operation: str | None = None
) -> list[Preview]:
    """The previews of an agenda's outputs for a page (NotFoundError when the caller may not
    see the agenda or it has no such op); the manifests are read off the client thread."""
    full_id, work_dir, served, outputs = await client_thread(request).call(
        lambda client: _agenda_outputs(client, caller, agenda_id, operation)
    )
    return await asyncio.to_thread(previews_of, outputs, full_id, work_dir, served=served)


@router.get("/agendas/{agenda_id}/previews")
async def previews_fragment(
    agenda_id: str, request: Request, operation: str | None = None
) -> Response:
    """``_previews.html`` alone (the API's outputs JSON with ``Accept: application/json``)."""
    caller = await caller_or_none(request)
    if caller is None:
        if wants_json(request):
            return not_signed_in(request)  # 401 in the API's envelope
        return HTMLResponse('<p class="error">Sign in again to see the previews.</p>', 401)
    if wants_json(request):  # a NotFoundError is the API's 404 envelope
        _, _, _, outputs = await client_thread(request).call(
            lambda client: _agenda_outputs(client, caller, agenda_id, operation)
        )
        return data_response([item.to_json() for item in outputs], cid_of(request))
    try:
        previews = await agenda_previews(request, caller, agenda_id, operation)
    except NotFoundError:
        what = f"agenda {agenda_id}" + (f" with an op {operation}" if operation else "")
        return not_found(request, what)
    return render(request, "_previews.html", previews=previews)
