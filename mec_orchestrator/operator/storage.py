"""A kopf diff-base storage that records nothing.

The operator is level-triggered: each EdgeApp's daemon reconciles from the whole object, and the
only kopf change handler is the deletion handler, which needs no diff. kopf's default storage
would still write a `last-handled-configuration` annotation on every spec change — one more
EdgeApp write per update, each costing the API server ~13 ms of CPU (measured on this project's
CRD), for nothing. Reporting the current essence as already handled makes kopf see no change
to handle and skip that write; deletion is driven by deletionTimestamp and is unaffected.
"""

from __future__ import annotations

import kopf
from kopf._cogs.structs import bodies, patches


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    def fetch(self, *, body: bodies.Body) -> bodies.BodyEssence | None:
        return self.build(body=body)

    def store(
        self, *, body: bodies.Body, patch: patches.Patch, essence: bodies.BodyEssence
    ) -> None:
        return None
