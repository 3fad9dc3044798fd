"""Per-user contexts of one app instance: bytes, versions, change tracking, fences. No I/O.

Each user's state is opaque bytes (the app serialises its own record) with a version that grows
by one with every update the store applies. The store is the single source of the rules a
handover relies on; the gRPC service (`mec_app_sdk.contexts.service`) only moves its bytes:

- `update` applies an app's change to a user's bytes and bumps the version; a *fenced* user (an
  export is under way) or a user who *moved* away (released after a handover) is refused with
  `MovedError`, which carries where the user's writes go now.
- `export` fences the user and returns the snapshot the export streams; the fence's bytes and
  version do not change until it is lifted (`unfence`) or the context is dropped (`release`).
- `import_context` installs a snapshot exported elsewhere, bytes and version exactly.
- `changes_since(user, n)` answers what changed after version n as a `Delta` (a splice of the
  tail from the first byte any later update touched), so a future handover can pre-copy the
  bulk while the source still serves and send only the delta under the fence; `apply_delta`
  installs one on a copy at the delta's base version. The proto exports whole contexts today.

Every handover call is idempotent by handover id: the store remembers (bounded) what each
handover did, and repeating a call answers the same without changing anything. Calls are
synchronous and the store is meant for one event loop, so each call is atomic.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

DEFAULT_HISTORY = 256
"""How many versions of change tracking a user keeps (an older base gets the whole context)."""
DEFAULT_REMEMBERED = 4096
"""How many handovers and moved users the store remembers for idempotency and redirects."""


class ContextError(Exception):
    """A handover call the store refuses; `kind` says which (the service maps it to a code)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ErrorKind(Enum):
    UNKNOWN_USER = "unknown-user"
    """No context for the user here (NOT_FOUND)."""
    CONFLICT = "conflict"
    """Another handover holds the user (ABORTED: retry once that one ends)."""
    PRECONDITION = "precondition"
    """The call does not fit the user's state here (FAILED_PRECONDITION)."""
    INVALID = "invalid"
    """A malformed argument (INVALID_ARGUMENT)."""
    COMMITTED = "committed"
    """The handover's copy is committed (served) here: it cannot be dropped (ALREADY_EXISTS)."""


class MovedError(Exception):
    """A write for a user this instance does not serve now; retry at `redirect` (None: unknown)."""

    def __init__(self, user_id: str, redirect: str | None) -> None:
        super().__init__(f"user {user_id} moved, retry at {redirect or 'an unknown endpoint'}")
        self.user_id = user_id
        self.redirect = redirect


@dataclass(frozen=True)
class Snapshot:
    """A user's context at one version."""

    user_id: str
    data: bytes
    version: int
    content_type: str = "application/octet-stream"

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


@dataclass(frozen=True)
class Delta:
    """What changed from `base_version` to `version`: a splice.

    The copy at `base_version` keeps its first `offset` bytes and its last `suffix` bytes, and
    `tail` replaces what is between; the result is the context at `version`. A record that
    changes in a few places (a header) and keeps the rest (padding, unchanged data) moves as a
    few bytes, however large it is.
    """

    user_id: str
    base_version: int
    version: int
    offset: int
    tail: bytes
    suffix: int = 0

    def applied_to(self, data: bytes) -> bytes:
        if self.offset + self.suffix > len(data):
            raise ValueError("the delta does not fit the copy it is applied to")
        kept = data[len(data) - self.suffix :] if self.suffix else b""
        return data[: self.offset] + self.tail + kept


@dataclass(frozen=True)
class Fence:
    handover_id: str
    redirect: str


@dataclass(frozen=True)
class Applied:
    """The outcome of `update`: the user's version, and whether this call changed it."""

    version: int
    applied: bool


@dataclass
class _Entry:
    data: bytes
    version: int
    content_type: str
    fence: Fence | None = None
    imported_by: str | None = None
    staged: bool = False  # imported by a handover not committed yet: not served
    # (version, first changed byte, unchanged bytes at the end) per update, oldest first, bounded.
    changes: deque[tuple[int, int, int]] = field(default_factory=deque)


_GALLOP_FIRST = 4096


