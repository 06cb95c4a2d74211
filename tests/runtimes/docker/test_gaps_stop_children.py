"""The reclaimer's stop of a launched handler on docker reaches its externals (issue 11 audit).

A launched op's externals are not written to its attempt row (the handler in its container has
no store): ``stop(record)`` finds them by the ``pop.parent`` label, the handler's launch name. The
stopping launcher did not start any of them and has only the JSON record, as the reclaimer does.
"""

from __future__ import annotations

import json

from pop.runtimes import LaunchRecord
from tests.docker_engine import DockerEngine
from tests.runtimes.docker.test_launcher import (
    container_state,
    docker_launcher,
    first_line,
    run,
    shell,
    unique,
)


def test_stop_from_a_json_record_removes_the_handler_and_its_external_children_only(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        async with (
            docker_launcher(docker_engine) as executor,
            docker_launcher(docker_engine) as handler,
        ):
            parent = await executor.launch(
                shell(docker_engine, unique("handler"), "echo up; exec sleep 60")
            )
            await first_line(parent)
            parent_name = parent.record.details["name"]
            external = {"pop.parent": parent_name, "pop.role": "external"}
            running_child = await handler.launch(
                shell(docker_engine, unique("ffmpeg"), "echo up; exec sleep 60", labels=external)
            )
            ended_child = await handler.launch(
                shell(docker_engine, unique("ffprobe"), "echo done", labels=external)
            )
            await first_line(running_child)
            assert (await ended_child.wait()).ok  # ended, not yet removed: its handler died
            stranger = await handler.launch(
                shell(
                    docker_engine,
                    unique("stranger"),
                    "echo up; exec sleep 60",
                    labels={"pop.parent": f"{parent_name}-other", "pop.role": "external"},
                )
            )
            bystander = await handler.launch(
                shell(docker_engine, unique("bystander"), "echo up; exec sleep 60")
            )
            await first_line(stranger)
            await first_line(bystander)

            record = LaunchRecord.from_json(json.loads(json.dumps(parent.record.to_json())))
            async with docker_launcher(docker_engine) as reclaimer:
                assert await reclaimer.stop(record, grace_seconds=1) is True

            for gone in (parent, running_child, ended_child):
                assert container_state(docker_engine, gone.record.ref) is None, gone.record.details[
                    "name"
                ]
            for left in (stranger, bystander):
                state = container_state(docker_engine, left.record.ref)
                assert state is not None and state["State"]["Running"], left.record.details["name"]
            for handle in (stranger, bystander):
                await handle.cancel(grace_seconds=1)
            for handle in (parent, running_child, ended_child, stranger, bystander):
                await handle.wait()
                await handle.cleanup()

    run(body())
