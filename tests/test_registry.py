"""Tests of pop.registry: loading, layering, POP's JSON form, lookups and validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import pop
from pop.config import Settings
from pop.errors import RegistryError, UnknownOperationTypeError
from pop.registry import (
    HandlerEntry,
    Registry,
    RetryPolicy,
    validate_document,
    validate_file,
)

PACKAGED_REGISTRY = Path(pop.__file__).parent / "data" / "registry.yaml"
REPO_ROOT_REGISTRY = Path(__file__).resolve().parents[1] / "registry.yaml"


def write(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def one_type(entry: dict[str, Any], **top_level: Any) -> Registry:
    return Registry.from_documents([("test.yaml", {**top_level, "handlers": {"op": entry}})])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "cwd"
    path.mkdir()
    return path


# --- the shipped registry ------------------------------------------------------------------------


def test_repo_root_registry_is_byte_identical_to_the_packaged_one() -> None:
    assert REPO_ROOT_REGISTRY.read_bytes() == PACKAGED_REGISTRY.read_bytes()


def test_packaged_registry_has_no_problems() -> None:
    assert validate_file(PACKAGED_REGISTRY) == []


def test_built_in_types_are_sample_log_messages_noop_and_the_media_handlers(
    settings: Settings, workdir: Path
) -> None:
    registry = Registry.load(settings=settings, cwd=workdir)

    assert registry.sources == ["built-in"]
    assert registry.types() == [
        "analysis",
        "filmstrip",
        "logMessages",
        "noop",
        "package",
        "sample",
        "thumbnail",
        "transcode",
    ]
    assert registry.lookup("sample").handler == "pop.handlers.sample:run"
    assert not registry.lookup("sample").resident
    assert registry.lookup("logMessages").handler == "pop.handlers.log:run"
    assert registry.lookup("logMessages").resident
    assert registry.lookup("noop").handler == "pop.handlers.log:noop"
    assert registry.lookup("noop").resident
    assert "true" not in registry


def test_a_handler_entry_gets_the_default_retries_and_timeouts() -> None:
    entry = one_type({"handler": "pkg.mod:run"}).lookup("op")

    assert entry.retries == RetryPolicy(
        limit=0, backoff_seconds=5.0, factor=2.0, max_backoff_seconds=300.0
    )
    assert entry.timeout_seconds is None
    assert entry.silence_timeout_seconds == 120.0
    assert entry.protocol == "pop"
    assert not entry.is_plain_command
    assert (entry.cpu_request, entry.cpu_limit, entry.memory_request) == (1.0, 1.0, None)
    assert entry.external == {}
    assert entry.fields["serviceAccountName"] == "pop-service"
    assert entry.fields["endOfLogIdentifier"] == "HandlerComplete"
    assert entry.fields["podScheduledTimeoutMs"] == 300000


def test_retries_timeouts_and_external_binaries_are_read_from_the_entry() -> None:
    entry = one_type(
        {
            "handler": "pop.handlers.transcode:run",
            "timeoutSeconds": 600,
            "silenceTimeoutSeconds": 30,
            "retries": {"limit": 2, "backoffSeconds": 5, "factor": 2, "maxBackoffSeconds": 60},
            "external": {"ffmpeg": {"image": "pop-ffmpeg:latest", "cpuMinRequestCount": "4.0"}},
        }
    ).lookup("op")

    assert entry.retries == RetryPolicy(
        limit=2, backoff_seconds=5.0, factor=2.0, max_backoff_seconds=60.0
    )
    assert (entry.timeout_seconds, entry.silence_timeout_seconds) == (600.0, 30.0)
    assert entry.external == {"ffmpeg": {"image": "pop-ffmpeg:latest", "cpuMinRequestCount": "4.0"}}


def test_cpu_counts_accept_strings_numbers_and_millicores() -> None:
    entry = one_type(
        {"handler": "m:f", "cpuMinRequestCount": "500m", "cpuMaxRequestCount": 2}
    ).lookup("op")

    assert (entry.cpu_request, entry.cpu_limit) == (0.5, 2.0)


def test_null_clears_a_base_value() -> None:
    entry = one_type(
        {"handler": "m:f", "timeoutSeconds": None, "silenceTimeoutSeconds": None},
        basePodConfig={"timeoutSeconds": 3600},
    ).lookup("op")

    assert entry.timeout_seconds is None
    assert entry.silence_timeout_seconds is None


# --- plain commands, images ----------------------------------------------------------------------


def test_a_command_entry_is_a_plain_command_without_protocol_or_silence_timeout() -> None:
    entry = one_type({"command": ["true"]}).lookup("op")

    assert entry.is_plain_command
    assert entry.command == ("true",)
    assert entry.protocol is None
    assert entry.silence_timeout_seconds is None
    assert entry.handler is None


def test_a_command_that_says_protocol_pop_speaks_the_handler_protocol() -> None:
    entry = one_type({"command": ["/opt/bin/my-handler"], "protocol": "pop"}).lookup("op")

    assert not entry.is_plain_command
    assert entry.protocol == "pop"
    assert entry.silence_timeout_seconds == 120.0


def test_image_name_is_accepted_as_an_alias_of_image() -> None:
    entry = one_type({"imageName": "example/custom:1.2"}).lookup("op")

    assert entry.image == "example/custom:1.2"
    assert entry.fields["image"] == "example/custom:1.2"
    assert "imageName" not in entry.fields
    assert entry.protocol == "pop"


# --- layering ------------------------------------------------------------------------------------


def test_base_scalars_apply_and_the_entry_list_replaces_the_base_list() -> None:
    entry = one_type(
        {"handler": "m:f", "arguments": ["--fast"]},
        basePodConfig={
            "serviceAccountName": "robot",
            "arguments": ["-a", "-b"],
            "pullAlways": True,
        },
    ).lookup("op")

    assert entry.fields["serviceAccountName"] == "robot"
    assert entry.fields["pullAlways"] is True
    assert entry.fields["arguments"] == ["--fast"]


def test_a_map_an_entry_sets_replaces_the_whole_base_map() -> None:
    entry = one_type(
        {"handler": "m:f", "labels": {"team": "media"}},
        basePodConfig={"labels": {"app": "pop", "tier": "batch"}, "envVars": {"A": "1"}},
    ).lookup("op")

    assert entry.fields["labels"] == {"team": "media"}
    assert entry.fields["envVars"] == {"A": "1"}


def test_work_volume_is_kept_in_the_fields_of_every_entry() -> None:
    volume = {"persistentVolumeClaim": {"claimName": "pop-work"}}
    registry = Registry.from_documents(
        [
            ("test.yaml", {"workVolume": volume, "handlers": {"a": {"handler": "m:f"}}}),
            ("more.yaml", {"handlers": {"b": {"command": ["true"]}}}),
        ]
    )

    assert registry.lookup("a").fields["workVolume"] == volume
    assert registry.lookup("b").fields["workVolume"] == volume


def test_a_later_document_replaces_whole_entries_and_its_base_applies_to_all() -> None:
    registry = Registry.from_documents(
        [
            ("built-in", {"handlers": {"sample": {"handler": "pop.handlers.sample:run"}}}),
            (
                "mine.yaml",
                {
                    "basePodConfig": {"serviceAccountName": "mine"},
                    "handlers": {"sample": {"command": ["echo", "hi"]}},
                },
            ),
        ]
    )

    sample = registry.lookup("sample")
    assert sample.handler is None
    assert sample.command == ("echo", "hi")
    assert sample.fields["serviceAccountName"] == "mine"
    assert registry.sources == ["built-in", "mine.yaml"]


POP_JSON_REGISTRY = {
    "basePodConfig": {
        "memoryRequestCount": "1000m",
        "cpuMinRequestCount": "1000m",
        "cpuMaxRequestCount": "1000m",
        "podScheduledTimeoutMs": 600000,
        "reapCompletedPods": True,
        "pullAlways": True,
        "imageName": "pop/sample:1.0",
    },
    "sample": {
        "configMapName": "sample-config",
        "podConfig": {
            "namePrefix": "pop-samp",
            "configMapSettings": [
                {
                    "volumeName": "config-volume-ex",
                    "volumeMountPath": "/configex",
                    "mapKeyPaths": [
                        {"key": "external-properties", "path": "external.properties"},
                        {"key": "env-properties", "path": "env.properties"},
                    ],
                }
            ],
        },
    },
    "onlyBase": {"configMapName": "only-base-config", "podConfig": {}},
}


def test_pop_json_registry_uses_the_type_list_base_scalars_and_core_defaults() -> None:
    entry = Registry.from_documents([("registry.json", POP_JSON_REGISTRY)]).lookup("sample")

    config_maps = entry.fields["configMapSettings"]
    assert len(config_maps) == 1
    assert config_maps[0]["volumeName"] == "config-volume-ex"
    assert config_maps[0]["volumeMountPath"] == "/configex"
    assert len(config_maps[0]["mapKeyPaths"]) == 2
    assert config_maps[0]["configMapName"] == "sample-config"
    assert entry.fields["memoryRequestCount"] == "1000m"
    assert entry.fields["podScheduledTimeoutMs"] == 600000
    assert entry.fields["reapCompletedPods"] is True
    assert entry.fields["pullAlways"] is True
    assert entry.fields["endOfLogIdentifier"] == "HandlerComplete"
    assert entry.fields["namePrefix"] == "pop-samp"
    assert (entry.cpu_request, entry.cpu_limit, entry.memory_request) == (1.0, 1.0, "1000m")
    assert (entry.image, entry.handler, entry.command) == ("pop/sample:1.0", None, None)


def test_pop_json_registry_writes_config_map_name_into_the_core_list() -> None:
    entry = Registry.from_documents([("registry.json", POP_JSON_REGISTRY)]).lookup("onlyBase")

    config_maps = entry.fields["configMapSettings"]
    assert [c["volumeName"] for c in config_maps] == ["config-volume"]
    assert config_maps[0]["configMapName"] == "only-base-config"


def test_pop_json_registry_base_list_replaces_the_core_list() -> None:
    base_list = [{"volumeName": "v", "volumeMountPath": "/x", "mapKeyPaths": [{"key": "X"}]}]
    document = {
        "basePodConfig": {"imageName": "img", "configMapSettings": base_list},
        "sample": {"configMapName": "cm", "podConfig": {}},
    }

    entry = Registry.from_documents([("registry.json", document)]).lookup("sample")

    assert entry.fields["configMapSettings"] == [{**base_list[0], "configMapName": "cm"}]


def test_a_tab_indented_pop_json_file_loads(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(POP_JSON_REGISTRY, indent="\t"), encoding="utf-8")

    registry = Registry.load(path, settings=settings, cwd=tmp_path)

    assert registry.lookup("sample").fields["namePrefix"] == "pop-samp"
    assert "sample" in registry and "logMessages" in registry


# --- lookups -------------------------------------------------------------------------------------


def test_lookups_return_independent_copies() -> None:
    registry = one_type({"handler": "m:f", "labels": {"a": "b"}})

    first = registry.lookup("op")
    first.fields["labels"]["a"] = "changed"
    first.fields["configMapSettings"].clear()
    second = registry.lookup("op")

    assert second.fields["labels"] == {"a": "b"}
    assert len(second.fields["configMapSettings"]) == 1
    assert second is not first


def test_an_unknown_type_names_itself_and_hints_at_the_known_types() -> None:
    registry = one_type({"handler": "m:f"})

    with pytest.raises(UnknownOperationTypeError) as caught:
        registry.lookup("opp")

    assert caught.value.message == "unknown operation type 'opp'"
    assert caught.value.hint is not None
    assert "did you mean 'op'?" in caught.value.hint
    assert "known types: op" in caught.value.hint


def test_contains_answers_only_for_known_type_names() -> None:
    registry = one_type({"handler": "m:f"})

    assert "op" in registry
    assert "other" not in registry
    assert 3 not in registry


def test_the_shown_document_loads_back_to_the_same_entries(
    settings: Settings, workdir: Path
) -> None:
    registry = Registry.load(settings=settings, cwd=workdir)
    shown = yaml.safe_load(yaml.safe_dump(registry.to_document()))

    again = Registry.from_documents([("shown.yaml", shown)])

    assert again.types() == registry.types()
    assert all(again.lookup(name) == registry.lookup(name) for name in registry.types())


# --- where the registry comes from ---------------------------------------------------------------


def registry_naming(path: Path, image: str) -> Path:
    return write(path, {"handlers": {"where": {"image": image}}})


def test_an_explicit_path_wins_over_every_other_place(
    tmp_path: Path, settings: Settings, workdir: Path
) -> None:
    explicit = registry_naming(tmp_path / "explicit.yaml", "explicit")
    env = registry_naming(tmp_path / "env.yaml", "env")
    registry_naming(workdir / "registry.yaml", "cwd")
    registry_naming(settings.home / "registry.yaml", "home")

    registry = Registry.load(
        explicit, settings=settings.with_changes(registry_path=env), cwd=workdir
    )

    assert registry.lookup("where").image == "explicit"
    assert registry.sources == ["built-in", str(explicit)]


def test_pop_registry_wins_over_the_working_directory(
    tmp_path: Path, settings: Settings, workdir: Path
) -> None:
    env = registry_naming(tmp_path / "env.yaml", "env")
    registry_naming(workdir / "registry.yaml", "cwd")

    registry = Registry.load(settings=settings.with_changes(registry_path=env), cwd=workdir)

    assert registry.lookup("where").image == "env"


def test_the_working_directory_wins_over_pop_home(settings: Settings, workdir: Path) -> None:
    registry_naming(workdir / "registry.yaml", "cwd")
    registry_naming(settings.home / "registry.yaml", "home")

    assert Registry.load(settings=settings, cwd=workdir).lookup("where").image == "cwd"


def test_pop_home_is_the_last_place_looked(settings: Settings, workdir: Path) -> None:
    registry_naming(settings.home / "registry.yaml", "home")

    assert Registry.load(settings=settings, cwd=workdir).lookup("where").image == "home"


def test_a_registry_file_adds_types_and_overrides_built_in_ones(
    settings: Settings, workdir: Path
) -> None:
    write(
        workdir / "registry.yaml",
        {"handlers": {"sample": {"command": ["echo"]}, "true": {"command": ["true"]}}},
    )

    registry = Registry.load(settings=settings, cwd=workdir)

    assert registry.types() == [
        "analysis",
        "filmstrip",
        "logMessages",
        "noop",
        "package",
        "sample",
        "thumbnail",
        "transcode",
        "true",
    ]
    assert registry.lookup("sample").command == ("echo",)
    assert registry.lookup("logMessages").resident


def test_an_explicit_path_that_does_not_exist_is_an_error(
    tmp_path: Path, settings: Settings
) -> None:
    with pytest.raises(RegistryError) as caught:
        Registry.load(tmp_path / "missing.yaml", settings=settings, cwd=tmp_path)

    assert "missing.yaml: file not found" in str(caught.value)


def test_loading_a_file_with_problems_raises_with_every_problem(
    settings: Settings, workdir: Path
) -> None:
    write(workdir / "registry.yaml", {"handlers": {"a": {"command": "ls -l"}, "b": {}}})

    with pytest.raises(RegistryError) as caught:
        Registry.load(settings=settings, cwd=workdir)

    assert caught.value.source == str(workdir / "registry.yaml")
    assert len(caught.value.problems) == 2
    assert caught.value.problems[0].startswith("handlers.a.command: must be a non-empty argv")
    assert caught.value.problems[1] == "handlers.b: nothing to run: set handler, command or image"


# --- validation ----------------------------------------------------------------------------------


def test_validation_reports_every_problem_with_its_path() -> None:
    document = {
        "handlers": {
            "transcode": {"handler": "pop.handlers.transcode:run", "cpuMinRequestCount": "two"},
            "thumbnail": {"handler": "pop.handlers.thumbnail:run", "cpuMinRequestCont": "2"},
            "package": {"memoryRequestCount": "1G"},
        }
    }

    problems = validate_document(document, source="registry.yaml")

    assert problems == [
        "registry.yaml: handlers.transcode.cpuMinRequestCount: 'two' is not a number",
        "registry.yaml: handlers.thumbnail.cpuMinRequestCont: unknown field 'cpuMinRequestCont'"
        " (did you mean 'cpuMinRequestCount'?)",
        "registry.yaml: handlers.package: nothing to run: set handler, command or image",
    ]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"handler": "m:f", "command": ["x"]}, "handlers.op: sets both handler and command"),
        ({"handler": "not a handler"}, "handlers.op.handler: 'not a handler' is not of the form"),
        ({"handler": "module.only"}, "handlers.op.handler: 'module.only' is not of the form"),
        ({"command": []}, "handlers.op.command: must be a non-empty argv list"),
        ({"command": ["ok", 3]}, "handlers.op.command: must be a non-empty argv list"),
        ({"command": ["x"], "resident": True}, "handlers.op.resident: resident: true needs a"),
        ({"handler": "m:f", "memoryRequestCount": "lots"}, "'lots' is not a number with"),
        ({"handler": "m:f", "timeoutSeconds": 0}, "timeoutSeconds: 0 is not a positive number"),
        ({"handler": "m:f", "silenceTimeoutSeconds": "1m"}, "'1m' is not a positive number"),
        ({"handler": "m:f", "protocol": "grpc"}, "'grpc' is not a known protocol"),
        ({"handler": "m:f", "retries": {"limt": 2}}, "retries.limt: unknown field 'limt'"),
        ({"handler": "m:f", "retries": {"limit": -1}}, "retries.limit: -1 is not a whole number"),
        ({"handler": "m:f", "retries": {"factor": 0.5}}, "retries.factor: 0.5 is not a number"),
        ({"handler": "m:f", "retries": 3}, "handlers.op.retries: must be a mapping"),
        ({"handler": "m:f", "pullAlways": "yes"}, "pullAlways: 'yes' is not a boolean"),
        (
            {"handler": "m:f", "timeout": 5},
            "unknown field 'timeout' (did you mean 'timeoutSeconds'?)",
        ),
        (
            {"handler": "m:f", "external": {"ffmpeg": {"cpuMinRequestCount": "x"}}},
            "external.ffmpeg",
        ),
        ({"image": "a", "imageName": "b"}, "handlers.op: sets both image and imageName"),
    ],
)
def test_each_kind_of_entry_problem_is_reported(entry: dict[str, Any], expected: str) -> None:
    problems = validate_document({"handlers": {"op": entry}}, source="r.yaml")

    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_document_level_problems_are_reported() -> None:
    assert validate_document([1, 2], source="r.yaml") == [
        "r.yaml: (top level): a registry must be a mapping, not list"
    ]
    assert validate_document({"handler": {}}, source="r.yaml") == [
        "r.yaml: handler: unknown top-level key 'handler' (did you mean 'handlers'?)"
    ]
    assert validate_document({"handlers": ["sample"]}, source="r.yaml") == [
        "r.yaml: handlers: must be a mapping of operation type to entry"
    ]
    assert validate_document({"handlers": {"op": "m:f"}}, source="r.yaml") == [
        "r.yaml: handlers.op: an entry must be a mapping, e.g. {handler: package.module:function}"
    ]


def test_unknown_fields_without_a_close_match_are_kept() -> None:
    document = {"handlers": {"op": {"handler": "m:f", "nodeAffinityHint": "gpu"}}}

    assert validate_document(document, source="r.yaml") == []
    assert (
        Registry.from_documents([("r.yaml", document)]).lookup("op").fields["nodeAffinityHint"]
        == "gpu"
    )


def test_an_unquoted_yaml_boolean_type_name_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("handlers:\n  true: {command: ['true']}\n", encoding="utf-8")

    assert validate_file(path) == [
        f"{path}: handlers.True: type name True is not a string; quote it in YAML"
    ]


def test_a_yaml_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("handlers:\n  sample:\n    handler: [unclosed\n", encoding="utf-8")

    problems = validate_file(path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: line 4, column 1: YAML syntax error:")


def test_a_json_syntax_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text('{\n\t"basePodConfig": {}\n\t"sample": {}\n}\n', encoding="utf-8")

    assert validate_file(path) == [
        f"{path}: line 3, column 2: JSON syntax error: Expecting ',' delimiter"
    ]


def test_a_duplicate_key_is_reported_with_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    text = "handlers:\n  a: {handler: 'm:f'}\n  b: {handler: 'm:f'}\n  a: {command: [x]}\n"
    path.write_text(text, encoding="utf-8")

    assert validate_file(path) == [f"{path}: line 4: duplicate key 'a' (first at line 2)"]


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    assert validate_file(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: file not found"]


def test_an_empty_file_is_a_registry_without_types(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")

    assert validate_file(path) == []
    assert Registry.load(path, settings=settings).types() == [
        "analysis",
        "filmstrip",
        "logMessages",
        "noop",
        "package",
        "sample",
        "thumbnail",
        "transcode",
    ]


def test_from_documents_raises_with_every_problem_of_the_document() -> None:
    document = {"handlers": {"a": {"handler": "m:f", "cpuMaxRequestCount": []}, "b": {}}}

    with pytest.raises(RegistryError) as caught:
        Registry.from_documents([("mine.yaml", document)])

    assert caught.value.source == "mine.yaml"
    assert caught.value.problems == [
        "handlers.a.cpuMaxRequestCount: [] is not a number",
        "handlers.b: nothing to run: set handler, command or image",
    ]


def test_handler_entries_are_frozen() -> None:
    entry = one_type({"handler": "m:f"}).lookup("op")

    assert isinstance(entry, HandlerEntry)
    with pytest.raises(AttributeError):
        entry.handler = "other:f"  # type: ignore[misc]


def test_the_package_exports_what_pop_imports_from_it() -> None:
    import pop.registry

    imported_today = {
        "HandlerEntry",
        "Registry",
        "RetryPolicy",
        "validate_document",
        "validate_file",
    }
    assert imported_today | {"PodConfig"} <= set(pop.registry.__all__)
    assert all(hasattr(pop.registry, name) for name in pop.registry.__all__)
