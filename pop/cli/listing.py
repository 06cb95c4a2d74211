"""What ``pop --help`` (and ``pop`` alone) prints on a terminal of 80 columns or more, kept
here so the fast front end (:mod:`pop.cli.quick`) prints it without building the typer app.

Layer: cli. Generated from the typer app: ``python -m pop.cli.listing`` writes this file again,
and a test (tests/cli/test_quick.py) fails when it differs from what the app prints.
"""

LISTING = """\
Usage: pop [OPTIONS] COMMAND [ARGS]...

  Priority Operation Processing: store agendas (workflows of typed
  operations), queue them fairly and run each operation as a local process, a
  Docker container or a Kubernetes pod (Kubernetes: tested on a simulated
  cluster only).

Options:
  --version   Print the version.
  -h, --help  Show this message and exit.

Commands:
  submit     Validate an agenda, store it and queue it for `pop executor`.
  run-local  Store an agenda and run it now in this process; exit 0...
  status     Show an agenda's progress, the cause of a failure and where...
  list       List agendas, one line each: a short id you can paste,...
  logs       Print what each attempt of an agenda's operations logged...
  cancel     Stop an agenda: running handlers are stopped, nothing new...
  outputs    List where an agenda's outputs are: each op's folder and the...
  executor   Claim queued agendas atomically and run them, and rerun or...
  alive      Check that `pop executor --alive-file` asked for work within...
  rerun      Reset a stored agenda to WAITING/pending and queue it again...
  batch      Run TEMPLATE once per input file (payload {"input": PATH,...
  graph      Draw an agenda's DAG (ops as boxes, edges from references...
  reclaim    Take back agendas whose executor died: stop what it...
  retry      Rerun failed agendas whose failure is retryable (continue...
  serve      Serve POP's routes over HTTP (under /pop/) and the web...
  template   Store agenda templates and run them with a payload.
  customer   Customers (tenants): each belongs to a resource pool.
  pool       Resource pools: processing capacity shared by customers.
  insight    Insights: queues that map agendas to a pool and hand them out.
  progress   Progress over groups of agendas.
  registry   Check and show the handler registry.
  handler    Run handlers outside an agenda.
  image      Build the images the docker runtime runs: `pop image build`...
  k8s        Print the manifests that prepare a cluster for pop's...
  token      Make, list and revoke the bearer tokens of `pop serve`.
  reap       Delete old data: `pop reap data` removes completed agendas,...
"""


def render() -> str:
    """What the typer app prints for ``pop --help`` at 80 columns, run as a process with this
    front end off (``POP_QUICK=0``)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "POP_QUICK": "0", "COLUMNS": "80"}
    completed = subprocess.run(
        [sys.executable, "-m", "pop", "--help"], capture_output=True, text=True, env=env, check=True
    )
    return completed.stdout


if __name__ == "__main__":
    import pathlib

    path = pathlib.Path(__file__)
    text = path.read_text()
    start = text.index('LISTING = """\\\n') + len('LISTING = """\\\n')
    end = text.index('"""', start)
    escaped = render().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    path.write_text(text[:start] + escaped + text[end:])
