"""RBAC rules declared next to the code that needs them.

A module that calls the API server declares what it calls as a module-level constant,
`REQUIRED_RULES: tuple[PolicyRule, ...]`, so the permissions a deployment grants (the Helm
chart's Roles and ClusterRoles) are derived from the code rather than kept apart from it, and a
test can run that code as a ServiceAccount holding exactly those rules.

A rule is either cluster-scoped (it goes into a ClusterRole bound with a ClusterRoleBinding:
cluster-scoped resources such as nodes or CertificateSigningRequests, or non-namespaced
subresources like `signers`) or namespaced (it goes into a Role in the component's own
namespace: its Secrets and ConfigMaps). `as_kubernetes` gives the rule as the API server spells
it in a Role or ClusterRole; `cluster_rules` and `namespace_rules` split a set of rules by scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["cluster", "namespace"]
"""Where a rule is granted: a ClusterRole (`cluster`) or a Role in the component's namespace."""

VERBS = frozenset(
    {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "approve",
        "sign",
        "bind",
        "escalate",
        "impersonate",
        "use",
        "*",
    }
)
"""The verbs a rule may name (Kubernetes' resource verbs and the special ones)."""


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule: what verbs on which resources of which API groups, where.

    `api_groups` uses "" for the core group; `resources` may name a subresource as
    `resource/subresource`; `resource_names` empty means every object of the resources.
    `scope` must be given (keyword): a rule's place is never guessed.
    """

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    scope: Scope = field(kw_only=True)

    def __post_init__(self) -> None:
        if not self.api_groups:
            raise ValueError("a PolicyRule needs at least one API group ('' is the core group)")
        if not self.resources:
            raise ValueError("a PolicyRule needs at least one resource")
        if not self.verbs:
            raise ValueError("a PolicyRule needs at least one verb")
        unknown = sorted(set(self.verbs) - VERBS)
        if unknown:
            raise ValueError(f"unknown RBAC verb(s) {unknown}; known: {sorted(VERBS)}")
        if self.scope not in ("cluster", "namespace"):
            raise ValueError(f"scope must be 'cluster' or 'namespace', not {self.scope!r}")

    def as_kubernetes(self) -> dict[str, list[str]]:
        """The rule as a Role or ClusterRole spells it (`apiGroups`, `resources`, ...)."""
        rule = {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule


def cluster_rules(rules: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """The rules that go into a ClusterRole."""
    return tuple(rule for rule in rules if rule.scope == "cluster")


def namespace_rules(rules: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """The rules that go into a Role in the component's own namespace."""
    return tuple(rule for rule in rules if rule.scope == "namespace")


def merge_rules(*groups: Iterable[PolicyRule]) -> tuple[PolicyRule, ...]:
    """Several modules' rules as one tuple, duplicates dropped, first occurrence first."""
    seen: dict[PolicyRule, None] = {}
    for group in groups:
        for rule in group:
            seen.setdefault(rule, None)
    return tuple(seen)


def role_documents(
    name: str, namespace: str, service_account: str, rules: Iterable[PolicyRule]
) -> list[dict[str, object]]:
    """A ClusterRole and a Role (each with its binding to service_account) granting rules.

    What `mec-orchestrator rbac` and `edge-host-agent rbac` print for an installation without
    the Helm chart; a kind with no rules is left out.
    """
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]
    documents: list[dict[str, object]] = []
    for kind, binding_kind, chosen in (
        ("ClusterRole", "ClusterRoleBinding", cluster_rules(rules)),
        ("Role", "RoleBinding", namespace_rules(rules)),
    ):
        if not chosen:
            continue
        metadata: dict[str, str] = {"name": name}
        if kind == "Role":
            metadata["namespace"] = namespace
        api_version = "rbac.authorization.k8s.io/v1"
        documents.append(
            {
                "apiVersion": api_version,
                "kind": kind,
                "metadata": metadata,
                "rules": [rule.as_kubernetes() for rule in chosen],
            }
        )
        documents.append(
            {
                "apiVersion": api_version,
                "kind": binding_kind,
                "metadata": dict(metadata),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name},
                "subjects": subject,
            }
        )
    return documents
