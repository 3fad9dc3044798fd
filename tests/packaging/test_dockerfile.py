"""The Dockerfile the chart's image is built from: multi-stage, no sources or compiler in the
runtime stage, a user that is not root, the console scripts the chart runs.

No container engine runs on the machines this is built on, so the image itself is not built in
the tests (docs/install.md says so); this reads the Dockerfile as the builder would parse it.
"""

from __future__ import annotations

from pathlib import Path

from tests.helm.chart import CHART, render

REPO = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1]}" if line.endswith("\\") else f"{pending} {line}"
        if not line.endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_the_image_is_built_in_stages_and_runs_as_a_user_that_is_not_root() -> None:
    build, runtime = stages()
    assert build[0][1].endswith(" AS build")
    users = [arguments for name, arguments in runtime if name == "USER"]
    assert users, "the runtime stage names no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    # The runtime stage installs wheels only: no sources copied in, no compiler installed.
    assert not [arguments for name, arguments in runtime if name in ("COPY", "ADD")]
    assert not any("gcc" in arguments or "build-essential" in arguments for _, arguments in runtime)


def test_the_user_is_the_one_the_chart_runs_as() -> None:
    runtime = stages()[-1]
    uid = next(arguments for name, arguments in reversed(runtime) if name == "USER").split(":")[0]
    statefulset = next(o for o in render() if o["kind"] == "StatefulSet")
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_the_chart_runs_console_scripts_the_package_installs() -> None:
    scripts = (REPO / "pyproject.toml").read_text()
    for command in ("mec-orchestrator", "edge-host-agent"):
        assert f'{command} = "' in scripts
    text = "\n".join(p.read_text() for p in (CHART / "templates").rglob("*.yaml"))
    assert 'command: ["mec-orchestrator", "run"]' in text
    assert 'command: ["edge-host-agent", "run"]' in text
