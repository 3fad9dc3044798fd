"""The edge-host agents' server (adapters.agent_link) in the operator process, fed to its state.

- **Samples** go straight into the placement engine (its latency matrix and ranking index), timed
  by the view's clock, so the instance plan reads them on its next lookup (there they win over
  EdgeHost status summaries) and the engine places users by them. The
  latency watch wakes the apps when they change which hosts are best.
- **Liveness**: `AgentLost(host)` makes the host unavailable (`HostView.agent_lost`), so the plan
  evacuates its instances; `AgentConnected(host)` makes it available again. Both wake every
  EdgeApp. The loss is also written to the EdgeHost's status (AgentConnected False,
  `HeartbeatTimeout`), so a restarted operator keeps the host unavailable until its agent is
  back (ClusterView.lost_by_status). Every replica keeps its own view current from the agents
  connected to it; only the active replica acts on it, because kopf runs the app daemons there
  only.
- **Only the active replica takes agents**: a standby answers Register with UNAVAILABLE, and a
  replica that finds itself standby (on its status-writing tick) releases the sessions it has,
  so agents — through a Service or with several orchestrator addresses — end up registered with
  the replica that places apps.
- **Instances**: `InstancesReported(host, ...)` (the full set of app instances the host's agent
  knows over Mp1) goes to `OperatorState.instances_reported`; the state drops a host's set when
  its agent is lost or released. So after a restart the new leader knows who-is-where from the
  agents (they report again after registering), not from memory. It wakes no app.
- **Summaries**: every `agents_status_seconds`, and at once after an agent connects or is lost,
  the active replica writes each known agent's `edge_host_status(...)` into its EdgeHost's status
  (merge patch). Hosts without an EdgeHost object are skipped. These summaries are what other
  replicas, people and a restarted operator see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.adapters.agent_link import (
    AgentConnected,
    AgentEvent,
    AgentEvents,
    AgentLost,
    AgentReleased,
    AgentServer,
    AgentServerSettings,
    GapSummaryReceived,
    InstancesReported,
)
from mec_orchestrator.adapters.kube import status as kube_status
from mec_orchestrator.adapters.kube.peering import read_peers
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.leadership import is_active
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)


class AgentWiring:
    """Runs the AgentServer for one operator process and applies what it learns."""

    def __init__(self, state: OperatorState, settings: AgentServerSettings) -> None:
        self.state = state
        self.server = AgentServer(
            settings, state.engine, clock=state.view.clock, accepting=self.accepting
        )
        self._wake_writer = asyncio.Event()
        self._events: AgentEvents | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._written: dict[str, dict[str, Any]] = {}  # host -> the status last written

    async def start(self) -> int:
        """Serve agents; returns the bound port."""
        self._events = self.server.registry.subscribe()
        port = await self.server.start()
        self._tasks = [
            asyncio.create_task(self._follow(self._events), name="agent-events"),
            asyncio.create_task(self._write_periodically(), name="edgehost-status"),
        ]
        log.info("agent server listening on %s (port %d)", self.server.settings.listen, port)
        return port

    async def stop(self) -> None:
        """Stop serving and following; safe to call more than once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._events is not None:
            self._events.close()
            self._events = None
        await self.server.stop()

    # Events

    async def _follow(self, events: AgentEvents) -> None:
        async for event in events:
            try:
                self.apply(event)
            except Exception:  # one bad event must not end the subscription
                log.exception("cannot apply %s", event)

    def apply(self, event: AgentEvent) -> None:
        """Update the view for one registry event and wake whoever must act on it."""
        if isinstance(event, AgentLost):
            log.warning(
                "agent of %s lost (no heartbeat since %s)", event.host, event.last_heartbeat
            )
            self.state.agent_lost(event.host)  # wakes every app
        elif isinstance(event, AgentConnected):
            log.info("agent of %s connected (session %s)", event.host, event.session_id)
            self.state.agent_connected(event.host)  # wakes every app
        elif isinstance(event, GapSummaryReceived):
            log.info("agent of %s measured alone for %.1f s", event.host, event.gap.duration_s)
            return
        elif isinstance(event, InstancesReported):
            log.info(
                "agent of %s reports %d app instance(s) (generation %d)",
                event.host,
                len(event.instances),
                event.generation,
            )
            self.state.instances_reported(event.host, event.instances)
            return
        elif isinstance(event, AgentReleased):
            log.info("agent of %s sent on to the active replica", event.host)
            self.state.agent_released(event.host)
            return
        self._wake_writer.set()

    # EdgeHost status

    async def _write_periodically(self) -> None:
        period = self.state.settings.agents_status_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_writer.wait(), timeout=period)
            self._wake_writer.clear()
            try:
                await self.write_statuses()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("writing agents' EdgeHost status failed; trying again")

    async def accepting(self) -> bool:
        """Whether agents may register here: only with the active replica.

        So the replica that places apps is the one that hears their measurements and notices
        their loss.
        """
        state = self.state
        if state.settings.standalone:
            return True
        if not state.ready:
            return False
        try:
            return await self.active()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("cannot tell whether this replica is active (%s); refusing agents", error)
            return False

    async def active(self) -> bool:
        """Whether this replica may write (the app daemons need no such check)."""
        settings = self.state.settings
        if settings.standalone:
            active = True
        else:
            peers = await read_peers(self.state.api, settings.peering_name)
            active = peers is not None and is_active(
                peers, settings.identity, settings.priority, datetime.now(UTC)
            )
        metrics.ACTIVE_REPLICA.set(1 if active else 0)
        return active

    async def write_statuses(self) -> int:
        """Write every known agent's summary into its EdgeHost's status; returns how many."""
        state = self.state
        if not state.ready:
            return 0
        if not await self.active():
            # A standby (again): send connected agents on to the active replica.
            released = self.server.registry.release_all()
            if released:
                log.info("not the active replica: released %d agent(s)", len(released))
            return 0
        written = 0
        for record in self.server.registry.records():
            host = record.host
            edge_host = state.view.edge_hosts.get(host)
            if edge_host is None:
                metrics.EDGEHOST_STATUS_WRITES.labels("no-edgehost").inc()
                continue
            conditions = (edge_host.status.conditions if edge_host.status else None) or []
            status = self.server.edge_host_status(host, conditions)
            if self._written.get(host) == status:
                continue  # a lost agent's summary stops changing: no need to send it again
            try:
                found = await kube_status.write_edgehost_status(state.api, host, status)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                metrics.EDGEHOST_STATUS_WRITES.labels("failed").inc()
                log.warning("cannot write the status of EdgeHost %s: %s", host, error)
                continue
            metrics.EDGEHOST_STATUS_WRITES.labels("written" if found else "no-edgehost").inc()
            if found:
                self._written[host] = status
                written += 1
        return written
