"""GS MEC 021 (application mobility service) decided without I/O: who wants what, and bodies.

The users' directory tells every step of every move of a user as a `HandoverEvent`; the
`/amsi/v1` API turns each into MobilityProcedureNotifications for the subscriptions whose
`filterCriteria` match (`MobilityFilter.wants`), and, once a move has ended, into
AdjacentAppInfoNotifications listing the instances of the app that can serve users now. The
API also answers `queries/adjacent_app_instances` with `adjacent_app_instance_info`. Plain data
in, JSON-ready dictionaries out.

Device identifiers are GS MEC 012 AssociateIds (`{"type": 1, "value": <IPv4 address>}`, type 1
UE_IPv4_ADDRESS): the directory knows devices by their IPv4 address only, so a filter naming
other identifier types matches no event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mec_orchestrator.decisions.handover.events import HandoverEvent, HandoverEventKind

UE_IPV4_ADDRESS = 1
NANOS = 1_000_000_000

MOBILITY_STATUS: Mapping[HandoverEventKind, int] = {
    HandoverEventKind.TRIGGERED: 1,
    HandoverEventKind.COMPLETED: 2,
    HandoverEventKind.FAILED: 3,
}
"""The MEC 021 mobilityStatus of each event (1 INTERHOST_MOVEOUT_TRIGGERED, 2 ..._COMPLETED,
3 ..._FAILED)."""

DEFAULT_MOBILITY_STATUS = (1,)
"""What a MobilityProcedureSubscription without mobilityStatus asks for (the file's note)."""

ENDED = frozenset({HandoverEventKind.COMPLETED, HandoverEventKind.FAILED})
"""Events after which the set of an app's instances is told again (AdjacentAppInfo)."""

DEFAULT_PORTS = {"http": 80, "https": 443}


def associate_id(address: str) -> dict[str, Any]:
    """The AssociateId of a device by its IPv4 address."""
    return {"type": UE_IPV4_ADDRESS, "value": address}


def timestamp(at_s: float) -> dict[str, int]:
    """The TimeStamp of a Unix time in seconds."""
    if not math.isfinite(at_s) or at_s < 0:
        raise ValueError(f"a time stamp needs a finite time after 1970, not {at_s}")
    seconds = math.floor(at_s)
    nanos = min(NANOS - 1, round((at_s - seconds) * NANOS))
    return {"seconds": seconds, "nanoSeconds": nanos}


def comm_interface(endpoint: str) -> dict[str, Any]:
    """The CommunicationInterface of an instance's endpoint.

    The endpoint is `http://host:port/...` or `host:port`; `{}` when no host and port can be
    read from it.
    """
    text = endpoint if "://" in endpoint else f"//{endpoint}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        return {}
    if port is None:
        port = DEFAULT_PORTS.get(parts.scheme)
    if not host or port is None:
        return {}
    return {"ipAddresses": [{"host": host, "port": port}]}


@dataclass(frozen=True, slots=True)
class MobilityFilter:
    """What a MobilityProcedureSubscription asks for (its filterCriteria).

    app_instance_id: the event's source or target instance must be this one (None: any);
    devices: (type, value) AssociateIds, the event's device must be one (empty: any);
    statuses: mobilityStatus values wanted (empty: any).
    """

    app_instance_id: str | None = None
    devices: frozenset[tuple[int, str]] = frozenset()
    statuses: frozenset[int] = frozenset(DEFAULT_MOBILITY_STATUS)

    @classmethod
    def of(cls, criteria: Mapping[str, Any]) -> MobilityFilter:
        """The filter of a subscription's filterCriteria as stored (JSON, already checked)."""
        devices = frozenset(
            (int(one["type"]), str(one["value"]))
            for one in criteria.get("associateId") or ()
            if isinstance(one, Mapping) and "type" in one and "value" in one
        )
        statuses = criteria.get("mobilityStatus")
        return cls(
            app_instance_id=criteria.get("appInstanceId"),
            devices=devices,
            statuses=frozenset(
                int(s) for s in (DEFAULT_MOBILITY_STATUS if statuses is None else statuses)
            ),
        )

    def wants(self, event: HandoverEvent) -> bool:
        if self.app_instance_id is not None and self.app_instance_id not in (
            event.source.app_instance_id,
            event.target.app_instance_id,
        ):
            return False
        if self.devices and (
            event.device_address is None
            or (UE_IPV4_ADDRESS, event.device_address) not in self.devices
        ):
            return False
        return not self.statuses or MOBILITY_STATUS[event.kind] in self.statuses


def mobility_criteria(criteria: Mapping[str, Any]) -> dict[str, Any]:
    """The filterCriteria as kept and answered: mobilityStatus [1] when the request had none."""
    kept = dict(criteria)
    if kept.get("mobilityStatus") is None:
        kept["mobilityStatus"] = list(DEFAULT_MOBILITY_STATUS)
    return kept


def mobility_procedure_notification(
    event: HandoverEvent, subscription_href: str
) -> dict[str, Any] | None:
    """The MobilityProcedureNotification (7.4.2) of an event.

    None when the user has no device address (associateId needs at least one identifier).
    """
    if event.device_address is None:
        return None
    target: dict[str, Any] = {"appInstanceId": event.target.app_instance_id}
    interface = comm_interface(event.target.endpoint)
    if interface:
        target["commInterface"] = interface
    return {
        "notificationType": "MobilityProcedureNotification",
        "timeStamp": timestamp(event.at_s),
        "associateId": [associate_id(event.device_address)],
        "mobilityStatus": MOBILITY_STATUS[event.kind],
        "targetAppInfo": target,
        "_links": {"subscription": {"href": subscription_href}},
    }


@dataclass(frozen=True, slots=True)
class AppInstance:
    """An instance of an app that can serve users now."""

    app_instance_id: str
    app_d_id: str
    host: str
    endpoint: str


def adjacent(instances: Iterable[AppInstance], reference: str | None) -> list[AppInstance]:
    """The instances other than reference, in a stable order (by id)."""
    return sorted(
        (i for i in instances if i.app_instance_id != reference), key=lambda i: i.app_instance_id
    )


def adjacent_app_instance_info(
    instance: AppInstance, registered_instance_id: str | None = None
) -> dict[str, Any]:
    """The AdjacentAppInstanceInfo (7.2.3) of an instance."""
    body: dict[str, Any] = {
        "appInstanceId": instance.app_instance_id,
        "appDId": instance.app_d_id,
        "appInstanceCommLink": [comm_interface(instance.endpoint)],
        "mecHostInformation": {"hostName": instance.host, "hostId": {"name": instance.host}},
    }
    if registered_instance_id is not None:
        body["registeredInstanceId"] = registered_instance_id
    return body


def adjacent_app_info_notification(
    instances: Iterable[AppInstance], subscription_href: str, at_s: float
) -> dict[str, Any]:
    """The AdjacentAppInfoNotification (GS 7.4.3; the file does not define it)."""
    return {
        "notificationType": "AdjacentAppInfoNotification",
        "timeStamp": timestamp(at_s),
        "adjacentAppInfo": [
            {"appInstanceId": i.app_instance_id, "commInterface": [comm_interface(i.endpoint)]}
            for i in instances
        ],
        "_links": {"subscription": {"href": subscription_href}},
    }


def etsi_test_notification(subscription_href: str) -> dict[str, Any]:
    """The TestNotification (7.4.6, GS MEC 009 6.12a) of a subscription."""
    return {
        "notificationType": "TestNotification",
        "_links": {"subscription": {"href": subscription_href}},
    }


def transfer_completed(
    before: Iterable[tuple[int, str, int]], after: Iterable[tuple[int, str, int]]
) -> list[str]:
    """The IPv4 addresses whose contextTransferState turned 1 (USER_CONTEXT_TRANSFER_COMPLETED).

    before, after: (associateId type, value, contextTransferState) of a registration's devices
    before and after a change; a device that was not there before counts as 0.
    """
    done = {(t, v) for t, v, state in before if state == 1}
    return sorted(
        {v for t, v, state in after if state == 1 and t == UE_IPV4_ADDRESS and (t, v) not in done}
    )
