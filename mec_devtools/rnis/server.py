"""The emulator's HTTP server: the ETSI RNIS endpoints an orchestrator uses, and a control API.

ETSI (GS MEC 012 v2, root `/rni/v2`): cell-change subscriptions (POST, GET list, GET one,
DELETE) and `GET /queries/rab_info`. Control (not ETSI, root `/control`): attach, detach and
list UEs, hand a UE over (IN_PREPARATION, the radio time, then the outcome), counters.

A handover request is answered once both notifications were delivered (or given up), so when
it returns the UE is in its new cell and every subscriber has been told. The radio time starts
once the IN_PREPARATION notifications are delivered, so a subscriber sees at least
`radioHandoverMs` between the two. Handovers, attachments and detachments of one UE are
serialised; different UEs proceed concurrently.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mec_devtools.rnis.delivery import Delivery
from mec_devtools.rnis.models import (
    AssociateIdType,
    CellChangeSubscription,
    CellUserInfo,
    ErabInfo,
    ErabQosParameters,
    HoStatus,
    LinkType,
    Plmn,
    ProblemDetails,
    RabInfo,
    SubscriptionLink,
    SubscriptionLinkList,
    SubscriptionLinkListLinks,
    TempUeId,
    TimeStamp,
    UeInfo,
    unwrap,
)
from mec_devtools.rnis.state import RadioState, Ue

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
ROOT = "/rni/v2"
CELL_CHANGE = "cell_change"
"""The `subscription_type` query value of cell-change subscriptions (GS MEC 012 7.6.3.1)."""
OUTCOMES = (HoStatus.COMPLETED, HoStatus.REJECTED, HoStatus.CANCELLED)
MAX_RADIO_MS = 60_000.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UeAttach(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    cell: str = Field(min_length=1, max_length=64)
    temp_ue_id: TempUeId | None = Field(default=None, alias="tempUeId")


class Handover(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    target_cell: str = Field(alias="targetCell", min_length=1, max_length=64)
    radio_handover_ms: float = Field(default=20.0, alias="radioHandoverMs", ge=0, le=MAX_RADIO_MS)
    outcome: str = "COMPLETED"


class ProblemError(Exception):
    """An error answered as ProblemDetails."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem_response(status: int, detail: str, instance: str | None = None) -> web.Response:
    body = ProblemDetails(
        title=_reason(status),
        status=status,
        detail=detail,
        instance=instance,
    ).body()
    return web.Response(text=json.dumps(body), status=status, content_type=PROBLEM)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _validation_detail(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProblemError(400, "the body is not JSON") from error


def _ipv4(address: str) -> str:
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError as error:
        raise ProblemError(400, f"not a UE IPv4 address: {address!r}") from error


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as problem:
        return problem_response(problem.status, problem.detail, request.path)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return problem_response(error.status, error.reason, request.path)


def _multi(request: web.Request, name: str) -> list[str]:
    """A query parameter given repeated or as a comma-separated list."""
    return [v.strip() for raw in request.query.getall(name, []) for v in raw.split(",") if v]


class RnisEmulator:
    """The emulator's state and handlers; `web_app()` is the aiohttp application."""

    def __init__(self, plmn: Plmn, delivery: Delivery | None = None) -> None:
        self.state = RadioState(plmn)
        self.delivery = delivery or Delivery()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.handovers = 0
        self._background: set[asyncio.Task[bool]] = set()

    def web_app(self) -> web.Application:
        app = web.Application(middlewares=[_problems])
        routes = app.router
        routes.add_post(f"{ROOT}/subscriptions", self._subscribe)
        routes.add_get(f"{ROOT}/subscriptions", self._list_subscriptions)
        routes.add_get(f"{ROOT}/subscriptions/{{id}}", self._get_subscription)
        routes.add_delete(f"{ROOT}/subscriptions/{{id}}", self._delete_subscription)
        routes.add_get(f"{ROOT}/queries/rab_info", self._rab_info)
        routes.add_get("/control/ues", self._list_ues)
        routes.add_put("/control/ues/{address}", self._attach)
        routes.add_delete("/control/ues/{address}", self._detach)
        routes.add_post("/control/ues/{address}/handover", self._handover)
        routes.add_get("/control/stats", self._stats)
        app.on_cleanup.append(self._close)
        return app

    async def _close(self, _app: web.Application) -> None:
        await self.delivery.aclose()

    # -- ETSI: subscriptions ----------------------------------------------------------------
    async def _subscribe(self, request: web.Request) -> web.Response:
        raw = unwrap(await _json(request), "CellChangeSubscription")
        if not isinstance(raw, dict):
            raise ProblemError(400, "the body is a CellChangeSubscription object")
        kind = raw.get("subscriptionType")
        if kind != "CellChangeSubscription":
            raise ProblemError(
                400, f"subscriptionType: only CellChangeSubscription is served, not {kind!r}"
            )
        try:
            body = CellChangeSubscription.model_validate(raw)
        except ValidationError as error:
            raise ProblemError(400, _validation_detail(error)) from error
        if body.callback_reference is None:
            raise ProblemError(
                400, "callbackReference: required (websocket delivery is not offered)"
            )
        if (
            body.expiry_deadline is not None
            and body.expiry_deadline.as_ns() <= TimeStamp.now().as_ns()
        ):
            raise ProblemError(400, "expiryDeadline: in the past")
        base = f"{request.scheme}://{request.host}"
        sub = self.state.subscribe(body, base)
        if body.request_test_notification:
            test = {
                "notificationType": "TestNotification",
                "_links": {"subscription": {"href": sub.href}},
            }
            task = asyncio.get_running_loop().create_task(
                self.delivery.post(body.callback_reference, test)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return web.json_response(sub.body.body(), status=201, headers={"Location": sub.href})

    async def _list_subscriptions(self, request: web.Request) -> web.Response:
        wanted = request.query.get("subscription_type")
        subs = [] if wanted not in (None, CELL_CHANGE) else self.state.live_subscriptions()
        listing = SubscriptionLinkList(
            links=SubscriptionLinkListLinks(
                self_=LinkType(href=str(request.url)),
                subscription=[
                    SubscriptionLink(href=s.href, subscription_type="CellChangeSubscription")
                    for s in subs
                ],
            )
        )
        return web.json_response(listing.body())

    def _subscription(self, request: web.Request) -> str:
        sub_id = request.match_info["id"]
        live = {s.id for s in self.state.live_subscriptions()}
        if sub_id not in live:
            raise ProblemError(404, f"no subscription {sub_id}")
        return sub_id

    async def _get_subscription(self, request: web.Request) -> web.Response:
        sub = self.state.subscriptions[self._subscription(request)]
        return web.json_response(sub.body.body())

    async def _delete_subscription(self, request: web.Request) -> web.Response:
        del self.state.subscriptions[self._subscription(request)]
        return web.Response(status=204)

    # -- ETSI: RAB information --------------------------------------------------------------
    async def _rab_info(self, request: web.Request) -> web.Response:
        addresses = {_ipv4(a) for a in _multi(request, "ue_ipv4_address")}
        cells = set(_multi(request, "cell_id"))
        per_cell: dict[str, list[UeInfo]] = {}
        for ue in sorted(self.state.ues.values(), key=lambda u: ipaddress.IPv4Address(u.address)):
            if (addresses and ue.address not in addresses) or (cells and ue.cell not in cells):
                continue
            per_cell.setdefault(ue.cell, []).append(
                UeInfo(
                    associate_id=[ue.associate_id()],
                    erab_info=[ErabInfo(erab_id=1, erab_qos_parameters=ErabQosParameters(qci=9))],
                )
            )
        info = RabInfo(
            time_stamp=TimeStamp.now(),
            app_instance_id=request.query.get("app_ins_id", ""),
            request_id=uuid.uuid4().hex,
            cell_user_info=[
                CellUserInfo(ecgi=self.state.ecgi(cell), ue_info=ues)
                for cell, ues in sorted(per_cell.items())
            ],
        )
        return web.json_response(info.body())

    # -- control ----------------------------------------------------------------------------
    def _ue_view(self, ue: Ue) -> dict[str, Any]:
        view: dict[str, Any] = {
            "address": ue.address,
            "cell": ue.cell,
            "ecgi": self.state.ecgi(ue.cell).body(),
            "associateId": {"type": int(AssociateIdType.UE_IPV4_ADDRESS), "value": ue.address},
        }
        if ue.temp_ue_id is not None:
            view["tempUeId"] = ue.temp_ue_id.body()
        return view

    async def _list_ues(self, _request: web.Request) -> web.Response:
        ues = sorted(self.state.ues.values(), key=lambda u: ipaddress.IPv4Address(u.address))
        return web.json_response({"ues": [self._ue_view(u) for u in ues]})

    async def _attach(self, request: web.Request) -> web.Response:
        address = _ipv4(request.match_info["address"])
        try:
            body = UeAttach.model_validate(await _json(request))
        except ValidationError as error:
            raise ProblemError(400, _validation_detail(error)) from error
        async with self._locks[address]:
            known = address in self.state.ues
            ue = Ue(address, body.cell, body.temp_ue_id)
            self.state.ues[address] = ue
        return web.json_response(self._ue_view(ue), status=200 if known else 201)

    async def _detach(self, request: web.Request) -> web.Response:
        address = _ipv4(request.match_info["address"])
        async with self._locks[address]:
            if self.state.ues.pop(address, None) is None:
                raise ProblemError(404, f"no UE {address}")
        return web.Response(status=204)

    async def _handover(self, request: web.Request) -> web.Response:
        address = _ipv4(request.match_info["address"])
        try:
            body = Handover.model_validate(await _json(request))
        except ValidationError as error:
            raise ProblemError(400, _validation_detail(error)) from error
        names = {s.name: s for s in OUTCOMES}
        outcome = names.get(body.outcome)
        if outcome is None:
            raise ProblemError(400, f"outcome: one of {sorted(names)}, not {body.outcome!r}")
        async with self._locks[address]:
            ue = self.state.ues.get(address)
            if ue is None:
                raise ProblemError(404, f"no UE {address}")
            source, target = ue.cell, body.target_cell
            if source == target:
                raise ProblemError(400, f"targetCell: the UE is already in {target}")
            prepared = await self._notify(ue, source, target, HoStatus.IN_PREPARATION)
            await asyncio.sleep(body.radio_handover_ms / 1000)
            if outcome is HoStatus.COMPLETED:
                ue.cell = target
            final = await self._notify(ue, source, target, outcome)
            self.handovers += 1
        return web.json_response(
            {
                **self._ue_view(ue),
                "sourceCell": source,
                "targetCell": target,
                "outcome": outcome.name,
                "notifications": {"IN_PREPARATION": prepared, outcome.name: final},
            }
        )

    async def _notify(self, ue: Ue, source: str, target: str, status: HoStatus) -> dict[str, int]:
        batch = [
            (str(sub.body.callback_reference), note.body())
            for sub, note in self.state.addressed(ue, source, target, status)
        ]
        delivered, failed = await self.delivery.post_all(batch)
        return {"delivered": delivered, "failed": failed}

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                **self.delivery.stats.as_dict(),
                "handovers": self.handovers,
                "ues": len(self.state.ues),
                "subscriptions": len(self.state.live_subscriptions()),
            }
        )
