"""Every file under examples/ runs in a test, through the real CLI on the local runtime: the
agendas with `pop run-local`, the templates with their payloads through `pop template add|run`
(or `pop batch`), the media examples and templates on a tiny generated clip, and the library
example examples/batch.py. A new example file without a run here fails
test_every_example_file_runs_in_a_test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pop_env, run_pop_at
from tests.example_media import filled, make_clip

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Example:
    """One example's run: its own POP_HOME, a scratch folder and the shared input clip."""

    home: Path
    folder: Path
    clip: Path

    def pop(self, *args: str, expect: int = 0) -> Any:
        """``pop ARGS``; checks the exit code and returns the JSON on stdout (None when empty)."""
        done = run_pop_at(self.home, *args, timeout=120)
        assert done.returncode == expect, f"pop {' '.join(args)}: {done.stdout}{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    def run_local(self, agenda: Path, *, expect: int = 0) -> dict[str, Any]:
        progress = self.pop("run-local", str(agenda), "--json", expect=expect)
        assert isinstance(progress, dict)
        assert progress["processingState"] == "COMPLETE"
        return progress

    def media(self, name: str) -> Path:
        """examples/media/<name> with the clip as its input."""
        return filled(EXAMPLES / "media" / name, self.clip, self.folder)


def states(progress: dict[str, Any]) -> dict[str, str]:
    return {
        op["operation"]: f"{op['processingState']}/{op['processingStateMessage']}"
        for op in progress["operationProgress"]
    }


def outputs(progress: dict[str, Any]) -> dict[str, Any]:
    return {op["operation"]: op["resultPayload"] for op in progress["operationProgress"]}


def succeeded(progress: dict[str, Any]) -> dict[str, Any]:
    """The outputs of an agenda that must have succeeded, every op included."""
    assert progress["processingStateMessage"] == "succeeded", progress["diagnosticEvents"]
    assert set(states(progress).values()) == {"COMPLETE/succeeded"}, states(progress)
    return outputs(progress)


EXAMPLE_RUNS: dict[str, Callable[[Example], None]] = {}
# example files that run as part of another example's run
RUN_WITH: dict[str, str] = {"templates/hello-payload.json": "templates/hello-template.json"}


def runs(name: str) -> Callable[[Callable[[Example], None]], Callable[[Example], None]]:
    def register(check: Callable[[Example], None]) -> Callable[[Example], None]:
        EXAMPLE_RUNS[name] = check
        return check

    return register


@runs("hello.json")
def hello_fans_out_and_in_through_references(example: Example) -> None:
    done = succeeded(example.run_local(EXAMPLES / "hello.json"))
    assert done["combine"]["messages"] == ["hello, world!", "hello pop..."]


@runs("failure.json")
def failure_fails_at_transcode_and_never_launches_its_dependents(example: Example) -> None:
    progress = example.run_local(EXAMPLES / "failure.json", expect=1)
    assert progress["processingStateMessage"] == "failed"
    assert states(progress) == {
        "download": "COMPLETE/succeeded",
        "transcode": "COMPLETE/failed",
        "package": "WAITING/pending",
        "publish": "WAITING/pending",
    }


@runs("templates/hello-template.json")
def hello_template_runs_with_its_payload(example: Example) -> None:
    stored = example.pop(
        "template", "add", str(EXAMPLES / "templates/hello-template.json"), "--json"
    )
    payload = EXAMPLES / "templates/hello-payload.json"
    submitted = example.pop("template", "run", stored["id"], "--payload", str(payload), "--json")
    progress = example.pop("run-local", "--resume", submitted["agendaId"], "--json")
    done = succeeded(progress)
    assert done["combine"]["messages"] == ["hello, world!", "hello world..."]
    assert done["combine"]["request"] == json.loads(payload.read_text(encoding="utf-8"))


@runs("templates/transcode-360p.json")
def transcode_360p_runs_as_a_batch_over_one_file(example: Example) -> None:
    template = EXAMPLES / "templates/transcode-360p.json"
    report = example.pop("batch", str(template), str(example.clip), "--json")
    assert (report["succeeded"], report["failed"]) == (1, 0), report
    status = example.pop("status", report["items"][0]["agendaId"], "--json")
    (rendition,) = succeeded(status)["transcode"]["renditions"]
    assert rendition["params"]["video"]["height"] == 360
    assert Path(rendition["path"]).is_file()


