"""The topology API: reaching the root namespace, isolation of runs, and leaving nothing behind."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from mec_devtools.sim.network import (
    Network,
    NetworkError,
    cleanup_leftovers,
    leftover_names,
)
from mec_devtools.sim.network.netns import NETNS_DIR, ip_json
from tests.devtools.sim.probes import MS, ping, start_echo, warm_up

# Runs in a node: connect to the root namespace, time the handshake, send a megabyte and read it
# back, print JSON.
TCP_CLIENT = textwrap.dedent(
    """
    import hashlib, json, socket, sys, time
    data = bytes(range(256)) * 4096
    began = time.perf_counter()
    sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
    connect_ms = (time.perf_counter() - began) * 1000
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    back = b""
    while chunk := sock.recv(65536):
        back += chunk
    print(json.dumps({"connect_ms": connect_ms, "sha": hashlib.sha256(back).hexdigest()}))
    """
)


@pytest.fixture
def root_echo_server(net: Network) -> Iterator[tuple[str, int]]:
    """A TCP echo server in the root namespace, listening on the network's gateway address."""
    server = socket.create_server((net.gateway, 0))
    server.settimeout(30)

    def serve() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    conn.sendall(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield net.gateway, server.getsockname()[1]
    thread.join(timeout=30)


def test_node_reaches_a_tcp_server_in_the_root_namespace(
    net: Network, root_echo_server: tuple[str, int]
) -> None:
    host, port = root_echo_server
    assert host == str(net.subnet.network_address + 1)
    h1 = net.add_node("h1")
    net.set_delay(net.root, h1, 3.0)
    done = net.run(
        h1, [sys.executable, "-c", TCP_CLIENT, host, str(port)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["sha"] == hashlib.sha256(bytes(range(256)) * 4096).hexdigest()
    assert report["connect_ms"] >= 6.0 - 0.2  # SYN and SYN-ACK each wait 3 ms (plus ARP)
    truth = net.ground_truth()
    tcp = [r for r in truth if r.protocol == 6]
    assert {(r.ingress, r.egress) for r in tcp} == {("h1", "root"), ("root", "h1")}
    assert max(r.length for r in tcp) <= 1514  # offload off: the stack segmented to the MTU
    assert net.stats()["partial_checksums"] == 0


def test_root_management_port_has_no_delay_by_default(net: Network) -> None:
    h1 = net.add_node("h1")
    assert net.link(net.root, h1) == {"delay_ms": 0.0, "jitter_ms": 0.0, "loss": 0.0}
    done = net.run(h1, ["ip", "-4", "-j", "addr", "show", "dev", "eth0"], capture_output=True)
    local = json.loads(done.stdout)[0]["addr_info"][0]
    assert local["local"] == h1.ip
    assert h1.ip.startswith(("198.18.", "198.19."))
    assert local["prefixlen"] == 24


def _net_namespace_inode(name: str) -> int:
    return (NETNS_DIR / name).stat().st_ino


def _processes_in(inodes: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            link = str((entry / "ns" / "net").readlink())
        except OSError:
            continue
        if int(link.split("[")[1].rstrip("]")) in inodes:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _root_links() -> set[str]:
    return {link["ifname"] for link in ip_json("link", "show")}


STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)"


def _populate(network: Network) -> tuple[list[str], set[int], list[int]]:
    """Nodes with a SIGTERM-ignoring process, a detached grandchild and an echo server."""
    h1, h2 = network.add_node("h1"), network.add_node("h2")
    stubborn = network.popen(h1, [sys.executable, "-c", STUBBORN])
    network.popen(h2, ["sh", "-c", "setsid sleep 600 & sleep 600"])
    start_echo(network, h2)
    namespaces = network.namespaces()
    inodes = {_net_namespace_inode(n) for n in namespaces}
    time.sleep(0.2)
    assert len(_processes_in(inodes)) >= 5  # switch, stubborn, sh, two sleeps, echo
    assert set(leftover_names(network.tag)) > set(namespaces)
    return namespaces, inodes, [stubborn.pid, network.switch_pid]


@pytest.mark.parametrize("failing", [False, True])
def test_nothing_is_left_after_the_context_even_when_the_body_raises(
    netns_capable: None, failing: bool
) -> None:
    links_before = _root_links()
    network = Network(name_prefix="pt")
    expectation = pytest.raises(RuntimeError, match="body failed") if failing else nullcontext()
    with expectation, network:
        namespaces, inodes, pids = _populate(network)
        if failing:
            raise RuntimeError("body failed")
    assert leftover_names(network.tag) == []
    assert not set(namespaces) & {entry.name for entry in NETNS_DIR.iterdir()}
    assert _root_links() <= links_before
    assert _processes_in(inodes) == []
    assert not any(_alive(pid) for pid in pids)
    assert not (Path("/run/mecnet") / network.tag).exists()


CRASHING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from mec_devtools.sim.network import Network
    net = Network(name_prefix=sys.argv[1]).__enter__()
    h1 = net.add_node("h1")
    net.popen(h1, ["sleep", "600"], stdout=-3, stderr=-3)  # DEVNULL: the pipe must close
    print(net.tag, net.switch_pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_leftovers_of_a_crashed_run_are_found_and_removed(netns_capable: None) -> None:
    prefix = "ptcrash"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, prefix],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    tag, switch_pid = crashed.stdout.split()
    left = leftover_names(tag)
    assert len(left) == 3  # switch and node namespaces, root link
    deadline = time.monotonic() + 5
    while _alive(int(switch_pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(switch_pid)), "the switch outlived the process that started it"

    with Network(name_prefix=prefix) as live:
        removed = cleanup_leftovers(prefix)
        assert any(tag in line for line in removed)
        assert not any(live.tag in line for line in removed)
        assert leftover_names(tag) == []
        assert len(leftover_names(live.tag)) == 2  # live run untouched: switch ns, root link
    assert leftover_names(prefix) == []


def test_parallel_networks_get_their_own_names_and_subnets(net: Network) -> None:
    with Network(name_prefix="pt") as other:
        assert other.tag != net.tag
        assert not other.subnet.overlaps(net.subnet)
        for network in (net, other):
            a, b = network.add_node("h1"), network.add_node("h2")
            network.set_delay(a, b, 2.0 if network is net else 6.0)
            start_echo(network, b)
            warm_up(network, a, b)
        fast = ping(net, net.node("h1"), net.node("h2"), count=10, interval_s=0.01)
        slow = ping(other, other.node("h1"), other.node("h2"), count=10, interval_s=0.01)
        assert statistics.median(fast.rtts_ms()) == pytest.approx(4.0, abs=1.0)
        assert statistics.median(slow.rtts_ms()) == pytest.approx(12.0, abs=1.0)
        for network in (net, other):  # no frame crossed from one network to the other
            addresses = {r.src_ip for r in network.ground_truth() if r.src_ip is not None}
            assert addresses
            assert all(ipaddress.IPv4Address(a) in network.subnet for a in addresses)


def test_malformed_control_requests_get_errors_and_the_switch_keeps_working(
    net: Network,
) -> None:
    a, b = net.add_node("h1"), net.add_node("h2")
    bad = [
        b"not json",
        b"\xff\xfe\xfd",
        b"[1, 2, 3]",
        b'{"cmd": "format_disk"}',
        b'{"cmd": "set_link", "from": "h1", "to": "nobody", "delay_ms": 1}',
        b'{"cmd": "set_link", "from": "h1", "to": "h1", "delay_ms": 1}',
        b'{"cmd": "set_link", "from": "h1", "to": "h2", "delay_ms": -5}',
        b'{"cmd": "set_link", "from": "h1", "to": "h2", "delay_ms": 1, "loss": 7}',
        b'{"cmd": "add_port", "name": "h1", "ifname": "p2"}',
        b'{"cmd": "add_port", "name": "ghost", "ifname": "nosuchif"}',
        b'{"cmd": "truth", "since": "zero"}',
    ]
    errors_before = net.stats()["control_errors"]
    for line in bad:
        reply = net.control.exchange(line)
        assert reply["ok"] is False, line
        assert isinstance(reply["error"], str)
        assert reply["error"], line
    assert net.stats()["control_errors"] - errors_before == len(bad)
    assert net.control.exchange(b'{"cmd": "ping"}')["ok"] is True

    with pytest.raises(NetworkError, match="loss"):
        net.set_delay(a, b, 1.0, loss=2.0)
    with pytest.raises(NetworkError, match="no node"):
        net.set_delay(a, "nobody", 1.0)
    net.set_delay(a, b, 2.0)
    start_echo(net, b)
    result = ping(net, a, b, count=5, interval_s=0.01)
    assert result.received == 5
    assert all(p.rtt_ns is not None and p.rtt_ns >= 4 * MS - 0.2 * MS for p in result.probes)

    # an over-long line is refused and that connection closed; a new one works
    reply = net.control.exchange(b"{" + b" " * 70_000)
    assert reply["ok"] is False
    assert "longer than" in reply["error"] or "too long" in reply["error"]
    net.control.close()
    assert net.control.exchange(b'{"cmd": "ping"}')["ok"] is True
