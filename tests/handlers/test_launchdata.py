"""Launch data: standard arguments in every spelling, properties, payload and last progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from pop.errors import InputError, PermanentError
from pop.handlers.codec import encode_payload_env
from pop.handlers.launchdata import LaunchData, parse_args, parse_properties
from pop.models import ProcessingState


@pytest.mark.parametrize(
    "argv",
    [
        ["-launchType", "docker", "-externalLaunchType", "kubernetes"],
        ["--launchType", "docker", "--externalLaunchType", "kubernetes"],
        ["--launchType=docker", "-externalLaunchType=kubernetes"],
    ],
)
def test_standard_args_are_read_in_every_spelling(argv: list[str]) -> None:
    args = parse_args(argv)
    assert (args.launch_type, args.external_launch_type) == ("docker", "kubernetes")


def test_external_launch_type_defaults_to_the_launch_type() -> None:
    assert parse_args(["-launchType", "docker"]).external_launch_type == "docker"
    assert parse_args([]).launch_type == "local"
    assert parse_args([]).external_launch_type == "local"


def test_every_path_argument_is_read_and_c_is_ignored() -> None:
    args = parse_args(
        [
            "-c",
            "-propFile",
            "p.properties",
            "--payloadFile",
            "payload.json",
            "-lastProgressFile=last.json",
            "-oauthCertPath",
            "ca.crt",
            "-oauthTokenPath",
            "token",
        ]
    )
    assert args.prop_file == Path("p.properties")
    assert args.payload_file == Path("payload.json")
    assert args.last_progress_file == Path("last.json")
    assert args.oauth_cert_path == Path("ca.crt")
    assert args.oauth_token_path == Path("token")


def test_an_invalid_launch_type_names_the_value() -> None:
    with pytest.raises(InputError, match="Failed to evaluate launchType: moon"):
        parse_args(["-launchType", "moon"])


def test_unknown_arguments_are_rejected() -> None:
    with pytest.raises(InputError, match="Unknown argument: --verbose"):
        parse_args(["--verbose"])
    with pytest.raises(InputError, match="Missing value"):
        parse_args(["-payloadFile"])


def test_a_missing_default_properties_file_means_no_properties(tmp_path: Path) -> None:
    data = LaunchData.from_argv(["-propFile", str(tmp_path / "absent.properties")], env={})
    assert data.properties == {}
    assert data.warnings and "absent.properties" in data.warnings[0]


def test_the_properties_file_is_read(tmp_path: Path) -> None:
    prop_file = tmp_path / "external.properties"
    prop_file.write_text("# comment\npop.flag = TRUE\nname: value\n", encoding="latin-1")
    data = LaunchData.from_argv(["-propFile", str(prop_file)], env={})
    assert data.bool_property("pop.flag") is True
    assert data.get_property("name") == "value"
    assert data.get_property("absent", "fallback") == "fallback"


def test_properties_parsing_follows_java_rules() -> None:
    text = (
        "! bang comment\n"
        "  # indented comment\n"
        "a=1\n"
        "b : 2\n"
        "c 3\n"
        "d=first \\\n"
        "    second\n"
        "e\\=key=x\\ty\n"
        "f=\\u00e9\n"
        "g\n"
        "h=a=b\n"
    )
    assert parse_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "first second",
        "e=key": "x\ty",
        "f": "é",
        "g": "",
        "h": "a=b",
    }


def test_the_payload_comes_from_the_environment() -> None:
    data = LaunchData.from_argv([], env={"PAYLOAD": '{"a":1}'})
    assert data.payload_text() == '{"a":1}'


def test_a_compressed_payload_is_decoded() -> None:
    env = encode_payload_env('{"a":1}', compressed=True)
    assert LaunchData.from_argv([], env=env).payload_text() == '{"a":1}'


def test_the_payload_file_overrides_the_environment(tmp_path: Path) -> None:
    payload_file = tmp_path / "payload.json"
    payload_file.write_text('{"from":"file"}', encoding="utf-8")
    data = LaunchData.from_argv(["-payloadFile", str(payload_file)], env={"PAYLOAD": "{}"})
    assert data.payload_text() == '{"from":"file"}'


def test_an_unreadable_payload_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    data = LaunchData.from_argv(["-payloadFile", str(missing)], env={})
    with pytest.raises(PermanentError, match=f"Failed to load data from: {missing}"):
        data.payload_text()


def test_last_progress_is_parsed_with_its_job_info() -> None:
    env = {
        "LAST_PROGRESS": '{"processingState":"EXECUTING","percentComplete":40,'
        '"params":{"jobInfo":{"jobId":"123456-987654"}}}'
    }
    data = LaunchData.from_argv([], env=env)
    progress = data.last_progress()
    assert progress is not None
    assert progress.processing_state == ProcessingState.EXECUTING
    assert data.last_progress_param("jobInfo") == {"jobId": "123456-987654"}
    assert data.last_progress_param("absent") is None


def test_unparsable_last_progress_is_none_with_a_warning() -> None:
    data = LaunchData.from_argv([], env={"LAST_PROGRESS": "{not json"})
    assert data.last_progress() is None
    assert data.last_progress_param("jobInfo") is None
    assert any("last progress" in warning for warning in data.warnings)


def test_the_last_progress_file_overrides_the_environment(tmp_path: Path) -> None:
    last = tmp_path / "last.json"
    last.write_text('{"params":{"jobInfo":{"jobId":"from-file"}}}', encoding="utf-8")
    data = LaunchData.from_argv(
        ["-lastProgressFile", str(last)], env={"LAST_PROGRESS": '{"params":{}}'}
    )
    assert data.last_progress_param("jobInfo") == {"jobId": "from-file"}


def test_environment_metadata_is_read_and_empty_values_are_unset() -> None:
    env = {
        "AGENDA_ID": "agenda-1",
        "PROGRESS_ID": "progress-1",
        "OPERATION_NAME": "encode",
        "OPERATION_ID": "",
        "CID": "cid-1",
        "CUSTOMER_ID": "acme",
        "POP_WORK_DIR": "/work/agenda-1",
        "POP_OP_DIR": "/work/agenda-1/encode/1",
        "MY_POD_NAME": "",
    }
    data = LaunchData.from_argv([], env=env)
    assert (data.agenda_id, data.progress_id, data.operation_name) == (
        "agenda-1",
        "progress-1",
        "encode",
    )
    assert (data.cid, data.customer_id) == ("cid-1", "acme")
    assert data.operation_id is None
    assert data.pod_name is None
    assert data.work_dir == Path("/work/agenda-1")
    assert data.op_dir == Path("/work/agenda-1/encode/1")
