"""The cluster's DNS names for the emulated pods, as an /etc/hosts file.

There is no cluster DNS (and no kube-proxy) among the emulated hosts, so the runtime writes
what CoreDNS would answer into a hosts file that every sandboxed pod sees as /etc/hosts:
`<service>.<namespace>.svc[.cluster.local]` for each Service with endpoints (its first ready
address — there is no ClusterIP to route), and `<hostname>.<service>.<namespace>.svc...` for
each endpoint that has a hostname (a StatefulSet's pods under its headless Service). The file
is rewritten in place (its inode is what the pods have mounted) when the names change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

log = logging.getLogger(__name__)

CLUSTER_DOMAIN = "cluster.local"
REFRESH_S = 1.0
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def _names(*parts: str) -> list[str]:
    short = ".".join(parts) + ".svc"
    return [f"{short}.{CLUSTER_DOMAIN}", short]


def hosts_text(slices: Iterable[Mapping[str, Any]]) -> str:
    """The hosts file for these EndpointSlices (deterministic: sorted, first address wins)."""
    entries: dict[str, str] = {}
    for endpoint_slice in slices:
        metadata = endpoint_slice.get("metadata") or {}
        service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        namespace = metadata.get("namespace")
        if not isinstance(service, str) or not isinstance(namespace, str):
            continue
        if endpoint_slice.get("addressType") != "IPv4":
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            addresses = endpoint.get("addresses") or []
            if not addresses:
                continue
            address = str(addresses[0])
            ready = (endpoint.get("conditions") or {}).get("ready") is not False
            hostname = endpoint.get("hostname")
            if isinstance(hostname, str) and hostname:
                for name in _names(hostname, service, namespace):
                    entries.setdefault(name, address)
            if ready:
                for name in _names(service, namespace):
                    entries.setdefault(name, address)
    lines = [f"{address}\t{name}" for name, address in sorted(entries.items())]
    return HEADER + "".join(f"{line}\n" for line in lines)


def write_in_place(path: Path, text: str) -> bool:
    """Replace the file's content keeping its inode (bind mounts see it); whether it changed."""
    if path.exists() and path.read_text() == text:
        return False
    with path.open("a+") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text)
    return True


class ClusterNames:
    """Keeps a hosts file current with the cluster's EndpointSlices (polled every second)."""

    def __init__(self, api: client.ApiClient, path: Path) -> None:
        self.api = api
        self.path = path
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        listing = await client.DiscoveryV1Api(self.api).list_endpoint_slice_for_all_namespaces()
        slices = [self.api.sanitize_for_serialization(item) for item in listing.items]
        if write_in_place(self.path, hosts_text(slices)):
            log.debug("cluster names written to %s", self.path)

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_in_place(self.path, HEADER)
        await self.refresh()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the API server is away for a moment
                log.warning("cannot refresh the cluster's names: %s", error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
