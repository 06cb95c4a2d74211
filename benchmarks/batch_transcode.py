"""Batch transcode of 16 short clips to 360p, two at a time: ``pop batch`` beside GNU parallel.

The clips (4 s, 1280x720, ffmpeg's ``testsrc2`` at 25 or 30 fps with a sine tone, encoded with
libx264 ``ultrafast`` and AAC) are generated once, untimed. Then, alternating in this one process:

- pop: ``pop batch examples/templates/transcode-360p.json CLIPS --glob '*.mp4' --cpus 2 --quiet
  --json``, each run with a fresh POP_HOME (a second run in the same home would skip every clip).
  ``--cpus 2`` is what makes it two at a time: each ffmpeg holds one CPU of the budget while it
  runs; pop's default ``--concurrency`` (twice the budget, 4) keeps the next files probed
  meanwhile (``--pop-concurrency N`` passes another). The transcode handler probes every input
  and output and checks the output's duration (its QC is always on).
- GNU parallel: ``parallel --will-cite -j2 FFMPEG... ::: CLIPS``, where FFMPEG is the very command
  line pop runs (``pop.handlers.media.transcode.ffmpeg_argv`` with the template's rendition: 640x360
  H.264 ``veryfast`` crf 23, AAC 128k), writing ``{/.}-360p.mp4`` into a fresh folder per run.

Each figure is the median of ``--runs`` timed runs (default 1) after one untimed warm-up of each,
measured around the whole subprocess. Every run is checked: pop exits 0 with every clip
succeeded, parallel exits 0 and wrote every output.

With ``--external-launch docker``, a third series runs the same ``pop batch`` with each ffmpeg as a
container of ``pop-handlers`` (``pop image build``), alternating with the local one, and the
script prints what docker adds per ffmpeg: (docker wall - local wall) / clips, and the difference
of ``timings.ffmpeg`` per clip (issue 11's target: at most 0.3 s).

Target (issue #5): pop's wall time at most 1.05x GNU parallel's. The script also breaks pop's
overhead down: start-up (from launching ``pop batch`` to the first transcode attempt's start, from
the store's ``attempts`` table), the probe / QC / ffmpeg seconds per clip (each transcode op's
``resultPayload.timings``), the whole overhead per clip ((pop - parallel) / clips), and the peak
resident memory (VmHWM) of the ``pop batch`` and ``parallel`` processes themselves, read from
/proc every 50 ms (their ffmpeg children are not counted).

    python benchmarks/batch_transcode.py                    # 16 clips of 4 s, 1 run
    python benchmarks/batch_transcode.py --clips 4 --seconds 2 --runs 3 --json

Everything runs in a temporary folder with its own POP_HOME (never ~/.pop).
"""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common

CONCURRENCY = 2
CPUS = 2
EXTERNAL_TARGET_SECONDS = 0.3  # issue 11: what docker may add per ffmpeg
TARGET_RATIO = 1.05
SAMPLE_SECONDS = 0.05
TEMPLATE = Path(__file__).resolve().parent.parent / "examples" / "templates" / "transcode-360p.json"
TIMING_KEYS = ("probe", "qc", "cpuWait", "ffmpeg")


@dataclass
class Run:
    """One run of a command: wall time, epoch at launch, exit code, output, peak RSS."""

    seconds: float
    launched: float  # time.time() just before the launch
    returncode: int
    stdout: str
    stderr: str
    peak_kib: int | None


