"""The topology API tests use: nodes in network namespaces, joined by the delay-line switch.

    with Network(name_prefix="t1") as net:
        ap = net.add_node("ap1")
        h = net.add_node("h1")
        net.set_delay(ap, h, one_way_ms=5)
        proc = net.popen(h, [sys.executable, "-m", "something"])
        truth = net.ground_truth()

Every node is a namespace with one veth (``eth0``) whose other end is a port of the switch, which
runs in a namespace of its own. A management port joins the switch to the root namespace at
``net.gateway`` (198.18.0.1 for the first run on a machine) with no delay unless one is set, so
processes in nodes reach servers of the root namespace. Leaving the context removes every
namespace, veth and process of the run, also when the body raised.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import mec_devtools
from mec_devtools.sim.network import addresses as addr
from mec_devtools.sim.network.addresses import Node
from mec_devtools.sim.network.cleanup import (
    DEFAULT_STATE_DIR,
    leftover_names,
    remove_run,
    state_lock,
    write_owner,
)
from mec_devtools.sim.network.client import FrameRecord, SwitchClient, SwitchError
from mec_devtools.sim.network.forwarding import DEFAULT_TRUTH_LIMIT
from mec_devtools.sim.network.netns import (
    disable_tx_checksum,
    ip,
    ip_binary,
    ip_json,
    write_sysctl,
)

NODE_INTERFACE = "eth0"
STOP_GRACE_S = 3.0
REALTIME_PRIORITY = 10


class NetworkError(RuntimeError):
    """The emulated network could not be built, changed or removed."""


def _require_privileges() -> None:
    if os.geteuid() != 0:
        raise NetworkError(
            "network emulation needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network "
            "namespaces and veth pairs; run the tests as root"
        )
    ip_binary()


def _subnets_in_use() -> set[ipaddress.IPv4Network]:
    used: set[ipaddress.IPv4Network] = set()
    for link in ip_json("-4", "addr", "show"):
        for info in link.get("addr_info", []):
            network = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            if network.overlaps(addr.BENCHMARK_RANGE):
                used.add(network)
    return used


def _stop_process_group(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        for signum, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
            try:
                os.killpg(proc.pid, signum)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their leader


class Network:
    """An emulated network of namespaces and a delay-line switch; use it as a context manager."""

    def __init__(
        self,
        name_prefix: str = "mn",
        *,
        seed: int | None = None,
        spin_us: int = 150,
        realtime: bool = True,
        truth_limit: int = DEFAULT_TRUTH_LIMIT,
        state_dir: Path = DEFAULT_STATE_DIR,
    ) -> None:
        self.tag = addr.new_tag(name_prefix)
        self._seed = seed
        self._spin_us = spin_us
        self._realtime = realtime
        self._truth_limit = truth_limit
        self._state_dir = state_dir
        self._run_dir = state_dir / self.tag
        self._switch_ns = addr.namespace_name(self.tag, addr.SWITCH_NODE)
        self._nodes: dict[str, Node] = {}
        self._extra: dict[ipaddress.IPv4Address, str] = {}  # extra address -> node name
        self._processes: list[subprocess.Popen[Any]] = []
        self._switch: subprocess.Popen[bytes] | None = None
        self._client = SwitchClient(self._run_dir / "ctl.sock")
        self._lock = threading.RLock()
        self._subnet: ipaddress.IPv4Network | None = None
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Network:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def start(self) -> None:
        if self._started:
            raise NetworkError("network already started")
        _require_privileges()
        self._started = True
        try:
            self._run_dir.mkdir(parents=True)
            write_owner(self._run_dir)
            ip("netns", "add", self._switch_ns)
            for key in ("all", "default"):
                write_sysctl(self._switch_ns, f"net/ipv6/conf/{key}/disable_ipv6", "1")
            self._start_switch()
            self._attach_root()
        except BaseException:
            self.close(raise_errors=False)
            raise

    def _start_switch(self) -> None:
        package_root = str(Path(mec_devtools.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        command = [
            ip_binary(),
            "netns",
            "exec",
            self._switch_ns,
            sys.executable,
            "-m",
            "mec_devtools.sim.network.switch",
            "--control",
            str(self._client.path),
            "--parent-pid",
            str(os.getpid()),
            "--spin-us",
            str(self._spin_us),
            "--truth-limit",
            str(self._truth_limit),
            *(["--seed", str(self._seed)] if self._seed is not None else []),
            *(["--realtime-priority", str(REALTIME_PRIORITY)] if self._realtime else []),
        ]
        with (self._run_dir / "switch.log").open("ab") as log:
            self._switch = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 15.0
        while not self._client.path.exists():
            if self._switch.poll() is not None or time.monotonic() > deadline:
                raise NetworkError(f"switch did not start: {self.switch_log()[-2000:]}")
            time.sleep(0.01)
        self._client.connect()
        pid = self._client.request("ping")["pid"]
        if pid != self._switch.pid:
            raise NetworkError(f"switch pid {pid} is not the started process {self._switch.pid}")

    def _attach_root(self) -> None:
        port = "p1"
        link = addr.root_link_name()
        with state_lock(self._state_dir):
            self._subnet = addr.pick_subnet(_subnets_in_use())
            gateway = addr.host_address(self._subnet, 1)
            mac = addr.mac_for(gateway)
            veth = f"link add {link} address {mac} type veth peer name {port}"
            ip(*veth.split(), "netns", self._switch_ns)
            ip("link", "set", "dev", link, "alias", addr.root_link_alias(self.tag))
            write_sysctl(None, f"net/ipv6/conf/{link}/disable_ipv6", "1")
            disable_tx_checksum(None, link)
            ip("addr", "add", f"{gateway}/{self._subnet.prefixlen}", "dev", link)
            ip("link", "set", "dev", link, "up")
        self._root = Node(addr.ROOT_NODE, None, gateway, mac, port, link)
        self._bring_up_port(port)
        self._request("add_port", name=addr.ROOT_NODE, ifname=port, mac=mac)

    def _bring_up_port(self, port: str) -> None:
        write_sysctl(self._switch_ns, f"net/ipv6/conf/{port}/disable_ipv6", "1")
        ip("link", "set", "dev", port, "promisc", "on", "up", namespace=self._switch_ns)

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop every process and remove every namespace and link of this run."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            self._extra.clear()  # they go with their namespaces
            for proc in self._processes:
                _stop_process_group(proc)
            if self._switch is not None:
                try:
                    self._client.request("shutdown")
                    self._switch.wait(timeout=STOP_GRACE_S)
                except (SwitchError, subprocess.TimeoutExpired, OSError):
                    pass
                _stop_process_group(self._switch)
            self._client.close()
            removal_error: Exception | None = None
            try:
                remove_run(self.tag, self._state_dir)
            except Exception as error:
                removal_error = error
            for proc in [*self._processes, *([self._switch] if self._switch else [])]:
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    removal_error = removal_error or NetworkError(f"pid {proc.pid} survived")
            left = leftover_names(self.tag)
            if raise_errors and (left or removal_error):
                raise NetworkError(f"cleanup of {self.tag} incomplete: {left}") from removal_error

    # -- nodes and links -----------------------------------------------------------------
    @property
    def subnet(self) -> ipaddress.IPv4Network:
        if self._subnet is None:
            raise NetworkError("network not started")
        return self._subnet

    @property
    def root(self) -> Node:
        """The root namespace as a node: the orchestrator's side of the management port."""
        if self._subnet is None:
            raise NetworkError("network not started")
        return self._root

    @property
    def gateway(self) -> str:
        """Address of the root namespace on the emulated network (e.g. 198.18.0.1)."""
        return self.root.ip

    @property
    def nodes(self) -> dict[str, Node]:
        return dict(self._nodes)

    @property
    def switch_pid(self) -> int:
        if self._switch is None:
            raise NetworkError("network not started")
        return self._switch.pid

    def namespaces(self) -> list[str]:
        return [self._switch_ns, *(n.namespace for n in self._nodes.values() if n.namespace)]

    def node(self, name: str | Node) -> Node:
        if isinstance(name, Node):
            return name
        if name == addr.ROOT_NODE:
            return self.root
        try:
            return self._nodes[name]
        except KeyError:
            raise NetworkError(f"no node {name!r}") from None

    def add_node(self, name: str) -> Node:
        """Create a namespace attached to a new switch port; returns its address and names."""
        with self._lock:
            if not self._started:
                raise NetworkError("network not started")
            addr.check_node_name(name)
            if name in self._nodes:
                raise NetworkError(f"node {name!r} exists already")
            host = len(self._nodes) + 2
            if host > addr.MAX_HOSTS + 1:
                raise NetworkError(f"at most {addr.MAX_HOSTS} nodes per network")
            address = addr.host_address(self.subnet, host)
            if address in self._extra:
                raise NetworkError(f"{address} is taken by an extra address of a node")
            ns = addr.namespace_name(self.tag, name)
            node = Node(
                name=name,
                namespace=ns,
                address=address,
                mac=addr.mac_for(address),
                port=f"p{host}",
                interface=NODE_INTERFACE,
            )
            ip("netns", "add", ns)
            self._nodes[name] = node
            veth = f"link add {node.port} type veth peer name {NODE_INTERFACE} address {node.mac}"
            ip(*veth.split(), "netns", ns, namespace=self._switch_ns)
            write_sysctl(ns, f"net/ipv6/conf/{NODE_INTERFACE}/disable_ipv6", "1")
            disable_tx_checksum(ns, NODE_INTERFACE)
            ip(
                "addr",
                "add",
                f"{address}/{self.subnet.prefixlen}",
                "dev",
                NODE_INTERFACE,
                namespace=ns,
            )
            ip("link", "set", "dev", NODE_INTERFACE, "up", namespace=ns)
            ip("link", "set", "dev", "lo", "up", namespace=ns)
            self._bring_up_port(node.port)
            self._request("add_port", name=name, ifname=node.port, mac=node.mac)
            return node

    # -- extra addresses -----------------------------------------------------------------
    def add_address(self, node: Node | str) -> ipaddress.IPv4Address:
        """Add one more IPv4 address of the subnet to a node's eth0 and return it.

        Extra addresses are taken from the top of the subnet downwards (.254, .253, ...), never
        one of a node, of the root namespace or another extra address; `add_node` refuses an
        address already taken this way. The node answers ARP for it with its own MAC, so the
        switch delivers traffic for it to the node's port. It is a /32: routes and the source
        address of the node's own connections stay as they are. Deleting the namespace on
        close removes it.
        """
        with self._lock:
            if not self._started:
                raise NetworkError("network not started")
            target = self.node(node)
            if target.namespace is None:
                raise NetworkError("extra addresses are for nodes, not the root namespace")
            taken = {self.root.address, *(n.address for n in self._nodes.values()), *self._extra}
            for host in range(addr.MAX_HOSTS + 1, 1, -1):
                candidate = addr.host_address(self.subnet, host)
                if candidate not in taken:
                    break
            else:
                raise NetworkError(f"no free address left in {self.subnet}")
            ns = target.namespace
            ip("addr", "add", f"{candidate}/32", "dev", target.interface, namespace=ns)
            self._extra[candidate] = target.name
            return candidate

    def remove_address(self, node: Node | str, address: ipaddress.IPv4Address | str) -> None:
        """Remove an extra address that `add_address` gave the node; unknown ones are an error.

        After `close` there is nothing to remove (the namespaces are gone) and this does nothing.
        """
        with self._lock:
            if not self._started:
                return
            target = self.node(node)
            wanted = ipaddress.IPv4Address(str(address))
            if self._extra.get(wanted) != target.name or target.namespace is None:
                raise NetworkError(f"{wanted} is not an extra address of {target.name}")
            del self._extra[wanted]
            ip("addr", "del", f"{wanted}/32", "dev", target.interface, namespace=target.namespace)

    def extra_addresses(self, node: Node | str) -> list[ipaddress.IPv4Address]:
        """The extra addresses a node has now, lowest first."""
        with self._lock:
            name = self.node(node).name
            return sorted(a for a, owner in self._extra.items() if owner == name)

    def set_delay(
        self,
        a: Node | str,
        b: Node | str,
        one_way_ms: float,
        jitter_ms: float = 0.0,
        loss: float = 0.0,
        *,
        symmetric: bool = True,
    ) -> None:
        """Set the link a -> b (and b -> a unless symmetric=False); takes effect at once.

        Frames already waiting keep the delay they were given when they entered.
        """
        self._request(
            "set_link",
            **{"from": self.node(a).name, "to": self.node(b).name},
            delay_ms=one_way_ms,
            jitter_ms=jitter_ms,
            loss=loss,
            symmetric=symmetric,
        )

    def link(self, a: Node | str, b: Node | str) -> dict[str, float]:
        """The parameters of the link a -> b: delay_ms, jitter_ms, loss."""
        reply = self._request("get_link", **{"from": self.node(a).name, "to": self.node(b).name})
        return {key: float(value) for key, value in reply["link"].items()}

    # -- processes -----------------------------------------------------------------------
    def _command(self, node: Node | str, args: Sequence[str]) -> list[str]:
        target = self.node(node)
        if target.namespace is None:
            return list(args)
        return [ip_binary(), "netns", "exec", target.namespace, *args]

    def popen(self, node: Node | str, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a process inside a node (its own session, stopped when the network closes)."""
        kwargs.setdefault("start_new_session", True)
        with self._lock:
            if not self._started:
                raise NetworkError("network not started")
            proc: subprocess.Popen[Any] = subprocess.Popen(self._command(node, args), **kwargs)
            self._processes.append(proc)
            return proc

    def run(
        self, node: Node | str, args: Sequence[str], *, timeout: float = 60.0, **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        """Run a process inside a node to completion (subprocess.run semantics)."""
        kwargs.setdefault("start_new_session", True)
        return subprocess.run(self._command(node, args), timeout=timeout, check=False, **kwargs)

    # -- switch state --------------------------------------------------------------------
    def _request(self, cmd: str, **params: Any) -> dict[str, Any]:
        with self._lock:
            try:
                return self._client.request(cmd, **params)
            except SwitchError as error:
                raise NetworkError(f"switch refused {cmd}: {error}") from None

    @property
    def control(self) -> SwitchClient:
        """The raw control connection (for requests the API does not wrap)."""
        return self._client

    def ground_truth(self, since: int = 0) -> list[FrameRecord]:
        """Every forwarded copy of a frame since record `since`, oldest first."""
        with self._lock:
            try:
                return self._client.truth(since)
            except SwitchError as error:
                raise NetworkError(f"cannot read ground truth: {error}") from None

    def clear_ground_truth(self) -> None:
        self._request("clear_truth")

    def stats(self) -> dict[str, Any]:
        return dict(self._request("stats")["stats"])

    def switch_log(self) -> str:
        try:
            return (self._run_dir / "switch.log").read_text(errors="replace")
        except OSError:
            return ""
