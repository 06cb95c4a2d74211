"""The agenda page's media previews: previews_of on real files (a JPEG and an MP4 made with
ffmpeg, an HLS master playlist, a DASH MPD, broken manifests, other files), and
``/agendas/{id}/previews`` in headless Chromium for an agenda a real ``pop executor`` ran
(thumbnails, a transcode and an HLS+DASH package): the images load, the video reads its
metadata (over Range requests), the manifests list their variants, another customer's session
gets the 404 page and the JSON answer is the API's outputs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pop.engine.outputs import OperationOutputs, OutputFile
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.server.dashboard.previews import (
    Variant,
    dash_variants,
    hls_variants,
    previews_of,
)
from tests.conftest import run_pop_at
from tests.dashboard.conftest import assert_accessible
from tests.dashboard.test_agendas import sign_in
from tests.example_media import make_clip
from tests.server.conftest import RunningServer, bearer, start_server
from tests.server.test_auth import token

MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2560000,RESOLUTION=1280x720,FRAME-RATE=25.000,CODECS="avc1.64001f,mp4a.40.2"
720p/index.m3u8
"""
MEDIA_PLAYLIST = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4.0,
seg0.ts
#EXTINF:2.5,
seg1.ts
#EXT-X-ENDLIST
"""
MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT2S">
  <Period id="0">
    <AdaptationSet contentType="video" mimeType="video/mp4" codecs="avc1.64001e">
      <Representation id="0" bandwidth="800000" width="640" height="360"/>
      <Representation id="1" bandwidth="2400000" width="1280" height="720" codecs="avc1.64001f"/>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4">
      <Representation id="2" bandwidth="128000" codecs="mp4a.40.2"/>
    </AdaptationSet>
  </Period>
</MPD>
"""


def ffmpeg(*args: str) -> None:
    command = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    subprocess.run(command, check=True, timeout=60)


def test_previews_of_real_files_by_kind(tmp_path: Path) -> None:
    work = tmp_path / "work"
    thumbs, packaged = work / "thumbs" / "1", work / "package" / "1"
    thumbs.mkdir(parents=True)
    (packaged / "dash").mkdir(parents=True)
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(thumbs / "t 0.jpg"))
    make_clip(packaged, size="64x48", seconds=0.5, name="360p.mp4")
    (packaged / "master.m3u8").write_text(MASTER)
    (packaged / "360p.m3u8").write_text(MEDIA_PLAYLIST)
    (packaged / "dash" / "manifest.mpd").write_text(MPD)
    (packaged / "broken.mpd").write_text("<MPD><Period>")
    (packaged / "other.m3u8").write_text("<html>not a playlist</html>")
    (packaged / "index.vtt").write_text("WEBVTT\n")
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes((thumbs / "t 0.jpg").read_bytes())

    def output(name: str, folder: Path, *files: Path) -> OperationOutputs:
        named = [OutputFile(str(f), f.stat().st_size, f"/{i}") for i, f in enumerate(files)]
        return OperationOutputs(name, "succeeded", str(folder), named)

    outputs = [
        output("thumbnail", thumbs, thumbs / "t 0.jpg", outside),
        output(
            "package",
            packaged,
            *(packaged / name for name in ("360p.mp4", "master.m3u8", "360p.m3u8")),
            *(packaged / name for name in ("dash/manifest.mpd", "broken.mpd", "other.m3u8")),
            packaged / "index.vtt",
        ),
    ]
    found = previews_of(outputs, "abc-123", work)
    assert [(p.operation, p.path, p.kind) for p in found] == [
        ("thumbnail", "thumbs/1/t 0.jpg", "image"),  # the file outside the work dir is left out
        ("package", "package/1/360p.mp4", "video"),
        ("package", "package/1/master.m3u8", "manifest"),
        ("package", "package/1/360p.m3u8", "manifest"),
        ("package", "package/1/dash/manifest.mpd", "manifest"),
        ("package", "package/1/broken.mpd", "manifest"),
        ("package", "package/1/other.m3u8", "manifest"),
        ("package", "package/1/index.vtt", "file"),
    ]
    image, video, master, media, mpd, broken, other, vtt = found
    assert image.url == "/pop/agenda/abc-123/files/thumbs/1/t%200.jpg"
    assert image.size == (thumbs / "t 0.jpg").stat().st_size > 0
    assert video.url == "/pop/agenda/abc-123/files/package/1/360p.mp4" and video.size > 1000
    assert master.variants == [
        Variant("360p/index.m3u8", 1280000, "640x360", "avc1.64001e,mp4a.40.2"),
        Variant("720p/index.m3u8", 2560000, "1280x720", "avc1.64001f,mp4a.40.2"),
    ]
    assert master.note == "HLS master playlist, 2 variants" and not master.error
    assert media.variants == [] and media.note == "HLS media playlist, 2 segments"
    assert [v.name for v in mpd.variants] == ["0", "1", "2"]
    assert mpd.variants[0] == Variant("0", 800000, "640x360", "avc1.64001e")  # inherited codecs
    assert mpd.variants[1].codecs == "avc1.64001f" and mpd.variants[2].resolution == ""
    assert broken.error and broken.note.startswith("could not read: not XML")
    assert (
        other.error and other.note == "could not read: not an HLS playlist (no #EXTM3U first line)"
    )
    assert vtt.kind == "file" and vtt.variants == []
    # a session that may not read the agenda's files gets the previews without URLs
    assert {p.url for p in previews_of(outputs, "abc-123", work, served=False)} == {None}


