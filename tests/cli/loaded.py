"""What a ``pop`` command line leaves loaded: the script the CLI's import-weight tests run in a
child interpreter (tests/cli/test_app.py, test_quick.py, test_quick_submit_paths.py)."""

from __future__ import annotations

# runs ``pop ARGS`` through ``pop.cli.main`` and writes, as the last line of stderr, its exit
# code and every module loaded when it ended
LOADED = """
import json, sys
from pop.cli import main
code = None
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
