"""Issue 14's acceptance in a real browser, end to end on real media: a customer signs in,
submits ``abr-ladder`` through the template page with a payload, and watches the agenda page
while a real ``pop executor`` runs it with ffmpeg: every box's state changes are recorded as the
page receives them (in order, no reload), the running transcode's log arrives in the log viewer
as it is written, its rendition appears as a ``<video>`` and the thumbnails as images. Then an
agenda whose thumbnail input is broken: the failed box is red with ffmpeg's own words, the
input is fixed, and "Rerun from failure" runs only the failed op again."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, start_pop_at, stop_process
from tests.dashboard.test_agenda import RECORD_BOXES, attempt_counts, box, progress_of, submit
from tests.dashboard.test_templates import add_template
from tests.example_media import make_clip
from tests.server.conftest import RunningServer, start_server
from tests.server.test_auth import token

# the boxes' states in the order an op may go through them (a fast op can skip "running":
# the page sees the store every 0.5 s)
ORDER = ["not run", "waiting", "running", "succeeded"]

# each time the log viewer's text grows: its length and the transcode box's state then
RECORD_LOG = """() => {
  const log = document.querySelector('[data-logview] [role="log"]');
  const transcode = document.querySelector('svg.pop-dag g.op[data-op="transcode720p"]');
  window.__log = [];
  new MutationObserver(() => {
    window.__log.push([log.textContent.length, transcode.dataset.state]);
  }).observe(log, {childList: true, characterData: true, subtree: true});
}"""

INVALID = "Invalid data found when processing input"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the media: the server's input root (a customer token may name it)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory, media: Path) -> Iterator[RunningServer]:
    server = start_server(
        tmp_path_factory.mktemp("acceptance") / "pop_home", "--input-root", str(media)
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def acme(dash_server: RunningServer) -> str:
    return token(dash_server.home, kind="customer", customers=["acme"], name="acme-ladder")


def sign_in(page: Any, server: RunningServer, secret: str) -> None:
    page.goto(f"{server.url}/signin")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/agendas")


def executor(server: RunningServer) -> Any:
    """A real ``pop executor`` on the server's store, polling for work until stopped."""
    return start_pop_at(server.home, "executor", "--poll", "0.2")


def wait_complete(page: Any, seconds: float) -> None:
    page.wait_for_function(
        "() => document.querySelector('#head [data-field=\"state\"]').textContent === 'COMPLETE'",
        timeout=seconds * 1000,
    )


def in_order(states: list[str]) -> bool:
    ranks = [ORDER.index(state) for state in states]
    return ranks == sorted(ranks) and len(set(ranks)) == len(ranks)


@pytest.mark.timeout(240)
def test_a_ladder_submitted_on_the_template_page_is_watched_live_to_its_renditions(
    page: Any, dash_server: RunningServer, acme: str, media: Path
) -> None:
    source = make_clip(media, size="1280x720", seconds=6, name="source.mp4")
    ladder = add_template(
        dash_server, acme, json.loads((EXAMPLES / "templates" / "abr-ladder.json").read_text())
    )
    sign_in(page, dash_server, acme)

    page.goto(f"{dash_server.url}/templates/{ladder}")
    page.get_by_label("Payload (JSON)").fill(json.dumps({"input": str(source)}))
    page.get_by_role("button", name="Submit").click()
    page.wait_for_load_state()
    refused = page.get_by_role("alert")
    assert refused.count() == 0, refused.first.text_content()  # the server's reason, if any
    page.wait_for_url(re.compile(re.escape(dash_server.url) + r"/agendas/[0-9a-f-]{36}$"))
    agenda_id = page.url.rsplit("/", 1)[1]
    assert progress_of(dash_server, acme, agenda_id)["processingState"] == "WAITING"

    # the transcode's op panel (its log viewer and previews), recorded before anything runs
    page.get_by_role("link", name="transcode720p", exact=True).click()
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate(RECORD_BOXES)
    page.evaluate(RECORD_LOG)
    running = executor(dash_server)
    try:
        wait_complete(page, 180)
    finally:
        stop_process(running)

    boxes = page.evaluate("window.__boxes")
    assert set(boxes) == {
        "analysis",
        "transcode360p",
        "transcode720p",
        "package",
        "thumbnail",
        "filmstrip",
    }
    for name, seen in boxes.items():
        assert seen["states"][-1] == "succeeded", (name, seen)
        assert in_order(seen["states"]), (name, seen)
    # the 720p transcode runs for seconds: the page saw it running and its percent rise
    transcode = boxes["transcode720p"]
    assert "running" in transcode["states"], transcode
    percents = [int(m) for line in transcode["lines"] for m in re.findall(r"(\d+)%", line)]
    assert len(set(percents)) >= 2 and percents == sorted(percents), transcode["lines"]
    order = page.evaluate("window.__order")
    assert order.index("analysis:succeeded") < order.index("transcode720p:succeeded")
    assert order.index("transcode720p:succeeded") < order.index("thumbnail:succeeded")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # the log arrived while the op ran (before the page saw it succeed), not only at its end
    grew = page.evaluate("window.__log")
    assert grew and grew[0][0] > 0 and grew[0][1] != "succeeded", grew
    log_text = page.locator('[data-logview] [role="log"]').text_content()
    assert "ffmpeg" in log_text or "720p" in log_text, log_text

    # the rendition, as a video the browser can read, in the panel without a reload
    video = page.locator("#op-panel video").first
    video.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#op-panel video');"
        " return v && v.readyState >= 1 && v.duration > 0; }",
        timeout=30_000,
    )
    # the thumbnails, as images that loaded
    page.get_by_role("link", name="thumbnail", exact=True).click()
    images = page.locator("#op-panel img")
    images.first.wait_for()
    assert images.count() >= 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('#op-panel img')]"
        ".every((image) => image.complete && image.naturalWidth > 0)"
    )
    # the filmstrip's sprite (960 px wide) and the HLS variants table fit in the op panel
    for op in ("filmstrip", "package"):
        page.get_by_role("link", name=op, exact=True).click()
        page.locator("#op-panel .preview").first.wait_for()
        overflowing = page.evaluate(
            """() => {
              const right = document.getElementById('op-panel').getBoundingClientRect().right;
              return [...document.querySelectorAll('#op-panel .preview, #op-panel .preview *')]
                .filter((e) => e.getBoundingClientRect().right > right + 1)
                .map((e) => e.tagName + '.' + e.className);
            }"""
        )
        assert overflowing == [], (op, overflowing)