def test_manifest_parsers_refuse_what_is_not_a_manifest() -> None:
    with pytest.raises(ValueError, match="not a DASH MPD"):
        dash_variants('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>')
    with pytest.raises(ValueError, match="not an HLS playlist"):
        hls_variants("")
    variants, note = hls_variants('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=oops,CODECS="a,b"\n')
    assert variants == [Variant("(no URI)", None, "", "a,b")] and note.endswith("1 variants")


# puts the fragment at a URL into the page's <main>, as the agenda page's script does
INSERT = """async (url) => {
  const answer = await fetch(url);
  if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
  document.querySelector("main").innerHTML = await answer.text();
}"""


# ---- in the browser, for an agenda a real executor ran ------------------------------------


@pytest.fixture(scope="module")
def media_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("previews") / "pop_home")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def media_run(
    media_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """acme's agenda (submitted by a global token: a customer may name no local input) of
    thumbnails, a 180p transcode and its HLS+DASH package, run by a real executor."""
    home = media_server.home
    clips = tmp_path_factory.mktemp("clips")
    clip = str(make_clip(clips, size="320x240", seconds=2))
    secrets = {
        "global": token(home, kind="global", name="root"),
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="umbrella"),
    }
    rendition = {"name": "180p", "height": 180, "videoCodec": "h264", "crf": 30,
                 "preset": "ultrafast", "audioCodec": "aac", "audioBitrate": "64k"}  # fmt: skip
    document = {
        "title": "previews",
        "customerId": "acme",
        "operations": [
            {"name": "thumbnail", "type": "thumbnail",
             "payload": {"input": clip, "times": [0, 1], "width": 160, "format": "jpeg"}},
            {"name": "transcode", "type": "transcode",
             "payload": {"input": clip, "renditions": [rendition]}},
            {"name": "package", "type": "package",
             "payload": {"renditions": ["@<transcode.out::/renditions/0/path>"],
                         "formats": ["hls", "dash"], "segmentDuration": 1}},
        ],
    }  # fmt: skip
    with media_server.http() as http:
        answer = http.post("/pop/agenda", json=document, headers=bearer(secrets["global"]))
    assert answer.status_code == 200, answer.text
    agenda_id = str(answer.json()["all"][0]["id"])
    executed = run_pop_at(home, "executor", "--once", timeout=180)
    assert executed.returncode == 0, executed.stderr
    with media_server.http() as http:
        progress = http.get(f"/pop/progress/agenda/{agenda_id}", headers=bearer(secrets["global"]))
    assert progress.json()["all"][0]["processingStateMessage"] == "succeeded", progress.text
    return {"id": agenda_id, **secrets}


def test_the_previews_of_a_run_agenda_show_in_the_browser(
    page: Any, media_server: RunningServer, media_run: dict[str, str]
) -> None:
    agenda_id = media_run["id"]
    sign_in(page, media_server, media_run["acme"])
    # the fragment, fetched and put into a page, as the agenda page's script refreshes it
    page.evaluate(INSERT, f"/agendas/{agenda_id}/previews")
    images = page.locator('figure[data-kind="image"] img')
    assert images.count() == 2
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.evaluate("[...document.images].map(i => i.naturalWidth)") == [160, 160]
    assert (
        images.first.get_attribute("alt")
        == "thumbnail: " + Path(images.first.get_attribute("src") or "").name
    )
    video = page.locator('figure[data-op="transcode"] video')
    assert video.count() == 1
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    assert page.evaluate("document.querySelector('video').duration") > 1.5
    assert page.evaluate("document.querySelector('video').videoWidth") == 240
    # the manifests list their variants: the HLS master's one stream, the MPD's representations
    tables = page.locator('figure[data-op="package"] table.variants')
    captions = tables.locator("caption").all_inner_texts()
    assert "HLS master playlist, 1 variants" in captions
    assert any(text.startswith("DASH MPD, 2 representations") for text in captions), captions
    assert "240x180" in tables.first.inner_text() or "240x180" in tables.last.inner_text()
    assert_accessible(page)  # the agendas page with the previews in its <main>
    # the file route answers a Range request with 206, what lets the <video> seek
    src = video.locator("source").get_attribute("src")
    ranged = page.request.get(f"{media_server.url}{src}", headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and len(ranged.body()) == 100
    # one op's previews alone, and the same URL as JSON is the API's outputs
    page.evaluate(INSERT, f"/agendas/{agenda_id}/previews?operation=transcode")
    assert {f.get_attribute("data-op") for f in page.locator("figure").all()} == {"transcode"}
    answer = page.request.get(
        f"{media_server.url}/agendas/{agenda_id}/previews", headers={"Accept": "application/json"}
    )
    api = page.request.get(
        f"{media_server.url}/pop/agenda/{agenda_id}/outputs", headers=bearer(media_run["acme"])
    )
    assert answer.status == 200 and answer.json()["all"] == api.json()["all"]


def test_another_customers_session_gets_the_404_page(
    page: Any, media_server: RunningServer, media_run: dict[str, str]
) -> None:
    agenda_id = media_run["id"]
    sign_in(page, media_server, media_run["umbrella"])
    answer = page.request.get(f"{media_server.url}/agendas/{agenda_id}/previews")
    assert answer.status == 404
    assert "<h1>Not found</h1>" in answer.text() and "<img" not in answer.text()
    with_session = page.request.get(f"{media_server.url}/pop/agenda/{agenda_id}/outputs")
    assert with_session.status == 404  # the API's route, with the session cookie: the same
    refused = page.request.get(
        f"{media_server.url}/agendas/{agenda_id}/previews", headers={"Accept": "application/json"}
    )
    assert refused.status == 404 and "errorResponse" in refused.json()
