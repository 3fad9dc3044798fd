"""Transmit checksum offload switched off with the SIOCETHTOOL ioctl, so no ethtool is needed.

A veth with tx checksum offload hands the peer frames whose UDP/TCP checksum is only partial
(the kernel would finish it on a real NIC). The delay line reads those frames through an
AF_PACKET socket and writes them out again on another port, where nobody finishes the checksum
and the receiver drops them. Turning offload off on every veth end that sends into the switch
makes the sender's stack compute full checksums (and, with it, segment TCP to the MTU in
software, since TSO needs checksum offload).
"""

from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x00000016
ETHTOOL_STXCSUM = 0x00000017
_IFNAMSIZ = 16


def _ethtool_value(sock: socket.socket, ifname: str, command: int, value: int = 0) -> int:
    if len(ifname.encode()) >= _IFNAMSIZ:
        raise ValueError(f"interface name too long: {ifname!r}")
    data = ctypes.create_string_buffer(struct.pack("II", command, value), 8)
    request = struct.pack("16sP", ifname.encode(), ctypes.addressof(data))
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
    _, result = struct.unpack("II", data.raw[:8])
    return int(result)


def tx_checksum_enabled(sock: socket.socket, ifname: str) -> bool:
    """Whether tx checksum offload is on; `sock` is any socket of the interface's namespace."""
    return _ethtool_value(sock, ifname, ETHTOOL_GTXCSUM) != 0


def set_tx_checksum(sock: socket.socket, ifname: str, *, enabled: bool) -> None:
    """Switch tx checksum offload on or off; `sock` belongs to the interface's namespace."""
    _ethtool_value(sock, ifname, ETHTOOL_STXCSUM, int(enabled))