@runs("templates/abr-ladder.json")
def abr_ladder_runs_on_one_file(example: Example) -> None:
    example.pop("template", "add", str(EXAMPLES / "templates/abr-ladder.json"), "--json")
    payload = json.dumps({"input": str(example.clip)})
    submitted = example.pop("template", "run", "abr-ladder", "--payload-json", payload, "--json")
    progress = example.pop("run-local", "--resume", submitted["agendaId"], "--json")
    done = succeeded(progress)
    variants = done["package"]["hls"]["variants"]
    assert [(v["width"], v["height"]) for v in variants] == [(640, 360), (1280, 720)]
    assert done["thumbnail"]["thumbnails"] and Path(done["filmstrip"]["vtt"]).is_file()


@runs("media/analysis.json")
def analysis_probes_the_input(example: Example) -> None:
    done = succeeded(example.run_local(example.media("analysis.json")))
    (probed,) = done["analysis"]["inputs"]
    assert probed["url"] == str(example.clip) and probed["duration"] == pytest.approx(2, abs=0.1)
    (video,) = done["analysis"]["inputStreams"]["video"]
    assert (video["params"]["width"], video["params"]["height"]) == (320, 240)


@runs("media/thumbnail.json")
def thumbnail_writes_a_jpeg_at_each_time(example: Example) -> None:
    done = succeeded(example.run_local(example.media("thumbnail.json")))
    thumbnails = done["thumbnail"]["thumbnails"]
    assert [thumb["time"] for thumb in thumbnails] == [0, 1]
    assert all(Path(thumb["path"]).is_file() and thumb["width"] == 320 for thumb in thumbnails)


@runs("media/filmstrip.json")
def filmstrip_writes_a_sprite_and_its_index(example: Example) -> None:
    done = succeeded(example.run_local(example.media("filmstrip.json")))
    filmstrip = done["filmstrip"]
    assert filmstrip["cues"] == 2 and filmstrip["sprite"]["tileWidth"] == 160
    assert Path(filmstrip["sprite"]["path"]).is_file() and Path(filmstrip["vtt"]).is_file()


@runs("media/transcode.json")
def transcode_makes_a_360p_rendition_of_the_analysed_input(example: Example) -> None:
    done = succeeded(example.run_local(example.media("transcode.json")))
    (rendition,) = done["transcode"]["renditions"]
    assert rendition["name"] == "360p" and rendition["params"]["video"]["height"] == 360
    assert Path(rendition["path"]).is_file()


@runs("media/package.json")
def package_makes_hls_and_dash_of_two_renditions(example: Example) -> None:
    done = succeeded(example.run_local(example.media("package.json")))
    variants = done["package"]["hls"]["variants"]
    assert [(v["width"], v["height"]) for v in variants] == [(640, 360), (1280, 720)]
    assert Path(done["package"]["hls"]["master"]).is_file()
    assert Path(done["package"]["dash"]["manifest"]).is_file()


@runs("batch.py")
def batch_script_transcodes_a_folder(example: Example) -> None:
    inputs = example.folder / "inputs"
    inputs.mkdir()
    (inputs / "clip.mp4").write_bytes(example.clip.read_bytes())
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "batch.py"), str(inputs)],
        capture_output=True,
        text=True,
        env=pop_env(example.home),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    state, source, output = done.stdout.split()
    assert (state, source) == ("succeeded", str(inputs / "clip.mp4"))
    assert output.endswith("360p.mp4") and Path(output).is_file()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("example-media"))


@pytest.mark.parametrize("name", sorted(EXAMPLE_RUNS))
def test_the_example_runs(name: str, tmp_path: Path, clip: Path) -> None:
    EXAMPLE_RUNS[name](Example(home=tmp_path / "pop_home", folder=tmp_path, clip=clip))


def test_every_example_file_runs_in_a_test() -> None:
    files = {
        path.relative_to(EXAMPLES).as_posix()
        for path in EXAMPLES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    covered = set(EXAMPLE_RUNS) | set(RUN_WITH)
    assert sorted(files - covered) == [], "examples without a run in tests/test_examples.py"
    assert sorted(covered - files) == [], "runs of examples that no longer exist"
    assert set(RUN_WITH.values()) <= set(EXAMPLE_RUNS)
