"""host:port addresses as the agent's settings and flags spell them (IPv6 in brackets)."""

from __future__ import annotations

from typing import NamedTuple


class Address(NamedTuple):
    """A host (name or IP, without brackets) and a port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `host:port` or `[v6]:port`; ValueError says what is wrong."""
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"{text!r} is not host:port")
        port = int(port_text)
        if port > 65535:
            raise ValueError(f"{text!r}: port {port} is above 65535")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, [addr]:port")
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
