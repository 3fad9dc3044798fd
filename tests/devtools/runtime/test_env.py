"""Environment, command and args of an emulated container: the kubelet's $(VAR) rules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.runtime.env import (
    EnvError,
    container_argv,
    container_env,
    expand,
    field_value,
)

POD: dict[str, Any] = {
    "metadata": {
        "name": "app-1",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"app": "ref"},
        "annotations": {"a/b": "c"},
    },
    "spec": {"nodeName": "edge-b", "serviceAccountName": "default"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)z", "x1y2z"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$1"),
        ("$$", "$"),
        ("$", "$"),
        ("a$", "a$"),
        ("$a", "$a"),
        ("$(A", "$(A"),
        ("$()", "$()"),
        ("$(A)$(A)", "11"),
        ("$($(A))", "$($(A))"),  # the name is "$(A" up to the first closer
        ("€$(A)€", "€1€"),
    ],
)
def test_expand_examples(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


def test_expand_first_context_wins() -> None:
    assert expand("$(A)", {"A": "first"}, {"A": "second"}) == "first"
    assert expand("$(B)", {"A": "first"}, {"B": "second"}) == "second"


names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
plain = st.text(alphabet=st.characters(blacklist_characters="$()"), max_size=20)


@given(st.dictionaries(names, plain, max_size=5), plain)
def test_text_without_dollar_is_unchanged(env: dict[str, str], text: str) -> None:
    assert expand(text, env) == text


@given(names, plain, plain, plain)
def test_reference_is_replaced_and_escape_is_literal(
    name: str, value: str, before: str, after: str
) -> None:
    env = {name: value}
    assert expand(f"{before}$({name}){after}", env) == f"{before}{value}{after}"
    assert expand(f"{before}$$({name}){after}", env) == f"{before}$({name}){after}"


@given(st.text(alphabet="$()AB", max_size=30))
def test_undefined_references_survive(text: str) -> None:
    # With nothing defined, expansion only collapses "$$" to "$" (outside of a reference).
    assert expand(text, {}) == _reference_model(text, {})


def _reference_model(text: str, env: dict[str, str]) -> str:
    """An independent regex-based statement of the same rules."""
    token = re.compile(r"\$\$|\$\(([^)]*)\)|\$(.)|\$$|.", re.DOTALL)
    out = []
    for match in token.finditer(text):
        whole = match.group(0)
        if whole == "$$":
            out.append("$")
        elif match.group(1) is not None:
            out.append(env.get(match.group(1), whole))
        else:
            out.append(whole)
    return "".join(out)


@given(
    st.dictionaries(st.sampled_from("AB"), plain, max_size=2),
    st.text(alphabet="$()AB", max_size=30),
)
def test_expand_matches_model(env: dict[str, str], text: str) -> None:
    assert expand(text, env) == _reference_model(text, env)


def test_field_refs() -> None:
    ips = {"pod_ip": "198.18.0.254", "host_ip": "198.18.0.3"}
    assert field_value(POD, "metadata.name", **ips) == "app-1"
    assert field_value(POD, "metadata.namespace", **ips) == "ns"
    assert field_value(POD, "metadata.uid", **ips) == "u-1"
    assert field_value(POD, "spec.nodeName", **ips) == "edge-b"
    assert field_value(POD, "status.podIP", **ips) == "198.18.0.254"
    assert field_value(POD, "status.hostIP", **ips) == "198.18.0.3"
    assert field_value(POD, "metadata.labels['app']", **ips) == "ref"
    assert field_value(POD, "metadata.annotations['a/b']", **ips) == "c"
    assert field_value({}, "metadata.name", **ips) == ""
    with pytest.raises(EnvError):
        field_value(POD, "spec.unknown", **ips)


def test_env_values_see_only_earlier_variables_and_args_see_all() -> None:
    container = {
        "command": ["app"],
        "args": ["--listen", "$(POD_IP):8080", "$(LATER)", "$$(POD_IP)"],
        "env": [
            {"name": "EARLY", "value": "$(LATER)-x"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "URL", "value": "http://$(POD_IP):8080"},
            {"name": "LATER", "value": "late"},
            {"name": "EMPTY"},
        ],
    }
    env = container_env(container, POD, pod_ip="10.0.0.9", host_ip="10.0.0.1")
    assert env == {
        "EARLY": "$(LATER)-x",
        "POD_IP": "10.0.0.9",
        "URL": "http://10.0.0.9:8080",
        "LATER": "late",
        "EMPTY": "",
    }
    assert container_argv(container, env) == [
        "app",
        "--listen",
        "10.0.0.9:8080",
        "late",
        "$(POD_IP)",
    ]


def test_no_command_gives_empty_argv() -> None:
    assert container_argv({"args": ["x"]}, {}) == []
    assert container_argv({}, {}) == []


@pytest.mark.parametrize(
    "container",
    [
        {"envFrom": [{"configMapRef": {"name": "x"}}]},
        {"env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        {"env": [{"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]},
        {"env": [{"value": "no name"}]},
        {"env": "not a list"},
    ],
)
def test_unsupported_sources_are_errors(container: dict[str, Any]) -> None:
    with pytest.raises(EnvError):
        container_env(container, POD, pod_ip="1.1.1.1", host_ip="1.1.1.2")
