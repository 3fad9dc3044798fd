"""Putting an emulated UE behind an access point, and moving it to another.

In the emulated network every node is a namespace on one delay-line switch, so a UE is a node
like any other; what makes it "behind access point A" is that its packets take A's paths. An
attachment therefore sets, for each peer, the UE's link to the peer to A's link to that peer
plus the radio hop (one way, both directions), and the same towards the root namespace (where
the orchestrator runs). Moving is attaching again behind another access point: the next frame
takes the new delays, frames already in the switch keep theirs.

The access point's own links are read from the switch (`Network.link`), so whoever set them
(a test, the demo's latency model) stays the only writer; jitter and loss are copied too.
"""

from __future__ import annotations

from collections.abc import Iterable

from mec_devtools.sim.network import Network, Node


def attach(
    net: Network,
    ue: Node | str,
    ap: Node | str,
    peers: Iterable[Node | str],
    radio_one_way_ms: float = 1.0,
) -> dict[str, float]:
    """Make ue's paths to peers (and to the root namespace) those of ap plus the radio hop.

    Returns the one-way delay set towards each peer, by node name. A peer that is the access
    point itself gets the radio hop alone.
    """
    if radio_one_way_ms < 0:
        raise ValueError("radio_one_way_ms is 0 or more")
    ue_node, ap_node = net.node(ue), net.node(ap)
    if ue_node.name == ap_node.name:
        raise ValueError("a UE is not its own access point")
    targets = {net.node(p).name: net.node(p) for p in peers}
    targets[net.root.name] = net.root
    targets.pop(ue_node.name, None)
    applied: dict[str, float] = {}
    for name, peer in targets.items():
        if name == ap_node.name:
            delay, jitter, loss = radio_one_way_ms, 0.0, 0.0
        else:
            link = net.link(ap_node, peer)
            delay = link["delay_ms"] + radio_one_way_ms
            jitter, loss = link["jitter_ms"], link["loss"]
        net.set_delay(ue_node, peer, delay, jitter_ms=jitter, loss=loss)
        applied[name] = delay
    return applied
