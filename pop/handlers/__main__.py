"""``python -m pop.handlers module.path:function [standard args]``: run one handler as a process.

Layer: handlers. Started by a runtime (local process, container command, pod command) on the
executor's behalf; see :mod:`pop.handlers.entry` for the protocol and the exit codes. Kept to
light imports (pydantic, pop.models) so that a handler starts fast.
"""

import sys

from pop.handlers.entry import main

if __name__ == "__main__":
    sys.exit(main())
