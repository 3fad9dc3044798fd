"""A kopf diff-base storage that records nothing and compares nothing.

The operator is level-triggered: each EdgeApp's daemon reconciles from the whole object, and the
only kopf change handler is the deletion handler, which needs no diff. kopf's default storage
would still write a `last-handled-configuration` annotation on every spec change — one more
EdgeApp write per update, each costing the API server 5-8 ms of CPU (measured on this project's
CRD, docs/benchmarks.md), for nothing — and deep-copies every body twice per watch event to
compare essences (about 8 % of the operator's CPU under load). An empty essence, both as the one
last handled and as the current one, makes kopf see no change to handle; deletion is driven by
deletionTimestamp and is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable

import kopf
from kopf._cogs.structs import bodies, dicts, patches


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    def build(
        self, *, body: bodies.Body, extra_fields: Iterable[dicts.FieldSpec] | None = None
    ) -> bodies.BodyEssence:
        return bodies.BodyEssence()

    def fetch(self, *, body: bodies.Body) -> bodies.BodyEssence | None:
        return bodies.BodyEssence()

    def store(
        self, *, body: bodies.Body, patch: patches.Patch, essence: bodies.BodyEssence
    ) -> None:
        return None