@dataclass
class Series:
    """The timed runs of one tool, with each run's checks and breakdown."""

    runs: list[Run] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    breakdowns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check["ok"] for check in self.checks)

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM of ``pid`` in KiB; None once the process is gone (or a zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def run_sampled(argv: Sequence[str], *, env: dict[str, str], cwd: Path) -> Run:
    """Run ``argv`` (output captured) while a thread reads its VmHWM every 50 ms; the last value
    read before it exits is its peak (its children are not counted)."""
    launched = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )
    done = threading.Event()
    peak: list[int] = []

    def sample() -> None:
        while not done.is_set():
            value = peak_rss_kib(process.pid)
            if value is not None:
                peak.append(value)
            done.wait(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return Run(elapsed, launched, process.returncode, stdout, stderr, max(peak, default=None))


def make_clips(ffmpeg: str, folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` test clips: 1280x720 testsrc2 at 25 or 30 fps and a sine tone, libx264
    ultrafast + AAC (untimed)."""
    folder.mkdir()
    clips = []
    for index in range(count):
        fps = 25 if index % 2 == 0 else 30
        clip = folder / f"clip{index:02d}-{fps}fps.mp4"
        argv = [
            ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1280x720:rate={fps}:duration={seconds:g}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={220 + 20 * index}:sample_rate=48000:duration={seconds:g}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            str(clip),
        ]
        subprocess.run(argv, check=True, capture_output=True)
        clips.append(clip)
    return clips


def template_rendition() -> Any:
    """The template's one rendition as the transcode handler's Rendition model."""
    from pop.handlers.media.transcode import Rendition

    document = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    (operation,) = [op for op in document["agenda"]["operations"] if op["type"] == "transcode"]
    (rendition,) = operation["payload"]["renditions"]
    return Rendition.model_validate(rendition)


def source_facts(clip: Path) -> tuple[bool, str | None]:
    """What the handler reads from the input's probe for the command line: whether it has
    video, and its audio language (passed on as stream metadata)."""
    from pop.handlers.media.probe import probe

    source = probe(clip)
    language = source.audio[0]["params"]["language"] if source.audio else None
    return bool(source.video), language


def parallel_command(
    ffmpeg: str, rendition: Any, out_dir: Path, *, has_video: bool, language: str | None
) -> str:
    """pop's ffmpeg command line for one clip as a GNU parallel command template: ``{}`` the
    input, ``OUT/{/.}-NAME.mp4`` the output (both quoted by parallel itself)."""
    from pop.handlers.media.transcode import ffmpeg_argv

    input_marker, output_marker = Path("/INPUT-MARKER"), Path("/OUTPUT-MARKER")
    argv = ffmpeg_argv(
        ffmpeg, input_marker, rendition, output_marker, has_video=has_video, language=language
    )
    words = []
    for word in argv:
        if word == str(input_marker):
            words.append("{}")
        elif word == str(output_marker):
            words.append(f"{shlex.quote(str(out_dir))}/{{/.}}-{rendition.name}.mp4")
        else:
            words.append(shlex.quote(word))
    return " ".join(words)


def check_pop(run: Run, clips: int) -> dict[str, Any]:
    """Did the pop run succeed: exit 0, every clip succeeded."""
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        report = {}
    succeeded = int(report.get("succeeded") or 0)
    return {
        "exitCode": run.returncode,
        "succeeded": succeeded,
        "failed": report.get("failed"),
        "skipped": report.get("skipped"),
        "ok": run.returncode == 0 and succeeded == clips,
        "agendaIds": [item.get("agendaId") for item in report.get("items") or []],
        "stderr": run.stderr.strip()[-500:] if run.returncode else "",
    }


def check_parallel(run: Run, out_dir: Path, clips: int) -> dict[str, Any]:
    """Did the parallel run succeed: exit 0, one non-empty output per clip."""
    outputs = [path for path in out_dir.glob("*.mp4") if path.stat().st_size > 0]
    return {
        "exitCode": run.returncode,
        "outputs": len(outputs),
        "ok": run.returncode == 0 and len(outputs) == clips,
        "stderr": run.stderr.strip()[-500:] if run.returncode else "",
    }


def pop_breakdown(home: Path, run: Run, agenda_ids: Sequence[str]) -> dict[str, Any]:
    """Start-up (launch to the first transcode attempt's start), shut-down (the last transcode
    attempt's end to the process's exit) and the mean probe / QC / ffmpeg seconds per clip from
    the transcode ops' ``resultPayload.timings``."""
    from pop.api import Client
    from pop.config import Settings

    with sqlite3.connect(home / "pop.db") as db:
        first, last = db.execute(
            "SELECT min(started_time), max(ended_time) FROM attempts WHERE operation = 'transcode'"
        ).fetchone()
    startup = first / 1000 - run.launched if first is not None else None
    shutdown = run.launched + run.seconds - last / 1000 if last is not None else None
    per_clip: dict[str, list[float]] = {key: [] for key in TIMING_KEYS}
    client = Client(Settings(home=home))
    try:
        for agenda_id in agenda_ids:
            progress = client.status(agenda_id).to_wire()
            for op in progress.get("operationProgress") or []:
                timings = (op.get("resultPayload") or {}).get("timings")
                if op.get("operation") == "transcode" and isinstance(timings, dict):
                    for key in TIMING_KEYS:
                        if key in timings:
                            per_clip[key].append(float(timings[key]))
    finally:
        client.close()
    means = {
        key: statistics.fmean(values) if len(values) == len(agenda_ids) and values else None
        for key, values in per_clip.items()
    }
    return {
        "startupSeconds": startup,
        "shutdownSeconds": shutdown,
        **{f"{key}PerClip": means[key] for key in TIMING_KEYS},
    }


def parallel_breakdown(joblog: Path) -> dict[str, Any]:
    """The mean ffmpeg seconds per clip under parallel (``--joblog`` JobRuntime)."""
    runtimes = []
    for line in joblog.read_text(encoding="utf-8").splitlines()[1:]:
        columns = line.split("\t")
        if len(columns) > 3:
            runtimes.append(float(columns[3]))
    return {"ffmpegPerClip": statistics.fmean(runtimes) if runtimes else None}


def median_of(breakdowns: Sequence[dict[str, Any]], key: str) -> float | None:
    values = [entry[key] for entry in breakdowns if entry.get(key) is not None]
    return statistics.median(values) if values else None


def pop_row(tool: str, command: str, series: Series, clips: int) -> dict[str, Any]:
    """The table row of one series of ``pop batch`` runs, each failed run named in its note."""
    return {
        "tool": tool,
        "command": command,
        "medianSeconds": series.median,
        "seconds": [run.seconds for run in series.runs],
        "peakRssKiB": max((run.peak_kib or 0) for run in series.runs) or None,
        "note": ("ok" if series.ok else "FAILED")
        + "".join(
            f"; run {number}: exit {check['exitCode']}, {check['succeeded']}/{clips} "
            f"succeeded{', ' + check['stderr'] if check['stderr'] else ''}"
            for number, check in enumerate(series.checks, 1)
            if not check["ok"]
        ),
    }


def run_pop_batch(
    series: Series | None,
    argv: list[str],
    home: Path,
    env: dict[str, str],
    cwd: Path,
    args: Any,
) -> None:
    """One ``pop batch`` run in a fresh POP_HOME, checked and (unless a warm-up: ``series``
    None) added to ``series`` with its breakdown."""
    home.mkdir(exist_ok=True)
    run = run_sampled(argv, env=env, cwd=cwd)
    check = check_pop(run, args.clips)
    if series is not None:
        series.runs.append(run)
        series.checks.append(check)
        series.breakdowns.append(
            pop_breakdown(home, run, check["agendaIds"]) if check["ok"] else {}
        )
    shutil.rmtree(home)


def main() -> None:
    parser = common.base_parser(__doc__, runs=1)
    parser.add_argument("--clips", type=int, default=16, help="clips to transcode (default 16)")
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="length of each clip in seconds (default 4)"
    )
    parser.add_argument(
        "--pop-concurrency",
        type=int,
        default=None,
        help="pop batch --concurrency (default: pop's own, twice --cpus)",
    )
    parser.add_argument(
        "--external-launch",
        metavar="RUNTIME",
        help="also run pop batch with ffmpeg on RUNTIME (e.g. docker: each ffmpeg a container of "
        "pop-handlers, made by `pop image build`), alternating with the local run, and print what "
        "it adds per ffmpeg (target for docker: at most 0.3 s)",
    )
    args = parser.parse_args()

    from pop.handlers.media.ffmpeg import find_ffmpeg

    pop_series, parallel_series, external_series = Series(), Series(), Series()
    have_parallel = common.peer("parallel") is not None
    with common.sandbox(args.tmpdir) as box:
        env = box.env
        ffmpeg = find_ffmpeg(env)
        clips = make_clips(ffmpeg, box.root / "clips", args.clips, args.seconds)
        rendition = template_rendition()
        has_video, language = source_facts(clips[0])
        command = parallel_command(
            ffmpeg, rendition, Path("OUT"), has_video=has_video, language=language
        )
        for index in range(1 + args.runs):
            timed = index > 0
            home = box.root / f"pop-home-{index}"
            home.mkdir()
            run_env = {**env, "POP_HOME": str(home)}
            pop_argv = [
                *common.pop_command(),
                "batch",
                str(TEMPLATE),
                str(clips[0].parent),
                "--glob",
                "*.mp4",
                *(["--concurrency", str(args.pop_concurrency)] if args.pop_concurrency else []),
                "--cpus",
                str(CPUS),
                "--quiet",
                "--json",
            ]
            run_pop_batch(pop_series if timed else None, pop_argv, home, run_env, box.root, args)
            if args.external_launch:
                external_argv = [*pop_argv, "--external-launch", args.external_launch]
                series = external_series if timed else None
                run_pop_batch(series, external_argv, home, run_env, box.root, args)
            if not have_parallel:
                continue
            out_dir = box.root / f"parallel-out-{index}"
            out_dir.mkdir()
            joblog = box.root / f"parallel-{index}.joblog"
            parallel_argv = [
                "parallel",
                "--will-cite",
                f"-j{CONCURRENCY}",
                "--joblog",
                str(joblog),
                parallel_command(
                    ffmpeg, rendition, out_dir, has_video=has_video, language=language
                ),
                ":::",
                *(str(clip) for clip in clips),
            ]
            run = run_sampled(parallel_argv, env=env, cwd=box.root)
            if timed:
                parallel_series.runs.append(run)
                parallel_series.checks.append(check_parallel(run, out_dir, args.clips))
                parallel_series.breakdowns.append(parallel_breakdown(joblog))
            shutil.rmtree(out_dir)

    pop_command = (
        "pop batch transcode-360p.json CLIPS --glob '*.mp4' "
        + (f"--concurrency {args.pop_concurrency} " if args.pop_concurrency else "")
        + f"--cpus {CPUS} --quiet --json"
    )
    rows: list[dict[str, Any]] = [pop_row("pop batch", pop_command, pop_series, args.clips)]
    if args.external_launch:
        flag = f"--external-launch {args.external_launch}"
        rows.append(
            pop_row(f"pop batch {flag}", f"{pop_command} {flag}", external_series, args.clips)
        )
    if have_parallel:
        rows.append(
            {
                "tool": "GNU parallel",
                "command": f"parallel --will-cite -j{CONCURRENCY} FFMPEG... ::: CLIPS",
                "medianSeconds": parallel_series.median,
                "seconds": [run.seconds for run in parallel_series.runs],
                "peakRssKiB": max((run.peak_kib or 0) for run in parallel_series.runs) or None,
                "note": ("ok" if parallel_series.ok else "FAILED")
                + "".join(
                    f"; run {number}: exit {check['exitCode']}, {check['outputs']}/{args.clips} "
                    f"outputs{', ' + check['stderr'] if check['stderr'] else ''}"
                    for number, check in enumerate(parallel_series.checks, 1)
                    if not check["ok"]
                ),
            }
        )
    else:
        rows.append(
            {
                "tool": "GNU parallel",
                "command": "parallel",
                "medianSeconds": None,
                "seconds": [],
                "peakRssKiB": None,
                "note": common.not_installed("parallel"),
            }
        )

    ratio = verdict = None
    pair_ratios: list[float] = []
    if have_parallel:
        ratio = pop_series.median / parallel_series.median
        pair_ratios = [  # run i of pop over run i of parallel, timed back to back
            mine.seconds / theirs.seconds
            for mine, theirs in zip(pop_series.runs, parallel_series.runs, strict=False)
        ]
        if not (pop_series.ok and parallel_series.ok):
            verdict = "FAILED"
        else:
            verdict = "met" if ratio <= TARGET_RATIO else "missed"
    overhead = {
        "startupSeconds": median_of(pop_series.breakdowns, "startupSeconds"),
        "shutdownSeconds": median_of(pop_series.breakdowns, "shutdownSeconds"),
        **{
            f"{key}PerClip": median_of(pop_series.breakdowns, f"{key}PerClip")
            for key in TIMING_KEYS
        },
        "parallelFfmpegPerClip": median_of(parallel_series.breakdowns, "ffmpegPerClip"),
        "overheadPerClip": (pop_series.median - parallel_series.median) / args.clips
        if have_parallel
        else None,
    }
    external: dict[str, Any] | None = None
    if args.external_launch:
        # each clip is one ffmpeg run: what the runtime adds per ffmpeg, wall and timings.ffmpeg
        local_ffmpeg = median_of(pop_series.breakdowns, "ffmpegPerClip")
        external_ffmpeg = median_of(external_series.breakdowns, "ffmpegPerClip")
        added = (external_series.median - pop_series.median) / args.clips
        external = {
            "runtime": args.external_launch,
            "addedWallPerFfmpeg": added,
            "ffmpegPerClip": external_ffmpeg,
            "addedFfmpegPerClip": external_ffmpeg - local_ffmpeg
            if external_ffmpeg is not None and local_ffmpeg is not None
            else None,
            "target": f"at most {EXTERNAL_TARGET_SECONDS:g} s per ffmpeg over local",
            "targetMet": "FAILED"
            if not (external_series.ok and pop_series.ok)
            else "met"
            if added <= EXTERNAL_TARGET_SECONDS
            else "missed",
        }
    report = {
        "benchmark": "batch_transcode",
        "external": external,
        "machine": common.machine(args.tmpdir),
        "clips": args.clips,
        "clipSeconds": args.seconds,
        "runs": args.runs,
        "settings": {
            "parallelJobs": CONCURRENCY,
            "popConcurrency": args.pop_concurrency,
            "cpus": CPUS,
            "rendition": rendition.to_wire(),
            "ffmpeg": ffmpeg,
            "ffmpegCommand": command,
        },
        "popRuns": pop_series.checks,
        "parallelRuns": parallel_series.checks,
        "target": f"pop at most {TARGET_RATIO:g}x GNU parallel's wall time",
        "ratio": ratio,
        "pairRatios": pair_ratios,
        "targetMet": verdict,
        "overhead": overhead,
        "rows": rows,
    }
    if args.json:
        common.print_json(report)
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"{args.clips} clips of {args.seconds:g} s 1280x720 -> "
        f"{rendition.width}x{rendition.height} {rendition.video_codec} {rendition.preset} "
        f"crf {rendition.crf}, "
        f"{rendition.audio_codec} {rendition.audio_bitrate}; parallel -j{CONCURRENCY}, pop --cpus "
        f"{CPUS} --concurrency {args.pop_concurrency or 'default'}; "
        f"median of {args.runs} run(s) after 1 warm-up each, alternating"
    )
    common.print_table(
        "whole-process wall time",
        ["tool", "median s", "per clip s", "peak RSS MiB", "note"],
        [
            [
                row["tool"],
                row["medianSeconds"] if row["medianSeconds"] is not None else "-",
                row["medianSeconds"] / args.clips if row["medianSeconds"] is not None else "-",
                row["peakRssKiB"] / 1024 if row["peakRssKiB"] else "-",
                row["note"],
            ]
            for row in rows
        ],
    )

    def shown(value: float | None, scale: float = 1000.0) -> float | str:
        return value * scale if value is not None else "n/a"

    common.print_table(
        "pop's overhead (medians over the timed runs)",
        ["part", "ms", "note"],
        [
            [
                "start-up",
                shown(overhead["startupSeconds"]),
                "launch of `pop batch` to the first transcode attempt's start (once per batch)",
            ],
            [
                "shut-down",
                shown(overhead["shutdownSeconds"]),
                "the last transcode attempt's end to the exit of `pop batch` (once per batch)",
            ],
            [
                "probe per clip",
                shown(overhead["probePerClip"]),
                "input + output probe and the duration check (timings.probe)",
            ],
            ["picture QC per clip", shown(overhead["qcPerClip"]), "SSIM/VMAF (timings.qc)"],
            [
                "CPU wait per clip",
                shown(overhead["cpuWaitPerClip"]),
                "an encode waiting for a CPU of the budget (timings.cpuWait; not overhead)",
            ],
            [
                "ffmpeg per clip, pop",
                shown(overhead["ffmpegPerClip"]),
                "timings.ffmpeg: launch to exit, progress parsed",
            ],
            [
                "ffmpeg per clip, parallel",
                shown(overhead["parallelFfmpegPerClip"]),
                "JobRuntime in parallel's --joblog",
            ],
            [
                "overhead per clip",
                shown(overhead["overheadPerClip"]),
                "(pop wall - parallel wall) / clips",
            ],
        ],
    )
    if external is not None:
        added_each = external["addedFfmpegPerClip"]
        each = "n/a" if added_each is None else f"{added_each:.3f} s"
        print(
            f"--external-launch {external['runtime']} adds "
            f"{external['addedWallPerFfmpeg']:.3f} s of wall time per ffmpeg over local "
            f"(each ffmpeg's own time, timings.ffmpeg, {each} more; two run at once); "
            f"target <= {EXTERNAL_TARGET_SECONDS:g} s -> {external['targetMet']}"
        )
    if ratio is None:
        print("target: pop at most 1.05x GNU parallel -> n/a (parallel not installed)")
    else:
        print(f"pop / parallel = {ratio:.3f}x; target <= {TARGET_RATIO:g}x -> {verdict}")
        print("each run's pop / parallel: " + " ".join(f"{r:.3f}" for r in pair_ratios))


if __name__ == "__main__":
    main()
