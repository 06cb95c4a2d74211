"""Parsing ffmpeg's -progress output into percent, fps and speed."""

from __future__ import annotations

from pop.handlers.media.progress import ProgressParser

SAMPLE = """\
frame=25
fps=0.00
stream_0_0_q=28.0
bitrate=N/A
total_size=48
out_time_us=1000000
out_time_ms=1000000
out_time=00:00:01.000000
dup_frames=0
drop_frames=0
speed=2.5x
progress=continue
frame=50
fps=48.7
out_time_us=N/A
out_time_ms=N/A
out_time=00:00:01.500000
speed=N/A
progress=continue
frame=50
fps=49.2
out_time_us=2000000
speed=3.1x
progress=end
"""


def test_each_block_becomes_one_update_against_the_duration() -> None:
    parser = ProgressParser(2.0)
    updates = [u for u in map(parser.feed, SAMPLE.splitlines()) if u is not None]
    assert [u.percent for u in updates] == [50.0, 75.0, 100.0]
    assert [u.out_time for u in updates] == [1.0, 1.5, 2.0]
    assert [u.speed for u in updates] == [2.5, None, 3.1]
    assert [u.end for u in updates] == [False, False, True]
    assert updates[1].message() == "fps 48.7"
    assert updates[2].message() == "fps 49.2, speed 3.1x"


def test_an_unknown_duration_gives_no_percent_and_other_lines_are_ignored() -> None:
    parser = ProgressParser(None)
    assert parser.feed("[libx264 @ 0x1] some warning") is None
    assert parser.feed("out_time_ms=500000") is None
    update = parser.feed("progress=continue")
    assert update is not None and update.percent is None and update.out_time == 0.5


def test_percent_never_exceeds_100() -> None:
    parser = ProgressParser(1.0)
    parser.feed("out_time_us=3000000")
    update = parser.feed("progress=continue")
    assert update is not None and update.percent == 100.0


def test_percent_never_falls_when_ffmpeg_s_out_time_steps_back() -> None:
    parser = ProgressParser(12.0)
    seen = []
    for microseconds in (10_495_420, 9_440_000, 11_000_000):
        parser.feed(f"out_time_us={microseconds}")
        update = parser.feed("progress=continue")
        assert update is not None and update.percent is not None
        seen.append(round(update.percent, 1))
    assert seen == [87.5, 87.5, 91.7]
