"""Every RBAC rule the orchestrator needs, gathered from the modules that need them.

Each module that calls the API server declares its rules next to its calls (`REQUIRED_RULES`,
`mec_common.rbac`); this module adds what kopf's watches need (the handlers in handlers.py and
the indexes) and joins them. The Helm chart's ClusterRole and Role must grant exactly this set:
tests/helm/test_rbac.py renders the chart and compares, so a rule added to the code without the
chart (or left in the chart after the code stopped needing it) fails the tests.
"""

from __future__ import annotations

from mec_common.rbac import PolicyRule, merge_rules
from mec_orchestrator.adapters.kube import (
    auth,
    certificates,
    edgeapps,
    events,
    instances,
    lcm_ops,
    location,
    packages,
    peering,
    status,
    subscriptions,
)
from mec_orchestrator.model import GROUP

WATCH = ("get", "list", "watch")

HANDLER_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(("",), ("nodes",), WATCH, scope="cluster"),
    PolicyRule((GROUP,), ("edgehosts",), WATCH, scope="cluster"),
    PolicyRule((GROUP,), ("zones",), WATCH, scope="cluster"),
    PolicyRule((GROUP,), ("apppackages",), WATCH, scope="cluster"),
    PolicyRule((GROUP,), ("edgeapps",), WATCH, scope="cluster"),
    PolicyRule(("apps",), ("deployments",), WATCH, scope="cluster"),
    # kopf watches the CRDs to learn when the resources it serves appear or change.
    PolicyRule(("apiextensions.k8s.io",), ("customresourcedefinitions",), WATCH, scope="cluster"),
)
"""What kopf's handlers, daemons and indexes watch (operator/handlers.py)."""


def orchestrator_rules() -> tuple[PolicyRule, ...]:
    """The orchestrator's rules: the adapters' and the handlers', duplicates dropped."""
    return merge_rules(
        auth.REQUIRED_RULES,
        certificates.REQUIRED_RULES,
        edgeapps.REQUIRED_RULES,
        events.REQUIRED_RULES,
        instances.REQUIRED_RULES,
        lcm_ops.REQUIRED_RULES,
        location.REQUIRED_RULES,
        packages.REQUIRED_RULES,
        peering.REQUIRED_RULES,
        status.REQUIRED_RULES,
        subscriptions.REQUIRED_RULES,
        HANDLER_RULES,
    )