@pytest.mark.timeout(180)
def test_a_failed_op_is_red_with_ffmpegs_words_and_reruns_alone_once_its_input_is_fixed(
    page: Any, dash_server: RunningServer, acme: str, media: Path
) -> None:
    good = make_clip(media, size="320x240", seconds=2, name="good.mp4")
    broken = media / "broken.mp4"
    broken.write_bytes(b"this is not media\n")
    agenda_id = submit(
        dash_server,
        acme,
        "mixed",
        [
            {
                "name": "transcode",
                "type": "transcode",
                "payload": {
                    "input": str(good),
                    "renditions": [
                        {"name": "240p", "width": 320, "height": 240, "videoCodec": "h264"}
                    ],
                },
            },
            {
                "name": "thumbnail",
                "type": "thumbnail",
                "payload": {"input": str(broken), "every": 1, "width": 160, "format": "jpeg"},
            },
        ],
    )
    sign_in(page, dash_server, acme)
    page.goto(f"{dash_server.url}/agendas/{agenda_id}?op=thumbnail")
    page.wait_for_selector('#live[data-state="open"]')
    running = executor(dash_server)
    try:
        wait_complete(page, 120)
        # red, live: the box's class and the op's diagnostic, ffmpeg's own words
        assert box(page, "thumbnail").get_attribute("data-state") == "failed"
        assert "state-failed" in (box(page, "thumbnail").get_attribute("class") or "")
        # "Why it failed" is filled when the page reads itself again after the agenda ended
        page.wait_for_function(
            "(text) => document.getElementById('cause').textContent.includes(text)", arg=INVALID
        )
        cause = page.locator("#cause").text_content() or ""
        assert f"Cannot read {broken} as media: {INVALID}" in cause, cause
        page.reload()  # the op panel as rendered for a failed op
        diagnostic = page.locator("#op-panel .diagnostic.first .diagnostic-text").text_content()
        assert INVALID in (diagnostic or "")
        page.wait_for_function(
            "(text) => document.querySelector('[data-logview] [role=\"log\"]')"
            ".textContent.includes(text)",
            arg=INVALID,
        )
        assert attempt_counts(progress_of(dash_server, acme, agenda_id)) == {
            "transcode": 1,
            "thumbnail": 1,
        }

        shutil.copyfile(good, broken)  # the input fixed, then rerun from the failure
        page.get_by_role("button", name="Rerun from failure").click()
        page.wait_for_url(f"**/agendas/{agenda_id}?notice=continue")
        page.wait_for_function(
            "() => document.querySelector('svg.pop-dag g.op[data-op=\"thumbnail\"]')"
            ".dataset.state === 'succeeded'",
            timeout=120_000,
        )
        wait_complete(page, 60)
    finally:
        stop_process(running)
    progress = progress_of(dash_server, acme, agenda_id)
    assert progress["processingStateMessage"] == "succeeded", progress
    assert attempt_counts(progress) == {"transcode": 1, "thumbnail": 2}  # not relaunched
