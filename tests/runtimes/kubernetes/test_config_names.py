"""Which cluster and namespace the kubernetes runtime uses, and valid label values (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pop.errors import InputError, RuntimeUnavailableError
from pop.runtimes.kubernetes.config import resolve_target
from pop.runtimes.kubernetes.names import is_label_value, label_value


def kubeconfig(folder: Path, *, current: str = "dev") -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": current,
                "clusters": [
                    {"name": "c1", "cluster": {"server": "https://one:6443"}},
                    {"name": "c2", "cluster": {"server": "https://two:6443"}},
                ],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "c1", "namespace": "media"}},
                    {"name": "prod", "context": {"cluster": "c2"}},
                ],
                "users": [],
            }
        )
    )
    return path


def test_the_current_context_and_its_namespace_by_default(tmp_path: Path) -> None:
    target = resolve_target({}, {"KUBECONFIG": str(kubeconfig(tmp_path))})
    assert (target.context, target.namespace, target.server) == ("dev", "media", "https://one:6443")


def test_options_beat_the_environment_and_the_context(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path)
    env = {"KUBECONFIG": "/nowhere", "POP_KUBE_CONTEXT": "dev", "POP_KUBE_NAMESPACE": "envns"}
    target = resolve_target({"kubeconfig": str(path), "context": "prod", "namespace": "x"}, env)
    assert (target.context, target.namespace, target.server) == ("prod", "x", "https://two:6443")
    target = resolve_target({"kubeconfig": str(path)}, env)
    assert (target.context, target.namespace) == ("dev", "envns")


def test_a_context_without_a_namespace_uses_pop(tmp_path: Path) -> None:
    target = resolve_target({"context": "prod"}, {"KUBECONFIG": str(kubeconfig(tmp_path))})
    assert target.namespace == "pop"


def test_typos_on_the_command_line_are_input_errors(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(kubeconfig(tmp_path))}
    with pytest.raises(InputError, match="--kubeconfig /nope: no such file"):
        resolve_target({"kubeconfig": "/nope"}, env)
    with pytest.raises(InputError, match=r"no context 'nope' \(its contexts: dev, prod\)"):
        resolve_target({"context": "nope"}, env)


def test_an_environment_pointing_nowhere_means_the_runtime_is_out_of_reach(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeUnavailableError, match="KUBECONFIG names no existing file"):
        resolve_target({}, {"KUBECONFIG": str(tmp_path / "missing")})
    with pytest.raises(RuntimeUnavailableError, match="not inside a cluster"):
        resolve_target({}, {"HOME": str(tmp_path)})


@pytest.mark.parametrize(
    "value", ["transcode", "a.b_c-1", "7f1c2d3e-aaaa-bbbb-cccc-0123456789ab", "x" * 63, ""]
)
def test_valid_label_values_stay_as_they_are(value: str) -> None:
    assert label_value(value) == value


@pytest.mark.parametrize("value", ["a/b", "a b", "-lead", "trail.", "x" * 64, "ü", "a:b"])
def test_invalid_values_become_valid_and_distinct(value: str) -> None:
    made = label_value(value)
    assert is_label_value(made) and made
    assert made != label_value(value + "!")
    assert len(made) <= 63
