"""The one place that touches kopf beyond its documented API, and why.

- `PeeringIdentity`: `kopf.operator(identity=...)` is typed with a NewType that kopf does not
  export; it is imported from kopf's private module here, and only here (an import contract
  forbids `kopf._*` everywhere else).
- `NoDiffBaseStorage`, a diff-base storage that records nothing and compares nothing (built on
  kopf's public classes only).

Why no diff base: the operator is level-triggered: each EdgeApp's daemon reconciles from the whole
object, and the only kopf change handler is the deletion handler, which needs no diff. kopf's
default storage would still write a `last-handled-configuration` annotation on every spec change —
one more EdgeApp write per update, each costing the API server 5-8 ms of CPU (measured on this
project's CRD, docs/benchmarks.md), for nothing — and deep-copies every body twice per watch event
to compare essences (about 8 % of the operator's CPU under load). An empty essence, both as the one
last handled and as the current one, makes kopf see no change to handle; deletion is driven by
deletionTimestamp and is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable

import kopf
from kopf._core.engines.peering import Identity as PeeringIdentity

__all__ = ["NoDiffBaseStorage", "PeeringIdentity"]


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None
