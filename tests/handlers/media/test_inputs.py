"""Media inputs: local checks before downloads, http(s) downloads against a real local server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pop.errors import PermanentError, TemporaryError
from pop.handlers.media.download import download, human_bytes
from pop.handlers.media.inputs import (
    DownloadProgress,
    download_name,
    existing_files,
    fetched_inputs,
    is_remote,
)

from .conftest import HttpMedia, Media


def test_a_download_streams_into_a_temporary_name_then_renames(
    http_media: HttpMedia, media: Media, tmp_path: Path
) -> None:
    seen: list[tuple[int, int | None]] = []
    target = download(
        http_media.url(media.clip),
        tmp_path / "clip.mp4",
        on_progress=lambda received, total: seen.append((received, total)),
    )
    assert target.read_bytes() == media.clip.read_bytes()
    assert [path.name for path in tmp_path.iterdir()] == ["clip.mp4"]
    size = media.clip.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)


def test_a_404_is_a_permanent_error_naming_the_url_and_status(
    http_media: HttpMedia, tmp_path: Path
) -> None:
    url = http_media.url("media0/nowhere.mp4")
    with pytest.raises(PermanentError) as failure:
        download(url, tmp_path / "x.mp4")
    assert str(failure.value) == f"Cannot download {url}: HTTP 404 File not found"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_too_many_requests_are_temporary_with_retry_after(
    status: int, http_media: HttpMedia, tmp_path: Path
) -> None:
    with pytest.raises(TemporaryError) as failure:
        download(http_media.url(f"status/{status}"), tmp_path / "x.mp4")
    assert f"HTTP {status}" in failure.value.message
    assert failure.value.delay == 7
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_host_is_a_temporary_error(tmp_path: Path) -> None:
    with socket.socket() as probe_socket:  # a port nothing listens on once it is closed
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    url = f"http://127.0.0.1:{port}/clip.mp4"
    with pytest.raises(TemporaryError) as failure:
        download(url, tmp_path / "x.mp4")
    assert f"Cannot download {url}: cannot reach 127.0.0.1:{port}" in failure.value.message
    assert "refused" in failure.value.message.lower()


def test_without_content_length_progress_counts_bytes(
    http_media: HttpMedia, media: Media, tmp_path: Path
) -> None:
    reports: list[tuple[float, str]] = []
    progress = DownloadProgress(lambda p, m: reports.append((p, m)), count=1, interval=0)
    url = http_media.url("unsized/" + str(media.clip.relative_to(http_media.root)))
    with fetched_inputs([url], folder=tmp_path, on_progress=progress) as (path,):
        assert path.read_bytes() == media.clip.read_bytes()
    assert reports and {percent for percent, _ in reports} == {0.0}
    assert reports[-1][1] == f"downloading {url}: {human_bytes(media.clip.stat().st_size)}"


def test_with_content_length_progress_is_a_percent_within_the_span(
    http_media: HttpMedia, media: Media, tmp_path: Path
) -> None:
    reports: list[tuple[float, str]] = []
    progress = DownloadProgress(
        lambda p, m: reports.append((p, m)), count=2, span=(0, 50), interval=0
    )
    urls = [str(media.audio_only), http_media.url(media.clip)]
    with fetched_inputs(urls, folder=tmp_path, on_progress=progress) as paths:
        assert paths[0] == media.audio_only
        assert paths[1] == tmp_path / "inputs" / "1-clip.mp4" and paths[1].is_file()
    assert reports[0][0] == 25.0 and reports[-1][0] == 50.0
    assert reports[-1][1].startswith(f"downloading {urls[1]}: 100% of ")
    assert list(tmp_path.iterdir()) == []  # downloads are removed when the block ends


def test_missing_local_files_fail_before_anything_is_downloaded(
    http_media: HttpMedia, media: Media, tmp_path: Path
) -> None:
    url = http_media.url(media.clip) + "?before-missing"
    before = len(http_media.requests)
    with (
        pytest.raises(PermanentError, match=r"Input file not found: /nowhere\.mp4"),
        fetched_inputs([url, "/nowhere.mp4"], folder=tmp_path),
    ):
        pass
    assert len(http_media.requests) == before


def test_download_names_are_safe_file_names() -> None:
    assert download_name(0, "https://h/x/My%20Clip.mp4?sig=1") == "0-My_Clip.mp4"
    assert download_name(3, "https://h/") == "3-input"
    assert is_remote("HTTPS://h/a.mp4") and not is_remote("file:///a.mp4")


def test_local_only_handlers_reject_http_inputs_with_a_clear_message() -> None:
    with pytest.raises(PermanentError, match="takes local files only"):
        existing_files(["http://example.com/a.mp4"])
