"""PolicyRule: the rules modules declare, as a Role spells them, split by scope."""

from __future__ import annotations

import pytest

from mec_common.rbac import PolicyRule, cluster_rules, merge_rules, namespace_rules

NODES = PolicyRule(("",), ("nodes",), ("get",), scope="cluster")
SECRET = PolicyRule(("",), ("secrets",), ("get", "create"), ("ca",), scope="namespace")


def test_a_rule_is_spelled_as_the_api_server_spells_it() -> None:
    assert NODES.as_kubernetes() == {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}
    assert SECRET.as_kubernetes()["resourceNames"] == ["ca"]


def test_rules_split_by_scope_and_merge_without_duplicates() -> None:
    rules = merge_rules((NODES, SECRET), (SECRET, NODES))
    assert rules == (NODES, SECRET)
    assert cluster_rules(rules) == (NODES,)
    assert namespace_rules(rules) == (SECRET,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_groups": (), "resources": ("x",), "verbs": ("get",)}, "API group"),
        ({"api_groups": ("",), "resources": (), "verbs": ("get",)}, "resource"),
        ({"api_groups": ("",), "resources": ("x",), "verbs": ()}, "verb"),
        ({"api_groups": ("",), "resources": ("x",), "verbs": ("gets",)}, "'gets'"),
    ],
)
def test_a_malformed_rule_is_refused_with_what_is_wrong(
    kwargs: dict[str, tuple[str, ...]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PolicyRule(**kwargs, scope="cluster")
