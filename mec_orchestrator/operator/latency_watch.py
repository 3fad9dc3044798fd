"""Wakes every EdgeApp when fresh latency samples change which hosts are best.

Samples arrive many times a second per pair, far too often to reconcile on each one; and what
matters to a plan is not a value but the order of hosts per access point and which budgets they
meet (`ClusterView.latency_ranking`). So once every `latency_check_seconds` the ranking is
compared with the last one, and only a change wakes the apps. EdgeHost status summaries, which
change the ranking where no agent reports to this process, are noticed the same way.
"""

from __future__ import annotations

import asyncio
import logging

from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)


async def watch_latency(state: OperatorState, period_s: float) -> None:
    """Run until cancelled: kick all apps whenever the latency ranking changed."""
    last = state.view.latency_ranking()
    while True:
        await asyncio.sleep(period_s)
        try:
            current = state.view.latency_ranking()
        except Exception:  # a bad EdgeHost or Zone must not stop the watch
            log.exception("cannot rank hosts by latency; trying again")
            continue
        if current != last:
            last = current
            metrics.LATENCY_RANKING_CHANGES.inc()
            log.debug("latency ranking changed: %s", current)
            state.kick_all()
