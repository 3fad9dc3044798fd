"""The API server as pods on the emulated hosts reach it: 127.0.0.1:<port> in their namespace.

The control plane listens on the machine's loopback, which a node's network namespace does not
share, and there is no kube-proxy for the `kubernetes` Service. The runtime opens a listening
socket *inside* each node's namespace (a socket made on a thread that joined the namespace
stays in it) on the API server's own address and port, and copies each connection to the real
API server. Pods get KUBERNETES_SERVICE_HOST=127.0.0.1 and the port, so the in-cluster
configuration of any client works, and the server certificate (issued for 127.0.0.1) matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from mec_devtools.sim.network.netns import in_namespace

log = logging.getLogger(__name__)

BUFFER = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class ApiForwarder:
    """Listeners in node namespaces, each copying connections to host:port of this namespace."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._servers: dict[str | None, asyncio.Server] = {}

    async def _serve(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError as error:
            log.warning("cannot reach the API server at %s:%d: %s", self.host, self.port, error)
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, server_writer), _pipe(server_reader, client_writer)
        )

    async def add(self, namespace: str | None) -> None:
        """Listen in namespace (idempotent; None is this process's own: nothing to add)."""
        if namespace is None or namespace in self._servers:
            return

        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
            return sock

        sock = await asyncio.to_thread(in_namespace, namespace, listen)
        self._servers[namespace] = await asyncio.start_server(self._serve, sock=sock)

    async def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.close()
        for server in servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
