"""Pure MEC 010-2 lifecycle decisions: when an operation is done, failed, retried or cancelled.

`judge.py` holds the two functions the operator and the REST API share: `judge_operation` (is an
instantiate, terminate or operate done, judged from the EdgeApp's conditions and its instance
Deployments, or has it run out of time) and `next_status` (the AppLcmOpOcc status the operator
writes: the pending retry, fail or cancel request applied, then the operation judged). The API
uses `effective_status` and `refusal` to answer 409 against the state an occurrence will have
once its pending request is applied. Facts in, decisions out: no clock, no client.
"""

from mec_orchestrator.decisions.lcm.judge import (
    AppFacts,
    Judgement,
    Verdict,
    effective_status,
    initial_status,
    judge_operation,
    next_status,
    refusal,
)

__all__ = [
    "AppFacts",
    "Judgement",
    "Verdict",
    "effective_status",
    "initial_status",
    "judge_operation",
    "next_status",
    "refusal",
]
