"""The context store's rules (mec_app_sdk.contexts.store), as examples and as properties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mec_app_sdk.contexts.store import (
    ContextError,
    ContextStore,
    Delta,
    ErrorKind,
    MovedError,
    Snapshot,
    _change,
)
from mec_app_sdk.contexts.transfer import (
    Assembler,
    TransferError,
    TransferFault,
    chunks,
)

USERS = ("ann", "bob")
HANDOVERS = ("h1", "h2")
contents = st.binary(max_size=64)


def put(data: bytes) -> Callable[[bytes | None], bytes]:
    return lambda _current: data


def fill(store: ContextStore, user: str, versions: list[bytes]) -> None:
    for data in versions:
        store.update(user, put(data))


def test_a_write_bumps_the_version_and_no_change_keeps_it() -> None:
    store = ContextStore()
    assert store.update("ann", put(b"a")).version == 1
    assert store.update("ann", put(b"b")).version == 2
    unchanged = store.update("ann", lambda _current: None)
    assert (unchanged.version, unchanged.applied) == (2, False)
    assert store.get("ann") == Snapshot("ann", b"b", 2)


def test_a_fenced_user_is_refused_with_the_redirect_and_unfence_readmits() -> None:
    store = ContextStore()
    fill(store, "ann", [b"x"])
    store.export("h1", "ann", "target:80")
    with pytest.raises(MovedError) as refused:
        store.update("ann", put(b"y"))
    assert refused.value.redirect == "target:80"
    assert "retry at target:80" in str(refused.value)
    assert store.unfence("h1", "ann") == 1
    assert store.update("ann", put(b"y")).version == 2


def test_a_released_user_is_redirected_and_may_come_back() -> None:
    source, target = ContextStore(), ContextStore()
    fill(source, "ann", [b"x", b"y"])
    snapshot = source.export("h1", "ann", "target:80")
    assert target.import_context("h1", snapshot) == 2
    assert not target.serves("ann")  # staged until the handover commits
    with pytest.raises(MovedError):
        target.update("ann", put(b"early"))
    assert target.serve("ann") == 2
    assert source.release("h1", "ann") is True
    assert not source.serves("ann")
    assert source.redirect_for("ann") == "target:80"
    with pytest.raises(MovedError):
        source.update("ann", put(b"z"))
    target.update("ann", put(b"z"))
    back = target.export("h2", "ann", "source:80")
    assert source.import_context("h2", back) == 3
    source.serve("ann")
    assert source.serves("ann")


def test_a_user_no_longer_served_here_is_redirected_until_served_again() -> None:
    store = ContextStore()
    fill(store, "ann", [b"x"])
    assert store.stop_serving("ann", "http://other:8080") is True
    assert store.get("ann") is None
    with pytest.raises(MovedError) as refused:
        store.update("ann", put(b"y"))
    assert refused.value.redirect == "http://other:8080"
    assert store.stop_serving("ann", None) is False  # nothing held any more: still redirected
    assert store.redirect_for("ann") is None
    assert store.serve("ann") == 0
    assert store.update("ann", put(b"z")).version == 1  # served again, from a fresh context


def test_a_user_in_a_handover_cannot_be_dropped_outside_it() -> None:
    store = ContextStore()
    fill(store, "ann", [b"x"])
    store.export("h1", "ann", "target:80")
    with pytest.raises(ContextError) as conflict:
        store.stop_serving("ann", None)
    assert conflict.value.kind is ErrorKind.CONFLICT
    assert store.fence_of("ann") is not None  # the handover's fence is untouched
    with pytest.raises(ContextError) as invalid:
        store.serve("")
    assert invalid.value.kind is ErrorKind.INVALID


def test_handover_calls_that_do_not_fit_are_refused_by_kind() -> None:
    store = ContextStore()
    with pytest.raises(ContextError) as unknown:
        store.export("h1", "nobody", "t")
    assert unknown.value.kind is ErrorKind.UNKNOWN_USER
    fill(store, "ann", [b"x"])
    store.export("h1", "ann", "t")
    with pytest.raises(ContextError) as other:
        store.export("h2", "ann", "t")
    assert other.value.kind is ErrorKind.CONFLICT
    with pytest.raises(ContextError) as held:
        store.import_context("h3", Snapshot("ann", b"y", 5))
    assert held.value.kind is ErrorKind.PRECONDITION
    store.unfence("h1", "ann")
    with pytest.raises(ContextError) as ended:
        store.export("h1", "ann", "t")
    assert ended.value.kind is ErrorKind.PRECONDITION
    with pytest.raises(ContextError) as serving:
        store.release("h9", "ann")
    assert serving.value.kind is ErrorKind.PRECONDITION
    with pytest.raises(ContextError) as blank:
        store.export("", "ann", "t")
    assert blank.value.kind is ErrorKind.INVALID
    assert store.release("h1", "nobody") is False


@settings(max_examples=200, deadline=None)
@given(versions=st.lists(contents, min_size=1, max_size=8), chunk=st.integers(1, 70))
def test_export_then_import_elsewhere_reproduces_state_and_version(
    versions: list[bytes], chunk: int
) -> None:
    source, target = ContextStore(), ContextStore()
    fill(source, "ann", versions)
    snapshot = source.export("h1", "ann", "target")
    pieces = Assembler("ann", len(snapshot.data), snapshot.version, snapshot.content_type)
    for offset, data in chunks(snapshot.data, chunk):
        pieces.chunk(offset, data)
    moved = pieces.trailer(snapshot.sha256)
    assert target.import_context("h1", moved) == len(versions)
    assert target.get("ann") == source.get("ann") == Snapshot("ann", versions[-1], len(versions))


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(contents, min_size=1, max_size=6),
    after=st.lists(contents, max_size=6),
    history=st.integers(1, 8),
)
def test_a_pre_copy_plus_the_delta_gives_the_final_context(
    before: list[bytes], after: list[bytes], history: int
) -> None:
    source, target = ContextStore(history=history), ContextStore()
    fill(source, "ann", before)
    bulk = source.get("ann")
    assert bulk is not None
    target.import_context("pre", bulk)  # pre-copied while the source still serves
    fill(source, "ann", after)
    final = source.export("h1", "ann", "target")
    delta = source.changes_since("ann", bulk.version)
    assert target.apply_delta(delta) == final.version
    assert target.get("ann") == final
    assert target.apply_delta(delta) == final.version  # a repeat changes nothing
    assert target.get("ann") == final


def test_a_delta_is_only_the_tail_after_the_first_change() -> None:
    store = ContextStore()
    fill(store, "ann", [b"aaaaaaaa", b"aaaaaaXa", b"aaaaaaXY"])
    delta = store.changes_since("ann", 1)
    assert (delta.offset, delta.tail, delta.version) == (6, b"XY", 3)
    assert store.changes_since("ann", 3).tail == b""
    with pytest.raises(ContextError):
        store.changes_since("ann", 4)


def test_a_large_record_changed_at_its_head_moves_as_a_few_bytes() -> None:
    store = ContextStore()
    padding = b" " * 1_000_000
    fill(store, "ann", [b'{"seq":9}' + padding, b'{"seq":10}' + padding[1:]])
    delta = store.changes_since("ann", 1)
    assert len(delta.tail) <= 3  # "10}" in place of "9}": the megabyte of padding stays
    assert delta.suffix >= 999_000
    copy = ContextStore()
    first = store.get("ann")
    assert first is not None
    copy.import_delta("h", Delta("ann", 0, 1, 0, b'{"seq":9}' + padding))
    assert copy.apply_delta(delta) == 2
    assert copy.get("ann") == first


@given(
    base=st.binary(max_size=40),
    edits=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.binary(max_size=6)), max_size=8
    ),
    history=st.integers(1, 8),
    since=st.integers(0, 8),
)
def test_splice_deltas_compose_over_any_edits(
    base: bytes, edits: list[tuple[int, int, bytes]], history: int, since: int
) -> None:
    store = ContextStore(history=history)
    versions = [base or b"x"]
    fill(store, "ann", [versions[0]])
    for start, length, text in edits:
        old = versions[-1]
        at = min(start, len(old))
        new = old[:at] + text + old[at + length :]
        if new == old:
            continue
        store.update("ann", put(new))
        versions.append(new)
    since = min(since, len(versions))
    delta = store.changes_since("ann", since)
    held = versions[since - 1] if since >= 1 else b""
    rebuilt = delta.applied_to(held) if since >= 1 else delta.tail
    assert rebuilt == versions[-1]


def test_the_assembler_refuses_gaps_overruns_and_corrupt_trailers() -> None:
    data = b"0123456789"
    gap = Assembler("ann", len(data), 1, "x")
    gap.chunk(0, data[:4])
    with pytest.raises(TransferError) as out_of_order:
        gap.chunk(5, data[5:])
    assert out_of_order.value.fault is TransferFault.INVALID
    over = Assembler("ann", 4, 1, "x")
    with pytest.raises(TransferError) as overrun:
        over.chunk(0, data)
    assert overrun.value.fault is TransferFault.DATA_LOSS
    corrupt = Assembler("ann", len(data), 1, "x")
    corrupt.chunk(0, data)
    with pytest.raises(TransferError) as digest:
        corrupt.trailer(b"\0" * 32)
    assert digest.value.fault is TransferFault.DATA_LOSS
    with pytest.raises(TransferError) as truncated:
        Assembler("ann", 3, 1, "x").finish()
    assert truncated.value.fault is TransferFault.DATA_LOSS


class HandoverCalls(RuleBasedStateMachine):
    """Any interleaving of writes and handover calls on one store, against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.store = ContextStore(history=4)
        self.other = ContextStore()  # where exports are imported
        self.versions: dict[str, int] = {}
        self.data: dict[str, bytes] = {}
        self.fenced: dict[str, str] = {}  # user -> handover
        self.gone: set[str] = set()
        self.imported: dict[str, str] = {}  # user -> handover that imported it

    def _answer(self, call: Callable[[], Any]) -> tuple[str, Any]:
        try:
            return ("ok", call())
        except ContextError as error:
            return ("refused", error.kind)

    def _state(self) -> object:
        return {u: (self.store.get(u), self.store.fence_of(u)) for u in USERS}

    @rule(user=st.sampled_from(USERS), data=contents)
    def write(self, user: str, data: bytes) -> None:
        before = self.store.get(user)
        try:
            outcome = self.store.update(user, put(data))
        except MovedError:
            assert user in self.fenced or user in self.gone
            assert self.store.get(user) == before  # after a fence, no write is applied
            return
        assert user not in self.fenced
        assert outcome.version == self.versions.get(user, 0) + 1
        self.versions[user] = outcome.version
        self.data[user] = data
        self.gone.discard(user)

    @rule(user=st.sampled_from(USERS), handover=st.sampled_from(HANDOVERS))
    def export_twice(self, user: str, handover: str) -> None:
        first = self._answer(lambda: self.store.export(handover, user, f"to-{handover}"))
        state = self._state()
        second = self._answer(lambda: self.store.export(handover, user, f"to-{handover}"))
        assert first == second
        assert self._state() == state
        if first[0] == "ok":
            snapshot = first[1]
            assert isinstance(snapshot, Snapshot)
            assert (snapshot.data, snapshot.version) == (self.data[user], self.versions[user])
            assert self.fenced.setdefault(user, handover) == handover
            copy = ContextStore()
            copy.import_context(handover, snapshot)
            assert copy.get(user) == self.store.get(user)

    @rule(user=st.sampled_from(USERS), handover=st.sampled_from(HANDOVERS))
    def unfence_twice(self, user: str, handover: str) -> None:
        first = self._answer(lambda: self.store.unfence(handover, user))
        state = self._state()
        assert self._answer(lambda: self.store.unfence(handover, user)) == first
        assert self._state() == state
        if first[0] == "ok":
            assert first[1] == self.versions[user]
            self.fenced.pop(user, None)

    @rule(user=st.sampled_from(USERS), handover=st.sampled_from((*HANDOVERS, "back1")))
    def release_twice(self, user: str, handover: str) -> None:
        fenced = self.fenced.get(user)
        ours = fenced == handover or (fenced is None and self.imported.get(user) == handover)
        should_drop = user in self.versions and ours
        first = self._answer(lambda: self.store.release(handover, user))
        state = self._state()
        assert self._answer(lambda: self.store.release(handover, user)) == first
        assert self._state() == state
        if should_drop:
            assert first == ("ok", True)
            self.fenced.pop(user, None)
            self.imported.pop(user, None)
            self.gone.add(user)
            self.versions.pop(user)
            self.data.pop(user)
        elif user in self.versions:
            assert self.store.get(user) is not None  # not ours: kept (refused, or a replay)

    @precondition(lambda self: any(u in self.gone for u in USERS))
    @rule(handover=st.sampled_from(("back1", "back2")))
    def import_back(self, handover: str) -> None:
        user = next(u for u in USERS if u in self.gone)
        snapshot = Snapshot(user, b"back", 7)
        first = self._answer(lambda: self.store.import_context(handover, snapshot))
        state = self._state()
        assert self._answer(lambda: self.store.import_context(handover, snapshot)) == first
        assert self._state() == state
        if first[0] == "ok":
            self.store.serve(user)  # the handover's commit: the copy is served from now on
            self.gone.discard(user)
            self.versions[user], self.data[user] = 7, b"back"
            self.imported[user] = handover

    @invariant()
    def matches_the_model(self) -> None:
        for user in USERS:
            held = self.store.get(user)
            if user in self.versions:
                assert held == Snapshot(user, self.data[user], self.versions[user])
            else:
                assert held is None
            fence = self.store.fence_of(user)
            assert (fence.handover_id if fence else None) == self.fenced.get(user)


TestHandoverCalls = HandoverCalls.TestCase
TestHandoverCalls.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


@given(
    head=st.binary(max_size=20),
    old_mid=st.binary(max_size=20),
    new_mid=st.binary(max_size=20),
    tail=st.binary(max_size=20),
    scale=st.sampled_from([1, 300, 5000]),
)
def test_the_changed_range_is_found_as_a_plain_scan_finds_it(
    head: bytes, old_mid: bytes, new_mid: bytes, tail: bytes, scale: int
) -> None:
    # Long equal runs (scaled) exercise the galloping steps; the answer is the naive one.
    old = head * scale + old_mid + tail * scale
    new = head * scale + new_mid + tail * scale
    prefix = 0
    while prefix < min(len(old), len(new)) and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(old), len(new)) - prefix
        and old[len(old) - 1 - suffix] == new[len(new) - 1 - suffix]
    ):
        suffix += 1
    assert _change(old, new) == (prefix, suffix)
