"""A LaunchSpec as container settings (pop/runtimes/docker/container_spec.py), without an engine:
labels, user, init, CPUs, memory, mounts, GPUs, command and entry point."""

from __future__ import annotations

import pytest

from pop.errors import LaunchError
from pop.runtimes import LaunchSpec, Mount
from pop.runtimes.docker.container_spec import create_kwargs, device_requests, parse_memory


def kwargs_of(image_config: dict[str, object] | None = None, **fields: object) -> dict[str, object]:
    spec_fields: dict[str, object] = {"name": "op-1", "command": ["run"], "image": "img:1"}
    spec_fields.update(fields)
    spec = LaunchSpec(**spec_fields)  # type: ignore[arg-type]
    return create_kwargs(
        spec, launcher_id="abc123", user="1000:1000", image_config=image_config, engine_cpus=8
    )


def test_labels_are_the_specs_plus_managed_by_pop_and_the_launcher() -> None:
    kwargs = kwargs_of(labels={"pop.agendaId": "a1", "pop.attempt": "2"})
    assert kwargs["labels"] == {
        "pop.agendaId": "a1",
        "pop.attempt": "2",
        "app.kubernetes.io/managed-by": "pop",
        "pop.launcher": "abc123",
    }


def test_the_container_runs_as_the_given_user_under_an_init_process() -> None:
    kwargs = kwargs_of()
    assert kwargs["user"] == "1000:1000"
    assert kwargs["init"] is True
    assert kwargs["image"] == "img:1"
    assert kwargs["tty"] is False


def test_the_environment_is_the_specs_only_and_the_working_dir_is_its_cwd() -> None:
    kwargs = kwargs_of(env={"PAYLOAD": "{}"}, cwd="/work/a1")
    assert kwargs["environment"] == {"PAYLOAD": "{}"}
    assert kwargs["working_dir"] == "/work/a1"
    assert "working_dir" not in kwargs_of()


def test_the_cpu_limit_becomes_nano_cpus_else_the_cpu_request() -> None:
    assert kwargs_of(cpus=1.0, cpu_limit=2.5)["nano_cpus"] == 2_500_000_000
    assert kwargs_of(cpus=0.5)["nano_cpus"] == 500_000_000


def test_the_cpu_limit_is_capped_at_the_engines_cpus() -> None:
    assert kwargs_of(cpus=4.0, cpu_limit=16.0)["nano_cpus"] == 8_000_000_000


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        ("512Mi", 512 * 2**20),
        ("2Gi", 2 * 2**30),
        ("1.5Gi", 3 * 2**29),
        ("1G", 10**9),
        ("100k", 100_000),
        ("129e6", 129_000_000),
        ("1048576", 2**20),
    ],
)
def test_memory_takes_kubernetes_quantities(quantity: str, size: int) -> None:
    assert parse_memory(quantity) == size
    assert kwargs_of(memory=quantity)["mem_limit"] == size


@pytest.mark.parametrize("quantity", ["512m", "2gb", "lots", "-1Gi", "0", "1e3Mi", ""])
def test_a_memory_quantity_that_is_not_one_is_a_permanent_launch_error(quantity: str) -> None:
    with pytest.raises(LaunchError, match="invalid memory quantity") as raised:
        parse_memory(quantity)
    assert raised.value.permanent


def test_no_memory_means_no_limit() -> None:
    assert "mem_limit" not in kwargs_of()


def test_mounts_are_binds_at_their_target_and_read_only_is_honoured() -> None:
    kwargs = kwargs_of(
        mounts=[Mount("/home/u/work", "/home/u/work"), Mount("/media/in.mov", "/in.mov", True)]
    )
    assert kwargs["mounts"] == [
        {"Type": "bind", "Source": "/home/u/work", "Target": "/home/u/work", "ReadOnly": False},
        {"Type": "bind", "Source": "/media/in.mov", "Target": "/in.mov", "ReadOnly": True},
    ]


def test_a_gpus_field_becomes_device_requests() -> None:
    kwargs = kwargs_of(options={"gpus": 2})
    assert kwargs["device_requests"] == [
        {"Driver": "", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert device_requests("all")[0]["Count"] == -1
    assert device_requests(["0", "GPU-3"])[0]["DeviceIDs"] == ["0", "GPU-3"]
    assert device_requests("1")[0]["Count"] == 1


@pytest.mark.parametrize("gpus", [None, 0, "0", []])
def test_no_gpus_means_no_device_requests(gpus: object) -> None:
    assert device_requests(gpus) == []
    assert "device_requests" not in kwargs_of(options={"gpus": gpus})


@pytest.mark.parametrize("gpus", ["many", -1])
def test_a_gpus_field_that_is_not_one_is_a_permanent_launch_error(gpus: object) -> None:
    with pytest.raises(LaunchError, match="invalid gpus value") as raised:
        device_requests(gpus)
    assert raised.value.permanent


def test_a_command_replaces_the_images_entry_point_and_args_follow_it() -> None:
    kwargs = kwargs_of(command=["python3", "-m", "pop.handlers", "sample"], args=["-launchType"])
    assert kwargs["entrypoint"] == ["python3", "-m", "pop.handlers", "sample"]
    assert kwargs["command"] == ["-launchType"]


def test_without_a_command_the_images_entry_point_runs_with_the_args_appended() -> None:
    config = {"Entrypoint": ["/usr/bin/handler"], "Cmd": ["--default"]}
    kwargs = kwargs_of(config, command=[], args=["-launchType", "docker"])
    assert "entrypoint" not in kwargs
    assert kwargs["command"] == ["-launchType", "docker"]


def test_without_a_command_or_entry_point_the_args_extend_the_images_command() -> None:
    kwargs = kwargs_of({"Entrypoint": None, "Cmd": ["ffmpeg"]}, command=[], args=["-version"])
    assert kwargs["entrypoint"] == ["ffmpeg"]
    assert kwargs["command"] == ["-version"]


def test_without_a_command_or_args_the_image_runs_as_built() -> None:
    kwargs = kwargs_of({"Cmd": ["python3"]}, command=[])
    assert "entrypoint" not in kwargs
    assert "command" not in kwargs


def test_a_spec_without_an_image_is_a_permanent_launch_error() -> None:
    with pytest.raises(LaunchError, match="registry entry has no image") as raised:
        kwargs_of(image=None)
    assert raised.value.permanent
