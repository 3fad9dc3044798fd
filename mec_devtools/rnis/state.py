"""What the emulated radio network knows: UEs in cells, subscriptions, and who gets what.

No I/O, so the matching rules can be read (and tested) on their own. A subscription matches a
cell-change notification when every filter it sets matches (GS MEC 012 6.3.2): one of its
`associateId`s is the UE's, one of its `ecgi`s is the source or a target cell, and the
notification's `hoStatus` is among its `hoStatus` — COMPLETED alone when it names none, as the
GS says. `appInstanceId` is kept and echoed but does not filter: the emulator does not know
which app instances serve a UE.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from mec_devtools.rnis.models import (
    AssociateId,
    AssociateIdType,
    CellChangeNotification,
    CellChangeSubscription,
    Ecgi,
    HoStatus,
    LinkType,
    Plmn,
    SelfLink,
    SubscriptionNotificationLinks,
    TempUeId,
    TimeStamp,
)

DEFAULT_HO_STATUS = (HoStatus.COMPLETED,)


@dataclass
class Ue:
    address: str
    cell: str
    temp_ue_id: TempUeId | None = None

    def associate_id(self) -> AssociateId:
        return AssociateId(type=AssociateIdType.UE_IPV4_ADDRESS, value=self.address)


@dataclass
class Subscription:
    id: str
    href: str
    body: CellChangeSubscription

    def expired(self, now_ns: int) -> bool:
        deadline = self.body.expiry_deadline
        return deadline is not None and deadline.as_ns() <= now_ns

    def matches(self, note: CellChangeNotification) -> bool:
        wanted = self.body.filter_criteria_assoc_ho
        statuses = wanted.ho_status or DEFAULT_HO_STATUS
        if note.ho_status not in statuses:
            return False
        if wanted.associate_id and not any(a in wanted.associate_id for a in note.associate_id):
            return False
        cells = [note.src_ecgi, *note.trg_ecgi]
        return not wanted.ecgi or any(c in wanted.ecgi for c in cells)


@dataclass
class RadioState:
    """UEs by IPv4 address, subscriptions by id, in one PLMN."""

    plmn: Plmn
    ues: dict[str, Ue] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)

    def ecgi(self, cell: str) -> Ecgi:
        return Ecgi(plmn=self.plmn, cell_id=cell)

    def subscribe(self, body: CellChangeSubscription, base: str) -> Subscription:
        """Keep a subscription; its `_links.self` and default hoStatus are filled in."""
        sub_id = uuid.uuid4().hex[:16]
        href = f"{base}/rni/v2/subscriptions/{sub_id}"
        criteria = body.filter_criteria_assoc_ho
        filled = body.model_copy(
            update={
                "links": SelfLink(self_=LinkType(href=href)),
                "filter_criteria_assoc_ho": criteria.model_copy(
                    update={"ho_status": criteria.ho_status or list(DEFAULT_HO_STATUS)}
                ),
                "websock_notif_config": None,  # the callback is the alternative chosen
            }
        )
        sub = Subscription(sub_id, href, filled)
        self.subscriptions[sub_id] = sub
        return sub

    def live_subscriptions(self, now_ns: int | None = None) -> list[Subscription]:
        """Subscriptions not expired (expired ones are forgotten here)."""
        now = time.time_ns() if now_ns is None else now_ns
        for sub_id in [s.id for s in self.subscriptions.values() if s.expired(now)]:
            del self.subscriptions[sub_id]
        return list(self.subscriptions.values())

    def notification(
        self, ue: Ue, source: str, target: str, status: HoStatus, sub: Subscription
    ) -> CellChangeNotification:
        link = LinkType(href=sub.href)
        return CellChangeNotification(
            time_stamp=TimeStamp.now(),
            associate_id=[ue.associate_id()],
            src_ecgi=self.ecgi(source),
            trg_ecgi=[self.ecgi(target)],
            ho_status=status,
            temp_ue_id=ue.temp_ue_id,
            links=SubscriptionNotificationLinks(subscription=link),
            subscription=[link],
        )

    def addressed(
        self, ue: Ue, source: str, target: str, status: HoStatus
    ) -> list[tuple[Subscription, CellChangeNotification]]:
        """The notification each live subscription that matches should receive."""
        out = []
        for sub in self.live_subscriptions():
            note = self.notification(ue, source, target, status, sub)
            if sub.matches(note):
                out.append((sub, note))
        return out
