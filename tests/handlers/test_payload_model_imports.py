"""Reading a handler's payload model (what ``pop submit``, ``template run`` and ``batch`` do for
every op type) loads neither PyAV nor asyncio: the handler modules import them, and the handler
context, only where a handler runs (``benchmarks/cli_latency.py`` times a media submit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pop.registry.builtin import WITH_PAYLOAD_MODEL
from tests.conftest import pop_env

READ_MODELS = """
import json, sys
from pop.config import Settings
from pop.engine.payloads import payload_model_for
from pop.registry import Registry
from pathlib import Path
registry = Registry.load(None, settings=Settings(home=Path(sys.argv[1])))
models = {name: payload_model_for(registry, name).__name__ for name in sys.argv[2:]}
print(json.dumps({"models": models, "loaded": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("op_type", sorted(WITH_PAYLOAD_MODEL))
def test_reading_a_payload_model_loads_neither_pyav_nor_asyncio(
    op_type: str, tmp_path: Path
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", READ_MODELS, str(tmp_path / "home"), op_type],
        env=pop_env(tmp_path / "home"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout)
    assert report["models"][op_type].endswith("Payload")
    loaded = {name.split(".")[0] for name in report["loaded"]}
    assert not loaded & {"av", "asyncio"}
    assert "pop.handlers.context" not in report["loaded"]
