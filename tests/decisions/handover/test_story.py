"""The Events a handover tells (pure): their reasons and messages, and the per-app budget."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.handover import HandoverEvent, HandoverEventKind, InstanceRef
from mec_orchestrator.decisions.handover.story import EventBudget, story
from mec_orchestrator.model.reasons import EventReason


def event(kind: HandoverEventKind, **details: object) -> HandoverEvent:
    return HandoverEvent(
        kind=kind,
        handover_id="h1",
        context_id="0123456789abcdef0123",
        namespace="city",
        app="ar",
        app_d_id="ar-d",
        device_address="10.0.0.1",
        source=InstanceRef("edge-a", "city.ar-edge-a", "http://a"),
        target=InstanceRef("edge-c", "city.ar-edge-c", "http://c"),
        context_transfer="MecAssisted",
        at_s=0.0,
        **details,  # type: ignore[arg-type]
    )


def test_each_step_tells_what_happened() -> None:
    reason, message, warning = story(event(HandoverEventKind.TRIGGERED, reason="BudgetBreach"))
    assert reason is EventReason.HANDOVER_STARTED
    assert message == (
        "user 0123456789ab moving edge-a -> edge-c, context transfer MecAssisted (BudgetBreach)"
    )
    assert not warning
    reason, message, _ = story(
        event(HandoverEventKind.COMPLETED, context_bytes=4096, interruption_s=0.0042)
    )
    assert reason is EventReason.HANDOVER_COMPLETED
    assert message.endswith("moved edge-a -> edge-c: 4096 B of context, fenced 4.2 ms")
    reason, message, warning = story(event(HandoverEventKind.FAILED, reason="target down"))
    assert (reason, warning) == (EventReason.HANDOVER_FAILED, True)
    assert message.endswith("stays on edge-a: target down")


def test_a_burst_is_cut_and_what_was_cut_is_counted() -> None:
    budget = EventBudget(per_second=1.0, burst=3.0)
    app = ("city", "ar")
    allowed = [budget.allow(app, 0.0) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    assert budget.allow(("city", "other"), 0.0)  # per app
    assert budget.allow(app, 1.0)  # a second later, one more
    assert budget.take_suppressed(app) == 2
    assert budget.take_suppressed(app) == 0


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=200))
def test_never_more_than_the_burst_plus_the_rate(times: list[float]) -> None:
    budget = EventBudget(per_second=2.0, burst=5.0)
    times = sorted(times)
    sent = sum(budget.allow(("n", "a"), t) for t in times)
    span = (times[-1] - times[0]) if times else 0.0
    assert sent <= 5 + 2.0 * span + 1e-9
    assert sent + budget.suppressed.get(("n", "a"), 0) == len(times)
