"""A container's environment, command and arguments, resolved the way the kubelet does it.

Pure functions: the pod body and the addresses in, strings out. `expand` is the kubelet's
``$(VAR)`` expansion (Kubernetes' forked ``third_party/forked/golang/expansion``): ``$(NAME)`` is
replaced by the variable when it is defined and left as it is otherwise, ``$$`` stands for one
``$`` (so ``$$(NAME)`` yields the literal ``$(NAME)``), and any other ``$`` is kept. An env
value sees only the variables defined before it in the list; command and args see all of them.
What the emulated runtime cannot provide (ConfigMaps, Secrets, resource fields, envFrom) raises
`EnvError`, which the runtime reports as the kubelet's CreateContainerConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

OPERATOR = "$"
OPENER = "("
CLOSER = ")"

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class EnvError(ValueError):
    """The container's environment cannot be built by the emulated runtime."""


def _read_variable(rest: str) -> tuple[str, bool, int]:
    """After a `$`: (text or name, whether it is a variable name, characters consumed)."""
    if rest[0] == OPERATOR:
        return OPERATOR, False, 1
    if rest[0] == OPENER:
        closer = rest.find(CLOSER, 1)
        if closer >= 0:
            return rest[1:closer], True, closer + 1
        return OPERATOR + OPENER, False, 1
    return OPERATOR + rest[0], False, 1


def expand(text: str, *contexts: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of text against the contexts (the first that has it wins)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == OPERATOR and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable(text[cursor + 1 :])
            if is_var:
                out.append(_lookup(read, contexts))
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _lookup(name: str, contexts: tuple[Mapping[str, str], ...]) -> str:
    for context in contexts:
        if name in context:
            return context[name]
    return f"{OPERATOR}{OPENER}{name}{CLOSER}"


def field_value(pod: Mapping[str, Any], field_path: str, *, pod_ip: str, host_ip: str) -> str:
    """The value of a downward-API fieldRef, as the kubelet gives it to the environment."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple: dict[str, Any] = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if field_path in simple:
        value = simple[field_path]
        return "" if value is None else str(value)
    match = _SUBSCRIPT.match(field_path)
    if match:
        values = metadata.get(match.group(1)) or {}
        return str(values.get(match.group(2), "")) if isinstance(values, Mapping) else ""
    raise EnvError(f"unsupported fieldRef fieldPath {field_path!r}")


def container_env(
    container: Mapping[str, Any], pod: Mapping[str, Any], *, pod_ip: str, host_ip: str
) -> dict[str, str]:
    """The container's own variables (`env`), in order, resolved and expanded."""
    if container.get("envFrom"):
        raise EnvError("envFrom is not supported by the emulated runtime")
    env: dict[str, str] = {}
    entries = container.get("env") or []
    if not isinstance(entries, list):
        raise EnvError("env is not a list")
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise EnvError(f"env entry without a name: {entry!r}")
        name: str = entry["name"]
        value = entry.get("value")
        source = entry.get("valueFrom")
        if isinstance(value, str) and value != "":
            env[name] = expand(value, env)
        elif isinstance(source, Mapping) and source:
            env[name] = _value_from(source, name, pod, pod_ip=pod_ip, host_ip=host_ip)
        else:
            env[name] = ""
    return env


def _value_from(
    source: Mapping[str, Any], name: str, pod: Mapping[str, Any], *, pod_ip: str, host_ip: str
) -> str:
    field_ref = source.get("fieldRef")
    if isinstance(field_ref, Mapping):
        path = field_ref.get("fieldPath")
        if not isinstance(path, str):
            raise EnvError(f"env {name}: fieldRef without fieldPath")
        return field_value(pod, path, pod_ip=pod_ip, host_ip=host_ip)
    kinds = ", ".join(sorted(source)) or "nothing"
    raise EnvError(f"env {name}: valueFrom {kinds} is not supported by the emulated runtime")


def container_argv(container: Mapping[str, Any], env: Mapping[str, str]) -> list[str]:
    """The command + args with $(VAR) expanded; empty when the container names no command."""
    command = container.get("command") or []
    args = container.get("args") or []
    if not isinstance(command, list) or not isinstance(args, list):
        raise EnvError("command and args must be lists of strings")
    if not command:
        return []
    return [expand(str(part), env) for part in [*command, *args]]
