"""Network-namespace plumbing: the `ip` command, and running Python code inside a namespace.

Code runs inside a namespace on a short-lived thread that joins it with setns(2): a network
namespace is per thread, so the rest of the process stays where it is, and a socket made on that
thread keeps belonging to the namespace after the thread ends. That is enough for the ioctl that
turns off checksum offload and for the per-namespace sysctls under /proc/sys/net, without
spawning a process per call.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mec_devtools.sim.network.ethtool import set_tx_checksum, tx_checksum_enabled

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
IP_TIMEOUT_S = 30.0

T = TypeVar("T")


class NetnsError(RuntimeError):
    """A namespace operation failed (the message carries the command and its error output)."""


def missing_capabilities() -> list[str]:
    """Why network namespaces cannot be built here (empty when they can)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root (network namespaces need CAP_SYS_ADMIN)")
    try:
        ip_binary()
    except NetnsError as error:
        problems.append(str(error))
    return problems


def ip_binary() -> str:
    path = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if Path(p).exists()), None
    )
    if path is None:
        raise NetnsError("the `ip` command (iproute2) is not installed: run scripts/system-deps.sh")
    return path


def ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    """Run `ip [-n namespace] args...` and return its standard output."""
    command = [ip_binary(), *(["-n", namespace] if namespace else []), *args]
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=IP_TIMEOUT_S
    )
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def ip_json(*args: str, namespace: str | None = None) -> list[dict[str, Any]]:
    out = ip("-j", *args, namespace=namespace)
    parsed = json.loads(out) if out.strip() else []
    if not isinstance(parsed, list):
        raise NetnsError(f"unexpected output of ip -j {' '.join(args)}: {out[:200]}")
    return parsed


def in_namespace(namespace: str | None, action: Callable[[], T]) -> T:
    """Run `action` on a thread that has joined the named network namespace (None: this one)."""
    if namespace is None:
        return action()
    libc = ctypes.CDLL(None, use_errno=True)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns({namespace}): {os.strerror(errno)}")
            finally:
                os.close(fd)
            outcome.append(action())
        except BaseException as error:  # handed to the caller's thread below
            failure.append(error)

    worker = threading.Thread(target=run, name=f"netns-{namespace}", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def disable_tx_checksum(namespace: str | None, ifname: str) -> None:
    """Turn tx checksum offload off on an interface and check that it stayed off."""

    def apply() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            set_tx_checksum(sock, ifname, enabled=False)
            return tx_checksum_enabled(sock, ifname)

    if in_namespace(namespace, apply):
        raise NetnsError(f"tx checksum offload of {ifname} in {namespace or 'root'} stayed on")


def write_sysctl(namespace: str | None, key: str, value: str) -> None:
    """Write a per-namespace sysctl, e.g. ``net/ipv6/conf/eth0/disable_ipv6``."""
    path = Path("/proc/sys") / key

    def apply() -> None:
        path.write_text(value)

    in_namespace(namespace, apply)


def list_namespaces() -> list[str]:
    return sorted(entry.name for entry in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def namespace_pids(namespace: str) -> list[int]:
    out = ip("netns", "pids", namespace, check=False)
    return [int(word) for word in out.split() if word.isdigit()]


def kill_namespace_processes(namespace: str) -> list[int]:
    """SIGKILL every process whose network namespace is `namespace`; returns their pids."""
    pids = namespace_pids(namespace)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def delete_namespace(namespace: str) -> None:
    """Kill what runs inside the namespace, then delete it (its veth ends go with it)."""
    kill_namespace_processes(namespace)
    ip("netns", "delete", namespace, check=False)
    if (NETNS_DIR / namespace).exists():
        raise NetnsError(f"namespace {namespace} could not be deleted")