def _first_difference(old: bytes, new: bytes) -> int:
    """Length of the common prefix of old and new.

    Galloping: equal runs are compared as bytes (one memcmp each) in doubling steps, then the
    step that differs is bisected — linear in the common prefix, not in the context's size.
    """
    limit = min(len(old), len(new))
    low, step = 0, _GALLOP_FIRST  # old[:low] == new[:low]
    while low < limit:
        high = min(low + step, limit)
        if old[low:high] != new[low:high]:
            while high - low > 1:  # old[:low] equal, old[:high] not
                middle = (low + high) // 2
                if old[low:middle] == new[low:middle]:
                    low = middle
                else:
                    high = middle
            return low
        low, step = high, step * 2
    return limit


def _common_suffix(old: bytes, new: bytes, prefix: int) -> int:
    """Length of the common suffix of old and new that does not overlap the common prefix."""
    limit = min(len(old), len(new)) - prefix
    if limit <= 0:
        return 0
    end_old, end_new = len(old), len(new)
    low, step = 0, _GALLOP_FIRST  # the last low bytes agree
    while low < limit:
        high = min(low + step, limit)
        if old[end_old - high : end_old - low] != new[end_new - high : end_new - low]:
            while high - low > 1:  # the last low bytes agree, the last high do not
                middle = (low + high) // 2
                if old[end_old - middle : end_old - low] == new[end_new - middle : end_new - low]:
                    low = middle
                else:
                    high = middle
            return low
        low, step = high, step * 2
    return limit


def _change(old: bytes, new: bytes) -> tuple[int, int]:
    """(common prefix, common suffix) of an update: the bytes it changed are between."""
    first = _first_difference(old, new)
    return first, _common_suffix(old, new, first)


