"""Readiness probes of emulated pods: what the spec asks for, when it counts, how it is done.

A pod of the emulated runtime is Ready only when its container really answers, as with a real
kubelet. `ProbeSpec.parse` reads a readinessProbe (httpGet or tcpSocket; the kubelet's defaults
for timing), `ReadinessTracker` applies successThreshold/failureThreshold to the results (pure),
and `probe_once` runs one probe against the pod's address. Probes run from the root namespace:
pod addresses are reachable there through the switch's management port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

USER_AGENT = "kube-probe/1.36"
MAX_STATUS_LINE = 1024


@dataclass(frozen=True)
class ProbeSpec:
    """One readinessProbe; `problem` says why it can never pass (it is then always a failure)."""

    kind: str  # "http", "tcp" or "unsupported"
    port: int | None = None
    path: str = "/"
    scheme: str = "HTTP"
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    problem: str | None = None

    @staticmethod
    def parse(probe: object, container: Mapping[str, Any]) -> ProbeSpec | None:
        """The probe, or None when the container has none (ready as soon as it runs)."""
        if not isinstance(probe, Mapping) or not probe:
            return None
        timed = ProbeSpec(
            kind="unsupported",
            initial_delay_s=float(_number(probe.get("initialDelaySeconds"), 0, minimum=0)),
            period_s=float(_number(probe.get("periodSeconds"), 10, minimum=1)),
            timeout_s=float(_number(probe.get("timeoutSeconds"), 1, minimum=1)),
            success_threshold=_number(probe.get("successThreshold"), 1, minimum=1),
            failure_threshold=_number(probe.get("failureThreshold"), 3, minimum=1),
        )
        http = probe.get("httpGet")
        if isinstance(http, Mapping):
            port, problem = _port(http.get("port"), container)
            headers = tuple(
                (str(h.get("name", "")), str(h.get("value", "")))
                for h in http.get("httpHeaders") or []
                if isinstance(h, Mapping)
            )
            scheme = str(http.get("scheme") or "HTTP").upper()
            if scheme not in ("HTTP", "HTTPS"):
                problem = problem or f"unknown scheme {scheme!r}"
            host = http.get("host")
            return replace(
                timed,
                kind="http",
                port=port,
                path=str(http.get("path") or "/"),
                scheme=scheme,
                host=host if isinstance(host, str) and host else None,
                headers=headers,
                problem=problem,
            )
        tcp = probe.get("tcpSocket")
        if isinstance(tcp, Mapping):
            port, problem = _port(tcp.get("port"), container)
            host = tcp.get("host")
            return replace(
                timed,
                kind="tcp",
                port=port,
                host=host if isinstance(host, str) and host else None,
                problem=problem,
            )
        kinds = ", ".join(sorted(k for k in probe if k in ("exec", "grpc"))) or "no handler"
        return replace(
            timed, problem=f"probe with {kinds} is not supported by the emulated runtime"
        )


def _number(value: object, default: int, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(value, minimum)


def _port(value: object, container: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """A probe's port: a number, a numeric string or the name of a container port."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, None) if 0 < value < 65536 else (None, f"port {value} out of range")
    if isinstance(value, str):
        if value.isdigit():
            return _port(int(value), container)
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and port.get("name") == value:
                return _port(port.get("containerPort"), container)
        return None, f"no container port named {value!r}"
    return None, f"unusable port {value!r}"


@dataclass
class ReadinessTracker:
    """Consecutive results against the thresholds; starts not ready, as the kubelet's does."""

    success_threshold: int = 1
    failure_threshold: int = 3
    ready: bool = False
    _successes: int = field(default=0, repr=False)
    _failures: int = field(default=0, repr=False)

    def record(self, success: bool) -> bool:
        """Count one probe result; the readiness after it."""
        if success:
            self._successes += 1
            self._failures = 0
            if self._successes >= self.success_threshold:
                self.ready = True
        else:
            self._failures += 1
            self._successes = 0
            if self._failures >= self.failure_threshold:
                self.ready = False
        return self.ready

    def reset(self) -> None:
        """A restarted container is not ready until probed again."""
        self.ready = False
        self._successes = 0
        self._failures = 0


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the kubelet does not verify probe certificates
    return context


async def probe_once(spec: ProbeSpec, pod_ip: str) -> bool:
    """Run the probe once against the pod; True on success (HTTP 200-399, TCP connect)."""
    if spec.problem is not None or spec.port is None:
        return False
    host = spec.host or pod_ip
    try:
        async with asyncio.timeout(spec.timeout_s):
            if spec.kind == "tcp":
                _, writer = await asyncio.open_connection(host, spec.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True
            return await _http_get(spec, host)
    except (OSError, TimeoutError, ValueError, ssl.SSLError):
        return False


async def _http_get(spec: ProbeSpec, host: str) -> bool:
    context = _insecure_context() if spec.scheme == "HTTPS" else None
    reader, writer = await asyncio.open_connection(host, spec.port, ssl=context)
    try:
        path = spec.path if spec.path.startswith("/") else f"/{spec.path}"
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{spec.port}",
            f"User-Agent: {USER_AGENT}",
            "Accept: */*",
            "Connection: close",
            *(f"{name}: {value}" for name, value in spec.headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line[:MAX_STATUS_LINE].decode("latin-1").split()
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return False
        return 200 <= int(parts[1]) < 400
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
