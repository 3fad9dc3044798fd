"""Extra addresses on emulated nodes (pod addresses): allocation, reachability, removal."""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

from mec_devtools.sim.network import Network, NetworkError

LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], 7070))
print("ready", flush=True)
connection, _ = server.accept()
connection.sendall(b"hello from " + sys.argv[1].encode())
connection.close()
"""


def test_extra_address_is_reachable_from_the_root_namespace(network: Network) -> None:
    h1 = network.add_node("h1")
    h2 = network.add_node("h2")
    first = network.add_address(h1)
    second = network.add_address(h2)
    assert first == network.subnet.network_address + 254
    assert second == network.subnet.network_address + 253
    assert network.extra_addresses(h1) == [first]
    assert network.extra_addresses("h2") == [second]
    shown = network.run(h1, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True)
    assert f" {first}/32 ".encode() in shown.stdout
    assert f" {h1.ip}/24 ".encode() in shown.stdout

    server = network.popen(h1, [sys.executable, "-c", LISTENER, str(first)], stdout=-1)
    assert server.stdout is not None
    assert server.stdout.readline().strip() == b"ready"
    with socket.create_connection((str(first), 7070), timeout=5) as connection:
        assert connection.recv(100) == f"hello from {first}".encode()
    server.wait(timeout=10)

    network.remove_address(h1, first)
    assert network.extra_addresses(h1) == []
    shown = network.run(h1, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True)
    assert str(first).encode() not in shown.stdout
    with pytest.raises(NetworkError):
        network.remove_address(h1, first)
    with pytest.raises(NetworkError):
        network.remove_address(h1, second)  # h2's
    with pytest.raises(NetworkError):
        network.add_address(network.root)
    assert network.add_address(h1) == first  # free again


def test_extra_addresses_never_take_node_addresses(network: Network) -> None:
    node = network.add_node("n1")
    taken = {network.root.address, node.address}
    extras = [network.add_address(node) for _ in range(252)]  # .3 to .254
    with pytest.raises(NetworkError, match="no free address"):
        network.add_address(node)
    assert len(set(extras)) == 252
    assert not taken & set(extras)
    assert all(a in network.subnet for a in extras)
    with pytest.raises(NetworkError, match="taken by an extra address"):
        network.add_node("n2")
    network.remove_address(node, network.subnet.network_address + 3)
    assert network.add_node("n2").address == ipaddress.IPv4Address(
        network.subnet.network_address + 3
    )
