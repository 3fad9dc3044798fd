"""A version that grows on every change, and the callbacks told of each: one copy for the agent.

The Mp1 registry and the session table both need "tell whoever watches that I changed, and
count the changes" (the link reports the host's instances and users on every change, and uses
the version as the report's generation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Versioned:
    """`version` grows by one on every `_changed()`; `watch` callbacks are called after it."""

    def __init__(self) -> None:
        self._watchers: list[Callable[[], None]] = []
        self.version = 0

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call callback() after every change; returns the undo."""
        self._watchers.append(callback)

        def remove() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return remove

    def _changed(self) -> None:
        self.version += 1
        for callback in list(self._watchers):
            try:
                callback()
            except Exception:  # a watcher's bug must not fail the change it was told of
                log.exception("watcher %r of %s failed", callback, type(self).__name__)
