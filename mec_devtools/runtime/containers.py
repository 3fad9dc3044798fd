"""One container of an emulated pod: start, probe, restart, as the kubelet would.

A `ContainerRunner` owns its container's process from start to exit and keeps the
`ContainerView` the pod status is built from up to date; it calls `on_change` whenever that
view changes. The pod worker (runtime.py) decides when the whole pod ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from mec_devtools.runtime.env import EnvError, container_argv, container_env
from mec_devtools.runtime.images import interpreter_bin_dir, resolve_executable
from mec_devtools.runtime.pod_status import (
    RUNNING,
    TERMINATED,
    WAITING,
    ContainerView,
    Termination,
    timestamp,
)
from mec_devtools.runtime.probes import ProbeSpec, ReadinessTracker, probe_once
from mec_devtools.runtime.processes import ContainerProcess, exit_code, start_process
from mec_devtools.runtime.sandbox import SandboxError, SandboxPlan
from mec_devtools.sim.network import Network, Node

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
BACKOFF_RESET_AFTER_S = 30.0  # a container that ran this long restarts without delay build-up


@dataclass(frozen=True)
class PodContext:
    """What every container of one pod shares."""

    network: Network
    node: Node
    pod: Mapping[str, Any]
    pod_ip: str
    log_path: Path
    restart_policy: str
    max_backoff_s: float
    sandbox_env: Mapping[str, str] | None = None  # with a sandbox: what every container gets


def backoff_delay(failures: int, cap_s: float) -> float:
    """Delay before restart number `failures` (1, 2, ...): doubling from 0.5 s, capped."""
    return float(min(BACKOFF_START_S * 2.0 ** min(max(failures - 1, 0), 30), cap_s))


def should_restart(restart_policy: str, code: int) -> bool:
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return code != 0
    return True  # Always, and anything unknown (the API server defaults to Always)


class ContainerRunner:
    def __init__(
        self,
        spec: Mapping[str, Any],
        context: PodContext,
        on_change: Callable[[], None],
        *,
        sandbox: SandboxPlan | SandboxError | None = None,
    ) -> None:
        self.spec = spec
        self.context = context
        self.sandbox = sandbox
        self._on_change = on_change
        name = spec.get("name")
        image = spec.get("image")
        self.view = ContainerView(
            name=name if isinstance(name, str) else "",
            image=image if isinstance(image, str) else "",
        )
        self.process: ContainerProcess | None = None
        self.probe = ProbeSpec.parse(spec.get("readinessProbe"), spec)

    def _set(self, **changes: Any) -> None:
        updated = replace(self.view, **changes)
        if updated != self.view:
            self.view = updated
            self._on_change()

    def _wait(self, reason: str, message: str | None = None) -> None:
        self._set(state=WAITING, reason=reason, message=message, ready=False)

    @property
    def finished(self) -> bool:
        """Ended for good (will not be restarted) or could never start."""
        return self.view.state == TERMINATED

    def _command(self) -> tuple[list[str], dict[str, str]] | None:
        """The argv and environment, or None after marking the container waiting with why."""
        ctx = self.context
        if isinstance(self.sandbox, SandboxError):
            self._wait("CreateContainerConfigError", str(self.sandbox))
            return None
        try:
            own = container_env(self.spec, ctx.pod, pod_ip=ctx.pod_ip, host_ip=ctx.node.ip)
            argv = container_argv(self.spec, own)
        except EnvError as error:
            self._wait("CreateContainerConfigError", str(error))
            return None
        if not argv:
            self._wait(
                "NoCommand",
                "the emulated runtime runs the container's command; this container has none "
                "(images are not pulled or run)",
            )
            return None
        bin_dir = interpreter_bin_dir()
        path = os.pathsep.join(p for p in (str(bin_dir), os.environ.get("PATH", "")) if p)
        executable = resolve_executable(argv[0], bin_dir=bin_dir, path=path)
        if executable is None:
            self._wait("ExecutableNotFound", f"{argv[0]!r} is neither in {bin_dir} nor on PATH")
            return None
        metadata = ctx.pod.get("metadata") or {}
        env = {
            "PATH": path,
            "PYTHONUNBUFFERED": "1",
            "HOSTNAME": str(metadata.get("name", "")),
            **(ctx.sandbox_env or {}),
            **own,
        }
        command = [executable, *argv[1:]]
        if isinstance(self.sandbox, SandboxPlan):
            command = self.sandbox.wrap(command)
        return command, env

    async def run(self) -> None:
        """Start the container and keep it going per the restart policy.

        Returns when it ends for good or cannot start (then it stays waiting with the reason).
        """
        prepared = self._command()
        if prepared is None:
            return
        argv, env = prepared
        failures = 0
        while True:
            ctx = self.context
            header = f"{self.view.name} start {self.view.restart_count}: {' '.join(argv)}"
            starting = asyncio.ensure_future(
                asyncio.to_thread(
                    partial(
                        start_process,
                        log_path=ctx.log_path,
                        header=header,
                        cwd=Path("/") if self.sandbox is not None else None,
                    ),
                    ctx.network,
                    ctx.node,
                    argv,
                    env,
                )
            )
            try:
                process = await asyncio.shield(starting)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    self.process = await starting  # started anyway: `stop` must end it
                raise
            except Exception as error:  # the namespace went away, fork failed, ...
                log.warning("cannot start %s: %s", self.view.name, error)
                self._wait("RunContainerError", str(error))
                return
            self.process = process
            began = time.monotonic()
            started_at = timestamp()
            self._set(
                state=RUNNING,
                reason=None,
                message=None,
                started_at=started_at,
                terminated=None,
                ready=False,
                container_id=f"emulated://{process.pid}",
            )
            prober = asyncio.create_task(self._probe(process))
            try:
                returncode = await process.wait()
            finally:
                prober.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prober
            code, signum = exit_code(returncode)
            ended = Termination(
                exit_code=code,
                reason="Completed" if code == 0 else "Error",
                started_at=started_at,
                finished_at=timestamp(),
                signal=signum,
            )
            with contextlib.suppress(OSError), ctx.log_path.open("a") as out:
                out.write(f"--- {self.view.name} exited with {code}\n")
            if not should_restart(ctx.restart_policy, code):
                self._set(state=TERMINATED, terminated=ended, ready=False)
                return
            failures = 1 if time.monotonic() - began > BACKOFF_RESET_AFTER_S else failures + 1
            delay = backoff_delay(failures, ctx.max_backoff_s)
            self._set(
                state=WAITING,
                reason="CrashLoopBackOff",
                message=f"back-off {delay:g}s restarting failed container={self.view.name}",
                last_terminated=ended,
                ready=False,
            )
            await asyncio.sleep(delay)
            self._set(restart_count=self.view.restart_count + 1)

    async def _probe(self, process: ContainerProcess) -> None:
        spec = self.probe
        if spec is None:
            self._set(ready=True)
            return
        if spec.problem is not None:
            log.warning("container %s is never ready: %s", self.view.name, spec.problem)
            return
        tracker = ReadinessTracker(spec.success_threshold, spec.failure_threshold)
        await asyncio.sleep(spec.initial_delay_s)
        while process.returncode() is None:
            ready = tracker.record(await probe_once(spec, self.context.pod_ip))
            if process.returncode() is None:
                self._set(ready=ready)
            await asyncio.sleep(spec.period_s)

    async def stop(self, grace_s: float) -> None:
        """End the process (if it runs): SIGTERM, grace, SIGKILL."""
        if self.process is not None:
            await self.process.stop(grace_s)
