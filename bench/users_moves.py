"""Cell changes for the users' benchmark: RNIS notification bodies that keep a user where it is
or move it, chosen from the true RTTs so the outcome is known before the directory decides.

A notification *stays* when its target cell's nearest host is the host serving the user (the
same best host); it *moves* when the target cell's nearest host is another one, nearer than
the serving host by more than the app's hysteresis (or the serving host is not measured from
there at all). The benchmark counts the directory's actual outcomes beside the intended ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bench.users_world import World

PLMN = {"mcc": "001", "mnc": "01"}


def notification(address: str, source_cell: str, target_cell: str) -> dict[str, Any]:
    """A CellChangeNotification as an RNIS posts it: handover completed, device by IPv4."""
    return {
        "notificationType": "CellChangeNotification",
        "timeStamp": {"seconds": 1_764_000_000, "nanoSeconds": 0},
        "associateId": [{"type": 1, "value": address}],
        "srcEcgi": {"plmn": PLMN, "cellId": source_cell},
        "trgEcgi": [{"plmn": PLMN, "cellId": target_cell}],
        "hoStatus": 3,
    }


@dataclass
class Plan:
    """Notification bodies in order, with the user each names and whether it should move."""

    bodies: list[dict[str, Any]]
    contexts: list[str]
    moves: list[bool]


class Mover:
    """Chooses target cells for users from the world's true RTTs, tracking where users are."""

    def __init__(self, world: World, hysteresis_rtt_ms: float, seed: int) -> None:
        self.world = world
        self.hysteresis = hysteresis_rtt_ms
        self.rng = random.Random(seed)  # noqa: S311 (a reproducible simulation)
        self.best_of: dict[str, list[str]] = {}
        for ap, host in sorted(world.best.items()):
            self.best_of.setdefault(host, []).append(ap)
        self.access_points = sorted(world.best)

    def stay_target(self, host: str, current_ap: str) -> str:
        """A cell whose nearest host is host (another one if there is, else the same)."""
        same = self.best_of.get(host, [])
        others = [ap for ap in same if ap != current_ap]
        return self.rng.choice(others) if others else current_ap

    def move_target(self, host: str) -> str | None:
        """A cell whose nearest host beats host by more than the hysteresis (None: none)."""
        for _ in range(64):
            ap = self.rng.choice(self.access_points)
            best = self.world.best[ap]
            if best == host:
                continue
            own = self.world.rtt(ap, host)
            best_rtt = self.world.rtt(ap, best)
            assert best_rtt is not None
            if own is None or own - best_rtt > self.hysteresis:
                return ap
        return None

    def plan(self, users: list[tuple[str, str, str, str]], count: int, move_share: float) -> Plan:
        """count notifications over users (context id, address, access point, host), in turn.

        Each notification moves its user with probability move_share, else keeps it in place;
        the users' positions are followed so later notifications start where earlier ones left.
        """
        where = {context: (ap, host) for context, _, ap, host in users}
        order = list(users)
        self.rng.shuffle(order)
        plan = Plan([], [], [])
        for i in range(count):
            context, address, _, _ = order[i % len(order)]
            ap, host = where[context]
            target = self.move_target(host) if self.rng.random() < move_share else None
            moving = target is not None
            if target is None:
                target = self.stay_target(host, ap)
            new_host = self.world.best[target] if moving else host
            where[context] = (target, new_host)
            cells = self.world.cells
            plan.bodies.append(notification(address, cells[ap], cells[target]))
            plan.contexts.append(context)
            plan.moves.append(moving)
        return plan
