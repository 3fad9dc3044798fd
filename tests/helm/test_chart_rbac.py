"""The chart grants exactly what the code declares it needs, and nothing dangerous.

The rules live next to the code (`REQUIRED_RULES`), scripts/gen_chart_rbac.py writes them into
the chart; these tests fail when the two drift apart, and when a rule would give a component
more than it should ever have (wildcards, Secrets across the cluster, escalation verbs).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import pytest
import yaml

from edge_host_agent.permissions import agent_rules
from mec_common.rbac import PolicyRule
from mec_orchestrator.operator.permissions import orchestrator_rules
from tests.helm.chart import NAMESPACE, REPO, of_kind, render

Atom = tuple[str, str, str, str, str]  # scope, group, resource, verb, resource name ("" = all)


def atoms_of_rules(rules: Iterable[PolicyRule]) -> set[Atom]:
    return {
        (rule.scope, group, resource, verb, name)
        for rule in rules
        for group in rule.api_groups
        for resource in rule.resources
        for verb in rule.verbs
        for name in rule.resource_names or ("",)
    }


def atoms_of_roles(roles: Iterable[dict[str, Any]], scope: str) -> set[Atom]:
    return {
        (scope, group, resource, verb, name)
        for role in roles
        for rule in role.get("rules") or []
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or ("",)
    }


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render()


def granted(objects: list[dict[str, Any]], component: str) -> set[Atom]:
    name = f"mec-mec-orchestrator-{component}"
    clusterroles = [r for r in of_kind(objects, "ClusterRole") if r["metadata"]["name"] == name]
    roles = [r for r in of_kind(objects, "Role") if r["metadata"]["name"] == name]
    assert all(r["metadata"]["namespace"] == NAMESPACE for r in roles)
    return atoms_of_roles(clusterroles, "cluster") | atoms_of_roles(roles, "namespace")


def test_the_chart_rbac_files_are_what_the_code_declares() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_chart_rbac.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("component", "declared"),
    [("orchestrator", orchestrator_rules), ("agent", agent_rules)],
)
def test_each_component_is_granted_exactly_its_declared_rules(
    objects: list[dict[str, Any]], component: str, declared: Any
) -> None:
    assert granted(objects, component) == atoms_of_rules(declared())


def test_the_bindings_name_the_components_own_service_accounts(
    objects: list[dict[str, Any]],
) -> None:
    accounts = {sa["metadata"]["name"] for sa in of_kind(objects, "ServiceAccount")}
    for binding in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding"):
        if "test" in binding["metadata"]["name"]:
            continue
        (subject,) = binding["subjects"]
        assert subject["kind"] == "ServiceAccount"
        assert subject["name"] in accounts
        assert subject["namespace"] == NAMESPACE
        assert binding["roleRef"]["name"] == binding["metadata"]["name"]


def test_nothing_dangerous_is_granted(objects: list[dict[str, Any]]) -> None:
    everything = granted(objects, "orchestrator") | granted(objects, "agent")
    for scope, group, resource, verb, _ in everything:
        assert "*" not in (group, resource, verb)
        assert verb not in ("escalate", "bind", "impersonate")
        if scope == "cluster":
            assert resource not in ("secrets", "serviceaccounts/token", "pods/exec"), resource
            assert not resource.startswith(("roles", "clusterroles", "rolebindings"))


@pytest.mark.parametrize(
    ("command", "declared"),
    [("mec_orchestrator.cli", orchestrator_rules), ("edge_host_agent.cli", agent_rules)],
)
def test_the_rbac_commands_print_the_same_rules_for_installs_without_helm(
    command: str, declared: Any
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", command.removesuffix(".cli"), "rbac", "--namespace", "edge"],
        capture_output=True,
        text=True,
        check=True,
    )
    documents = list(yaml.safe_load_all(done.stdout))
    roles = [d for d in documents if d["kind"] in ("ClusterRole", "Role")]
    printed = atoms_of_roles([r for r in roles if r["kind"] == "ClusterRole"], "cluster")
    printed |= atoms_of_roles([r for r in roles if r["kind"] == "Role"], "namespace")
    assert printed == atoms_of_rules(declared())
    bindings = [d for d in documents if d["kind"].endswith("Binding")]
    assert {b["subjects"][0]["namespace"] for b in bindings} == {"edge"}
