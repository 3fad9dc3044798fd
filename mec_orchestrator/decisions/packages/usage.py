"""Which AppPackages' usage state must change, from the EdgeApps that reference them.

MEC 010-2's usageState is IN_USE while some app instance uses the package. The operator keeps
each package's `status.usageState` equal to that; this decides which writes are due.
"""

from __future__ import annotations

from collections.abc import Mapping

from mec_orchestrator.decisions.packages.states import usage_state
from mec_orchestrator.model import UsageState

PackageKey = tuple[str, str]
"""(namespace, name) of an AppPackage."""

AppKey = tuple[str, str]
"""(namespace, name) of an EdgeApp."""


def users_of(references: Mapping[AppKey, str]) -> dict[PackageKey, list[str]]:
    """Per package, the apps (by name, sorted) that reference it."""
    users: dict[PackageKey, list[str]] = {}
    for (namespace, app), package in sorted(references.items()):
        users.setdefault((namespace, package), []).append(app)
    return users


def usage_changes(
    recorded: Mapping[PackageKey, UsageState | None], references: Mapping[AppKey, str]
) -> dict[PackageKey, UsageState]:
    """The packages whose recorded usage state differs from what their users make it."""
    users = users_of(references)
    changes: dict[PackageKey, UsageState] = {}
    for package, current in sorted(recorded.items()):
        wanted = usage_state(users.get(package, []))
        if current is not wanted:
            changes[package] = wanted
    return changes
