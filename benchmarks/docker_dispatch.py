"""What pop adds per op on the docker runtime: 20 containers running ``true``, pop vs docker.

pop runs an agenda of N independent ops of a plain-command registry entry (``command:
["true"]`` in IMAGE) with ``pop run-local AGENDA --registry REG --launch docker``, at
``--concurrency 1`` beside N sequential ``docker run --rm IMAGE true`` (a shell loop), and at
``--concurrency 8`` beside ``parallel -j8 docker run --rm IMAGE true ::: 1..N`` (GNU parallel).
pop gets ``--cpus`` equal to the concurrency, so the CPU budget does not hold it back where
docker run has none. The two commands of each pair run round by round (one untimed warm-up
round), so the machine's load drifts alike for both. Each pop run is checked (exit 0, every op
succeeded) and reported.

IMAGE is ``--image``, else pop's offline base image (``pop-base:<hash>``, made by ``pop image
base``) when the engine has it, else a busybox image imported from the host's busybox-static.
The engine is ``DOCKER_HOST`` or the default socket.

Target (issue 11): pop adds at most 50 ms per op: (pop - docker) / N, from the medians.

    python benchmarks/docker_dispatch.py                 # 20 ops, 3 runs
    python benchmarks/docker_dispatch.py --ops 40 --runs 5 --json
"""

from __future__ import annotations

import json
import os
from typing import Any

import common

TARGET_MS = 50.0
CONCURRENCIES = (1, 8)


def pick_image(asked: str | None) -> str:
    """The image to run ``true`` in (see the module docstring)."""
    if asked:
        return asked
    from pop.runtimes.docker.base_image import base_image_tag, busybox_image
    from pop.runtimes.docker.engine import connect

    tag = base_image_tag()
    client = connect(os.environ.get("DOCKER_HOST", ""))
    try:
        if client.images.list(name=tag):
            return tag
    finally:
        client.close()
    return busybox_image(log=lambda line: None)


def check_pop_run(stdout: str, returncode: int, ops: int) -> str:
    try:
        progress = json.loads(stdout)
    except json.JSONDecodeError:
        return f"FAILED: exit {returncode}, no JSON output"
    succeeded = sum(
        1
        for op in progress.get("operationProgress") or []
        if op.get("processingStateMessage") == "succeeded"
    )
    ok = returncode == 0 and succeeded == ops
    return ("ok" if ok else "FAILED") + f": exit {returncode}, {succeeded}/{ops} ops succeeded"


def main() -> None:
    parser = common.base_parser(__doc__, runs=3)
    parser.add_argument("--ops", type=int, default=20, help="operations / containers (default 20)")
    parser.add_argument("--image", help="image to run `true` in (default: see above)")
    args = parser.parse_args()
    image = pick_image(args.image)
    numbers = [str(number) for number in range(1, args.ops + 1)]
    docker_run = ["docker", "run", "--rm", image, "true"]

    pairs: list[dict[str, Any]] = []
    with common.sandbox(args.tmpdir) as box:
        agenda = box.write_json(
            "agenda.json", common.independent_agenda(args.ops, "dockerTrue", title="dispatch")
        )
        registry = box.write_text(
            "registry.yaml",
            f'handlers:\n  dockerTrue: {{command: ["true"], image: "{image}"}}\n',
        )
        for concurrency in CONCURRENCIES:
            pop_argv = [
                *common.pop_command(),
                "run-local",
                str(agenda),
                "--registry",
                str(registry),
                "--launch",
                "docker",
                "--concurrency",
                str(concurrency),
                "--cpus",
                str(concurrency),
                "--quiet",
                "--json",
            ]
            if concurrency == 1:
                loop = f"for i in $(seq {args.ops}); do {' '.join(docker_run)}; done"
                peer_name, peer_shown, peer_argv = (
                    "docker run (sequential)",
                    loop,
                    ["sh", "-c", loop],
                )
            else:
                peer_name = f"GNU parallel -j{concurrency} docker run"
                peer_shown = (
                    f"parallel -j{concurrency} {' '.join(docker_run)} ::: $(seq {args.ops})"
                )
                peer_argv = ["parallel", "--will-cite", f"-j{concurrency}", *docker_run]
                peer_argv += [":::", *numbers]
            commands = {"pop": pop_argv}
            if common.peer(peer_argv[0]) is not None:
                commands["peer"] = peer_argv
            timed = common.time_interleaved(commands, runs=args.runs, env=box.env, cwd=box.root)
            pop_timed = timed["pop"]
            pair: dict[str, Any] = {
                "concurrency": concurrency,
                "pop": {
                    "command": f"pop run-local AGENDA --launch docker --concurrency {concurrency} "
                    f"--cpus {concurrency} --quiet --json",
                    "medianSeconds": pop_timed.median,
                    "seconds": pop_timed.seconds,
                    "note": check_pop_run(
                        pop_timed.last.stdout, pop_timed.last.returncode, args.ops
                    ),
                },
                "peer": {"tool": peer_name, "command": peer_shown},
            }
            if "peer" in timed:
                peer = timed["peer"]
                added_ms = (pop_timed.median - peer.median) / args.ops * 1000
                pair["peer"].update(
                    medianSeconds=peer.median,
                    seconds=peer.seconds,
                    note="ok" if peer.last.returncode == 0 else f"exit {peer.last.returncode}",
                )
                pair["addedMsPerOp"] = added_ms
                pair["ratio"] = pop_timed.median / peer.median
                pair["targetMet"] = "met" if added_ms <= TARGET_MS else "missed"
            else:
                pair["peer"].update(medianSeconds=None, note=common.not_installed("parallel"))
            pairs.append(pair)

    report = {
        "benchmark": "docker_dispatch",
        "machine": common.machine(args.tmpdir),
        "image": image,
        "ops": args.ops,
        "runs": args.runs,
        "target": f"pop adds at most {TARGET_MS:g} ms per op",
        "pairs": pairs,
    }
    if args.json:
        common.print_json(report)
        return
    print(common.machine_line(args.tmpdir))
    print(f"{args.ops} ops of `true` in {image}; median of {args.runs} runs (+1 warm-up)")
    rows = []
    for pair in pairs:
        peer = pair["peer"]
        rows.append(
            [
                pair["concurrency"],
                pair["pop"]["medianSeconds"],
                peer["tool"],
                peer.get("medianSeconds"),
                pair.get("ratio"),
                pair.get("addedMsPerOp"),
                pair.get("targetMet", "-"),
                pair["pop"]["note"],
            ]
        )
    common.print_table(
        "docker dispatch",
        ["concurrency", "pop s", "peer", "peer s", "pop/peer", "added ms/op", "target", "pop run"],
        rows,
    )


if __name__ == "__main__":
    main()