class ContextStore:
    """The contexts of one app instance (see the module for the rules)."""

    def __init__(
        self,
        *,
        content_type: str = "application/octet-stream",
        history: int = DEFAULT_HISTORY,
        remembered: int = DEFAULT_REMEMBERED,
        admission_required: bool = False,
    ) -> None:
        """A store; admission_required: serve only users admitted with `serve`.

        Otherwise any user who writes first is served. An instance with an agent runs with
        admission: the orchestrator decides who is served where, and a device that comes to
        the wrong instance is told so.
        """
        self.content_type = content_type
        self.admission_required = admission_required
        self._admitted: set[str] = set()
        self._history = history
        self._remembered = remembered
        self._entries: dict[str, _Entry] = {}
        self._moved: OrderedDict[str, str | None] = OrderedDict()  # user -> redirect
        # (handover id, user, call) -> the answer it gave, so a repeat gives it again
        self._done: OrderedDict[tuple[str, str, str], object] = OrderedDict()

    # ---- the app's side ---------------------------------------------------------------------

    def users(self) -> list[str]:
        return sorted(self._entries)

    def get(self, user_id: str) -> Snapshot | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        return Snapshot(user_id, entry.data, entry.version, entry.content_type)

    def fence_of(self, user_id: str) -> Fence | None:
        entry = self._entries.get(user_id)
        return None if entry is None else entry.fence

    def redirect_for(self, user_id: str) -> str | None:
        """Where a refused write goes: the fence's or the move's redirect."""
        entry = self._entries.get(user_id)
        if entry is not None and entry.fence is not None:
            return entry.fence.redirect
        return self._moved.get(user_id)

    def serves(self, user_id: str) -> bool:
        """True when writes for the user are applied here (held unfenced, or not moved away)."""
        entry = self._entries.get(user_id)
        if entry is None:
            return user_id not in self._moved and (
                not self.admission_required or user_id in self._admitted
            )
        return entry.fence is None and not entry.staged

    def update(self, user_id: str, change: Callable[[bytes | None], bytes | None]) -> Applied:
        """Apply change(current bytes, None for a new user) -> new bytes, or None for no change.

        Raises `MovedError` for a fenced or moved user; change is not called then.
        """
        entry = self._entries.get(user_id)
        if entry is None and user_id in self._moved:
            raise MovedError(user_id, self._moved[user_id])
        if entry is not None and entry.fence is not None:
            raise MovedError(user_id, entry.fence.redirect)
        if entry is not None and entry.staged:
            raise MovedError(user_id, None)  # a handover brings it here, not committed yet
        if entry is None and self.admission_required and user_id not in self._admitted:
            raise MovedError(user_id, None)
        new = change(None if entry is None else entry.data)
        if new is None:
            return Applied(0 if entry is None else entry.version, applied=False)
        if entry is None:
            entry = _Entry(b"", 0, self.content_type)
            self._entries[user_id] = entry
        first, suffix = _change(entry.data, new)
        entry.version += 1
        entry.data = bytes(new)
        entry.changes.append((entry.version, first, suffix))
        while len(entry.changes) > self._history:
            entry.changes.popleft()
        return Applied(entry.version, applied=True)

    # ---- change tracking --------------------------------------------------------------------

    def changes_since(self, user_id: str, version: int) -> Delta:
        """What changed after `version` (0: the whole context); works fenced or not."""
        entry = self._require(user_id)
        if version < 0 or version > entry.version:
            raise ContextError(
                ErrorKind.INVALID, f"user {user_id} is at version {entry.version}, not {version}"
            )
        if version == entry.version:
            return Delta(user_id, version, version, len(entry.data), b"")
        tracked = entry.changes[0][0] if entry.changes else entry.version + 1
        if version == 0 or version + 1 < tracked:
            # Not tracked that far back: the whole context.
            return Delta(user_id, 0 if version == 0 else version, entry.version, 0, entry.data)
        later = [(first, suffix) for v, first, suffix in entry.changes if v > version]
        offset = min(first for first, _ in later)
        suffix = min(kept for _, kept in later)
        end = len(entry.data) - suffix
        return Delta(user_id, version, entry.version, offset, entry.data[offset:end], suffix)

    def apply_delta(self, delta: Delta) -> int:
        """Bring an imported copy at `delta.base_version` to `delta.version`; returns it."""
        entry = self._require(delta.user_id)
        if entry.version == delta.version and delta.base_version <= entry.version:
            return entry.version  # already applied
        if entry.version != delta.base_version:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"user {delta.user_id} is at version {entry.version}, the delta applies to "
                f"version {delta.base_version}",
            )
        try:
            new = delta.applied_to(entry.data)
        except ValueError:
            raise ContextError(
                ErrorKind.INVALID, "the delta does not fit the context (offset and suffix)"
            ) from None
        entry.changes.append((delta.version, *_change(entry.data, new)))
        entry.data, entry.version = new, delta.version
        return entry.version

    # ---- handover calls (idempotent by handover id) -----------------------------------------

    def export(self, handover_id: str, user_id: str, redirect: str) -> Snapshot:
        """Fence the user for this handover and return the context the export carries."""
        self._check_ids(handover_id, user_id)
        entry = self._entries.get(user_id)
        ended = {(handover_id, user_id, "release"), (handover_id, user_id, "unfence")}
        if ended & self._done.keys():
            raise ContextError(
                ErrorKind.PRECONDITION, f"handover {handover_id} of user {user_id} already ended"
            )
        if entry is None:
            raise ContextError(ErrorKind.UNKNOWN_USER, f"no context for user {user_id}")
        if entry.fence is not None and entry.fence.handover_id != handover_id:
            raise ContextError(
                ErrorKind.CONFLICT,
                f"user {user_id} is being handed over by {entry.fence.handover_id}",
            )
        if entry.fence is None:
            entry.fence = Fence(handover_id, redirect)
        return Snapshot(user_id, entry.data, entry.version, entry.content_type)

    def export_delta(
        self, handover_id: str, user_id: str, since_version: int, *, fence: bool, redirect: str
    ) -> Delta:
        """What changed after since_version (0: all), for this handover; fence it if asked.

        Pre-copy rounds export unfenced (the user keeps being served); the last round fences,
        so nothing changes after it. Repeating a fenced round returns what is still held.
        """
        self._check_ids(handover_id, user_id)
        ended = {(handover_id, user_id, "release"), (handover_id, user_id, "unfence")}
        if ended & self._done.keys():
            raise ContextError(
                ErrorKind.PRECONDITION, f"handover {handover_id} of user {user_id} already ended"
            )
        entry = self._entries.get(user_id)
        if entry is None:
            raise ContextError(ErrorKind.UNKNOWN_USER, f"no context for user {user_id}")
        if entry.staged:
            raise ContextError(
                ErrorKind.PRECONDITION, f"user {user_id} is not served here yet (staged)"
            )
        if entry.fence is not None and entry.fence.handover_id != handover_id:
            raise ContextError(
                ErrorKind.CONFLICT,
                f"user {user_id} is being handed over by {entry.fence.handover_id}",
            )
        if since_version < 0 or since_version > entry.version:
            raise ContextError(
                ErrorKind.INVALID,
                f"user {user_id} is at version {entry.version}, not past {since_version}",
            )
        if fence and entry.fence is None:
            entry.fence = Fence(handover_id, redirect)
        return self.changes_since(user_id, since_version)

    def import_delta(
        self, handover_id: str, delta: Delta, content_type: str = "application/octet-stream"
    ) -> int:
        """Stage a handover's copy of a user's context (base 0), or bring it up to date.

        The copy is not served until `serve` commits it. Repeats are acknowledged without
        applying anything twice; returns the version held.
        """
        user_id = delta.user_id
        self._check_ids(handover_id, user_id)
        entry = self._entries.get(user_id)
        if delta.base_version != 0:
            if entry is None or entry.imported_by != handover_id:
                raise ContextError(
                    ErrorKind.PRECONDITION,
                    f"no copy of user {user_id} from handover {handover_id} to apply a delta to",
                )
            return self.apply_delta(delta)
        if entry is not None and entry.imported_by == handover_id:
            if entry.version == delta.version and entry.data == delta.tail:
                return entry.version  # a repeat
            if not entry.staged:
                raise ContextError(
                    ErrorKind.PRECONDITION,
                    f"user {user_id} was committed here by handover {handover_id}",
                )
        elif (handover_id, user_id, "import") in self._done or (
            handover_id,
            user_id,
            "release",
        ) in self._done:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"handover {handover_id} of user {user_id} was released here",
            )
        elif entry is not None:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"this instance holds a context for user {user_id} (version {entry.version}); "
                "release it first",
            )
        if delta.version < 1:
            raise ContextError(ErrorKind.INVALID, "an imported context has a version of 1 or more")
        if delta.offset != 0:
            raise ContextError(ErrorKind.INVALID, "a whole context starts at offset 0")
        entry = _Entry(delta.tail, delta.version, content_type, staged=True)
        entry.imported_by = handover_id
        self._entries[user_id] = entry
        self._moved.pop(user_id, None)
        self._remember((handover_id, user_id, "import"), delta.version)
        return entry.version

    def import_context(self, handover_id: str, snapshot: Snapshot) -> int:
        """Install an exported context (bytes and version exactly); returns the version held."""
        user_id = snapshot.user_id
        self._check_ids(handover_id, user_id)
        entry = self._entries.get(user_id)
        if entry is not None and entry.imported_by == handover_id:
            return entry.version  # a repeat: acknowledged, not applied twice
        if (handover_id, user_id, "import") in self._done:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"handover {handover_id} of user {user_id} was imported and released here",
            )
        if entry is not None:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"this instance holds a context for user {user_id} (version {entry.version}); "
                "release it first",
            )
        if snapshot.version < 1:
            raise ContextError(ErrorKind.INVALID, "an imported context has a version of 1 or more")
        entry = _Entry(snapshot.data, snapshot.version, snapshot.content_type, staged=True)
        entry.imported_by = handover_id
        self._entries[user_id] = entry
        self._moved.pop(user_id, None)
        self._remember((handover_id, user_id, "import"), snapshot.version)
        return entry.version

    def release(
        self,
        handover_id: str,
        user_id: str,
        redirect: str | None = None,
        *,
        only_staged: bool = False,
    ) -> bool:
        """Drop the user's context (source after a commit, target after an abort).

        False when nothing was held. The context must be this handover's (fenced by its export
        or installed by its import); a user who moved away is remembered with the fence's
        redirect (or `redirect`, for a target's copy dropped by an abort: back to the source),
        so the app can tell the user where to go. With `only_staged`, a copy this handover
        already committed is kept (COMMITTED). A handover released here imports nothing more.
        """
        self._check_ids(handover_id, user_id)
        key = (handover_id, user_id, "release")
        if key in self._done:
            return bool(self._done[key])
        entry = self._entries.get(user_id)
        if entry is None:
            if redirect is not None:  # an abort at the target: a device that came early goes back
                self._remember_move(user_id, redirect)
                self._remember(key, False)
            return False
        if entry.fence is not None and entry.fence.handover_id != handover_id:
            raise ContextError(
                ErrorKind.CONFLICT,
                f"user {user_id} is being handed over by {entry.fence.handover_id}",
            )
        if entry.fence is None and entry.imported_by != handover_id:
            raise ContextError(
                ErrorKind.PRECONDITION,
                f"user {user_id} is served here and not part of handover {handover_id}",
            )
        if only_staged and entry.fence is None and not entry.staged:
            raise ContextError(
                ErrorKind.COMMITTED,
                f"handover {handover_id} of user {user_id} is committed here (served)",
            )
        del self._entries[user_id]
        self._admitted.discard(user_id)
        moved_to = entry.fence.redirect if entry.fence is not None else redirect
        if entry.fence is not None or redirect is not None:
            self._remember_move(user_id, moved_to)
        self._remember(key, True)
        return True

    def _remember_move(self, user_id: str, redirect: str | None) -> None:
        self._moved[user_id] = redirect
        self._moved.move_to_end(user_id)
        while len(self._moved) > self._remembered:
            self._moved.popitem(last=False)

    def serve(self, user_id: str, expected_version: int = 0) -> int:
        """The orchestrator admitted the user here: serve it (again); returns its version.

        Forgets a redirect left by an earlier move away, so a user who comes back is served,
        and commits a handover's staged copy. With expected_version, the copy must be at that
        version, else nothing changes (PRECONDITION: the copy was lost or is not the one sent).
        """
        if not user_id:
            raise ContextError(ErrorKind.INVALID, "user_id is required")
        if expected_version:
            held = self._entries.get(user_id)
            if held is None or held.version != expected_version:
                raise ContextError(
                    ErrorKind.PRECONDITION,
                    f"user {user_id} is at version {held.version if held else 'none'} here, "
                    f"not {expected_version}",
                )
        self._moved.pop(user_id, None)
        self._admitted.add(user_id)
        entry = self._entries.get(user_id)
        if entry is None:
            return 0
        entry.staged = False  # a handover's copy: committed, served from now on
        return entry.version

    def stop_serving(self, user_id: str, redirect: str | None) -> bool:
        """The user is no longer served here, outside any handover (it left, or moved on).

        Drops the user's context and remembers the redirect for its later requests; False when
        nothing was held. A user fenced by a handover belongs to that handover (CONFLICT).
        """
        if not user_id:
            raise ContextError(ErrorKind.INVALID, "user_id is required")
        entry = self._entries.get(user_id)
        if entry is not None and entry.fence is not None:
            raise ContextError(
                ErrorKind.CONFLICT,
                f"user {user_id} is being handed over by {entry.fence.handover_id}",
            )
        self._entries.pop(user_id, None)
        self._admitted.discard(user_id)
        self._moved[user_id] = redirect or None
        self._moved.move_to_end(user_id)
        while len(self._moved) > self._remembered:
            self._moved.popitem(last=False)
        return entry is not None

    def unfence(self, handover_id: str, user_id: str) -> int:
        """Lift this handover's fence (an aborted handover); returns the unchanged version."""
        self._check_ids(handover_id, user_id)
        entry = self._entries.get(user_id)
        if entry is None:
            raise ContextError(ErrorKind.UNKNOWN_USER, f"no context for user {user_id}")
        if entry.fence is not None and entry.fence.handover_id != handover_id:
            raise ContextError(
                ErrorKind.CONFLICT,
                f"user {user_id} is fenced by handover {entry.fence.handover_id}",
            )
        entry.fence = None  # not fenced (never, or already lifted): nothing to do
        self._remember((handover_id, user_id, "unfence"), entry.version)
        return entry.version

    # ---- helpers ----------------------------------------------------------------------------

    def _require(self, user_id: str) -> _Entry:
        entry = self._entries.get(user_id)
        if entry is None:
            raise ContextError(ErrorKind.UNKNOWN_USER, f"no context for user {user_id}")
        return entry

    @staticmethod
    def _check_ids(handover_id: str, user_id: str) -> None:
        if not handover_id:
            raise ContextError(ErrorKind.INVALID, "handover_id is required")
        if not user_id:
            raise ContextError(ErrorKind.INVALID, "user_id is required")

    def _remember(self, key: tuple[str, str, str], answer: object) -> None:
        self._done[key] = answer
        self._done.move_to_end(key)
        while len(self._done) > self._remembered:
            self._done.popitem(last=False)
