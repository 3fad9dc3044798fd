"""Readiness probe parsing, threshold counting and single probes; which pods are the runtime's."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.runtime import PROJECT_IMAGE_PREFIX
from mec_devtools.runtime.images import is_project_image, is_project_pod, resolve_executable
from mec_devtools.runtime.probes import ProbeSpec, ReadinessTracker, probe_once

CONTAINER = {"ports": [{"name": "http", "containerPort": 8080}]}


def test_parse_defaults_and_named_port() -> None:
    spec = ProbeSpec.parse({"httpGet": {"path": "/readyz", "port": "http"}}, CONTAINER)
    assert spec is not None
    assert (spec.kind, spec.port, spec.path, spec.scheme) == ("http", 8080, "/readyz", "HTTP")
    assert (spec.initial_delay_s, spec.period_s, spec.timeout_s) == (0.0, 10.0, 1.0)
    assert (spec.success_threshold, spec.failure_threshold) == (1, 3)
    assert spec.problem is None


def test_parse_tcp_timing_and_problems() -> None:
    spec = ProbeSpec.parse(
        {
            "tcpSocket": {"port": 9090},
            "initialDelaySeconds": 2,
            "periodSeconds": 1,
            "timeoutSeconds": 3,
            "successThreshold": 2,
            "failureThreshold": 1,
        },
        {},
    )
    assert spec is not None
    assert (spec.kind, spec.port, spec.initial_delay_s, spec.period_s) == ("tcp", 9090, 2.0, 1.0)
    assert (spec.timeout_s, spec.success_threshold, spec.failure_threshold) == (3.0, 2, 1)
    assert ProbeSpec.parse(None, {}) is None
    assert ProbeSpec.parse({}, {}) is None
    unnamed = ProbeSpec.parse({"httpGet": {"port": "nope"}}, CONTAINER)
    assert unnamed is not None
    assert unnamed.problem is not None
    exec_probe = ProbeSpec.parse({"exec": {"command": ["true"]}}, {})
    assert exec_probe is not None
    assert exec_probe.kind == "unsupported"
    assert exec_probe.problem is not None


@given(
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=4),
    st.lists(st.booleans(), max_size=40),
)
def test_tracker_matches_threshold_model(success: int, failure: int, results: list[bool]) -> None:
    tracker = ReadinessTracker(success, failure)
    ready = False
    for index, result in enumerate(results):
        run = 0
        for earlier in reversed(results[: index + 1]):
            if earlier != result:
                break
            run += 1
        if result and run >= success:
            ready = True
        if not result and run >= failure:
            ready = False
        assert tracker.record(result) is ready
    tracker.reset()
    assert tracker.ready is False


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def bad(_request: web.Request) -> web.Response:
        return web.Response(status=503)

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/bad", bad)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def test_probe_once_http_and_tcp(server: int) -> None:
    def http(path: str, port: int = server) -> ProbeSpec:
        spec = ProbeSpec.parse({"httpGet": {"path": path, "port": port}}, {})
        assert spec is not None
        return spec

    assert await probe_once(http("/ok"), "127.0.0.1")
    assert not await probe_once(http("/bad"), "127.0.0.1")
    assert not await probe_once(http("/missing"), "127.0.0.1")
    assert not await probe_once(http("/slow"), "127.0.0.1")  # timeoutSeconds 1
    tcp = ProbeSpec.parse({"tcpSocket": {"port": server}}, {})
    assert tcp is not None
    assert await probe_once(tcp, "127.0.0.1")
    closed = ProbeSpec.parse({"tcpSocket": {"port": 1}}, {})
    assert closed is not None
    assert not await probe_once(closed, "127.0.0.1")


def test_project_images_and_pods() -> None:
    assert is_project_image("ghcr.io/mec-orchestrator/reference-app:dev")
    assert not is_project_image("ghcr.io/mec-orchestrator-fork/x:1")
    assert not is_project_image("registry.example.com/x:1")
    assert not is_project_image(None)
    pod = {"spec": {"containers": [{"image": "a:1"}, {"image": "ghcr.io/mec-orchestrator/x:2"}]}}
    assert is_project_pod(pod)
    assert not is_project_pod({"spec": {"containers": [{"image": "a:1"}]}})
    assert not is_project_pod({"spec": {"containers": "odd"}})
    assert not is_project_pod({})


def test_executables_come_from_the_interpreter_directory_first(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    assert resolve_executable("mec-reference-app") == str(bin_dir / "mec-reference-app")
    assert resolve_executable("no-such-program-anywhere") is None
    assert resolve_executable("") is None
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert resolve_executable("tool", bin_dir=Path("/nonexistent"), path=str(tmp_path)) == str(
        script
    )
    assert resolve_executable(str(script)) == str(script)
    assert resolve_executable(str(tmp_path / "missing")) is None


def test_kwok_stages_spell_the_same_prefix() -> None:
    stages_file = files("mec_devtools.devcluster") / "kwok-stages.yaml"
    stages = {s["metadata"]["name"]: s for s in yaml.safe_load_all(stages_file.read_text())}
    for name in ("pod-running", "pod-deleted"):
        keys = [e["key"] for e in stages[name]["spec"]["selector"]["matchExpressions"]]
        assert any(f'startswith("{PROJECT_IMAGE_PREFIX}")' in key for key in keys), name
