"""Every RBAC rule the edge-host agent needs, gathered from the modules that need them.

The Helm chart's agent ClusterRole and Role grant exactly this set (checked by
tests/helm/test_rbac.py against the rendered chart, see scripts/gen_chart_rbac.py).
"""

from __future__ import annotations

from edge_host_agent import bootstrap_kube
from mec_common.rbac import PolicyRule, merge_rules

NODE_RULES: tuple[PolicyRule, ...] = (PolicyRule(("",), ("nodes",), ("get",), scope="cluster"),)
"""The agent reads its own node to learn the edge host's name (the node's edge-host label,
`KubeCertificates.node_label`)."""


def agent_rules() -> tuple[PolicyRule, ...]:
    """The agent's rules, duplicates dropped."""
    return merge_rules(NODE_RULES, bootstrap_kube.REQUIRED_RULES)
