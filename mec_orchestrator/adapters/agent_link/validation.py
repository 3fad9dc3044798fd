"""Checks of what agents send, turning protobuf messages into the registry's plain values.

Protobuf accepts any string, NaN and any integer; the latency matrix and EdgeHost status do not.
Everything an agent sends is checked here before it is stored, and a bad field is refused with
INVALID_ARGUMENT and a message naming it (`batch.samples[3].rtt_ms: ...`), using the same
patterns and bounds as the CRDs. The batch check is on the report hot path: one pass, no
allocations beyond the rows it returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from mec.agent.v1 import latency_pb2, registry_pb2

from mec_common.patterns import DNS_LABEL, DNS_SUBDOMAIN, HOST_PORT, IDENTIFIER, QUANTITY
from mec_orchestrator.adapters.agent_link.events import (
    AccessPointGap,
    GapReport,
    ReportedInstance,
)
from mec_orchestrator.adapters.agent_link.refusals import InvalidFieldError
from mec_orchestrator.adapters.agent_link.registry import HostCapacity, Registration
from mec_orchestrator.decisions.names import AccessPointId, HostName

MAX_RTT_MS = 60000.0
"""The largest RTT accepted, as in the EdgeHost CRD's accessPointRtt bounds."""
MAX_ACCESS_POINTS = 1024
MAX_NODES = 64
MAX_INSTANCES = 1024
"""The most app instances one report may name."""
MAX_APP_NAME = 256
"""appName's bound in Mp1 (the agent's AppInfo model)."""
MAX_URI = 2048

_DNS_LABEL = re.compile(DNS_LABEL)
_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN)
_HOST_PORT = re.compile(HOST_PORT)
_IDENTIFIER = re.compile(IDENTIFIER)
_QUANTITY = re.compile(QUANTITY)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+[^\s]*$")
"""An absolute URI with an authority (scheme://host...), no whitespace."""

SampleRow = tuple[AccessPointId, float, int]
"""(access point id, RTT in ms, agent clock when received in ns) of one checked sample."""


def host_name(value: str, field: str = "host_name") -> HostName:
    if not value:
        raise InvalidFieldError(field, "must not be empty")
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise InvalidFieldError(
            field, f"{value!r} is not a DNS label (the mec.dev/edge-host label)"
        )
    return value


def session_id(value: str, field: str = "session_id") -> str:
    if not value:
        raise InvalidFieldError(field, "must not be empty")
    return value


def _access_point_id(value: str, field: str) -> AccessPointId:
    if not value:
        raise InvalidFieldError(field, "must not be empty")
    if len(value) > 128 or not _IDENTIFIER.match(value):
        raise InvalidFieldError(field, f"{value!r} is not an access point id")
    return value


def _host_port(value: str, field: str) -> str:
    if len(value) > 261 or not _HOST_PORT.match(value):
        raise InvalidFieldError(field, f"{value!r} is not host:port")
    return value


def _rtt(value: float, field: str) -> float:
    if not 0.0 <= value <= MAX_RTT_MS:  # also refuses NaN
        raise InvalidFieldError(field, f"must be a finite number of ms from 0 to {MAX_RTT_MS:g}")
    return value


def _capacity(message: registry_pb2.HostCapacity) -> HostCapacity:
    for name in ("cpu", "memory"):
        value = getattr(message, name)
        if value and not _QUANTITY.match(value):
            raise InvalidFieldError(f"capacity.{name}", f"{value!r} is not a resource quantity")
    return HostCapacity(
        instances=message.instances if message.HasField("instances") else None,
        users=message.users if message.HasField("users") else None,
        cpu=message.cpu or None,
        memory=message.memory or None,
    )


def _location(message: registry_pb2.GeoLocation) -> tuple[float, float]:
    if not -90.0 <= message.latitude <= 90.0:
        raise InvalidFieldError("location.latitude", "must be from -90 to 90 degrees")
    if not -180.0 <= message.longitude <= 180.0:
        raise InvalidFieldError("location.longitude", "must be from -180 to 180 degrees")
    return message.latitude, message.longitude


def registration(
    request: registry_pb2.RegisterRequest,
    access_point_known: Callable[[AccessPointId], bool] | None = None,
) -> Registration:
    """The registration a RegisterRequest declares, checked field by field."""
    host = host_name(request.host_name)
    if len(request.node_names) > MAX_NODES:
        raise InvalidFieldError("node_names", f"at most {MAX_NODES} nodes")
    for index, node in enumerate(request.node_names):
        if len(node) > 253 or not _DNS_SUBDOMAIN.match(node):
            raise InvalidFieldError(
                f"node_names[{index}]", f"{node!r} is not a Kubernetes node name"
            )
    if len(request.access_points) > MAX_ACCESS_POINTS:
        raise InvalidFieldError("access_points", f"at most {MAX_ACCESS_POINTS} access points")
    reflectors: dict[AccessPointId, str] = {}
    for index, access_point in enumerate(request.access_points):
        field = f"access_points[{index}]"
        ap_id = _access_point_id(access_point.access_point_id, f"{field}.access_point_id")
        if ap_id in reflectors:
            raise InvalidFieldError(f"{field}.access_point_id", f"{ap_id!r} is listed twice")
        if access_point_known is not None and not access_point_known(ap_id):
            raise InvalidFieldError(f"{field}.access_point_id", f"unknown access point {ap_id!r}")
        reflectors[ap_id] = _host_port(access_point.reflector_address, f"{field}.reflector_address")
    return Registration(
        host=host,
        node_names=tuple(request.node_names),
        capacity=_capacity(request.capacity),
        location=_location(request.location) if request.HasField("location") else None,
        agent_version=request.agent_version[:64],
        agent_endpoint=(
            _host_port(request.agent_endpoint, "agent_endpoint") if request.agent_endpoint else None
        ),
        reflectors=reflectors,
    )


def sample_rows(
    batch: latency_pb2.LatencySampleBatch, reflectors: Mapping[AccessPointId, str]
) -> list[SampleRow]:
    """The batch's samples as rows, or InvalidFieldError naming the first bad one."""
    if batch.sent_unix_nanos <= 0:
        raise InvalidFieldError("batch.sent_unix_nanos", "must be set")
    rows: list[SampleRow] = []
    append = rows.append
    for index, sample in enumerate(batch.samples):
        access_point = sample.access_point_id
        rtt = sample.rtt_ms
        sent = sample.sent_unix_nanos
        received = sample.received_unix_nanos
        if (
            access_point not in reflectors
            or not 0.0 <= rtt <= MAX_RTT_MS
            or not 0 < sent <= received
        ):
            _refuse_sample(sample, index, reflectors)
        append((access_point, rtt, received))
    return rows


def _unregistered(access_point: AccessPointId) -> str:
    return f"access point {access_point!r} was not registered by this host"


def _refuse_sample(
    sample: latency_pb2.LatencySample, index: int, reflectors: Mapping[AccessPointId, str]
) -> None:
    field = f"batch.samples[{index}]"
    if sample.access_point_id not in reflectors:
        _access_point_id(sample.access_point_id, f"{field}.access_point_id")
        raise InvalidFieldError(f"{field}.access_point_id", _unregistered(sample.access_point_id))
    _rtt(sample.rtt_ms, f"{field}.rtt_ms")
    if sample.sent_unix_nanos <= 0:
        raise InvalidFieldError(f"{field}.sent_unix_nanos", "must be set")
    raise InvalidFieldError(f"{field}.received_unix_nanos", "must not be before sent_unix_nanos")


def _time(value: Timestamp, field: str) -> datetime:
    if value.seconds <= 0:
        raise InvalidFieldError(field, "must be set")
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidFieldError(field, f"not a valid time: {error}") from None


def gap_report(
    summary: latency_pb2.GapSummary, reflectors: Mapping[AccessPointId, str]
) -> GapReport:
    """The gap summary as a GapReport, checked field by field."""
    started = _time(summary.started_at, "gap_summary.started_at")
    ended = _time(summary.ended_at, "gap_summary.ended_at")
    if ended < started:
        raise InvalidFieldError("gap_summary.ended_at", "must not be before started_at")
    seen: set[AccessPointId] = set()
    gaps: list[AccessPointGap] = []
    for index, item in enumerate(summary.access_points):
        field = f"gap_summary.access_points[{index}]"
        ap_id = _access_point_id(item.access_point_id, f"{field}.access_point_id")
        if ap_id not in reflectors:
            raise InvalidFieldError(
                f"{field}.access_point_id",
                f"access point {ap_id!r} was not registered by this host",
            )
        if ap_id in seen:
            raise InvalidFieldError(f"{field}.access_point_id", f"{ap_id!r} is listed twice")
        seen.add(ap_id)
        values = [
            _rtt(getattr(item, name), f"{field}.{name}")
            for name in ("min_rtt_ms", "p50_rtt_ms", "p95_rtt_ms", "max_rtt_ms")
        ]
        if item.sample_count and values != sorted(values):
            raise InvalidFieldError(
                f"{field}", "need min_rtt_ms <= p50_rtt_ms <= p95_rtt_ms <= max"
            )
        gaps.append(
            AccessPointGap(
                access_point_id=ap_id,
                sample_count=item.sample_count,
                lost_probe_count=item.lost_probe_count,
                min_rtt_ms=values[0],
                p50_rtt_ms=values[1],
                p95_rtt_ms=values[2],
                max_rtt_ms=values[3],
                percentiles_estimated=item.percentiles_estimated,
            )
        )
    return GapReport(started, ended, tuple(gaps))


def _printable(value: str, field: str, limit: int) -> str:
    if not value:
        raise InvalidFieldError(field, "must not be empty")
    if len(value) > limit:
        raise InvalidFieldError(field, f"at most {limit} characters")
    if not value.isprintable():
        raise InvalidFieldError(field, "must not contain control characters")
    return value


def _uri(value: str, field: str) -> str:
    if len(value) > MAX_URI:
        raise InvalidFieldError(field, f"at most {MAX_URI} characters")
    if not value.isprintable() or not _URI.match(value):
        raise InvalidFieldError(field, f"{value[:64]!r} is not an absolute URI (scheme://host...)")
    return value


def instances(
    request: registry_pb2.ReportInstancesRequest,
) -> tuple[ReportedInstance, ...]:
    """The instances a ReportInstancesRequest names, checked field by field."""
    if len(request.instances) > MAX_INSTANCES:
        raise InvalidFieldError("instances", f"at most {MAX_INSTANCES} app instances")
    seen: set[str] = set()
    checked: list[ReportedInstance] = []
    for index, item in enumerate(request.instances):
        field = f"instances[{index}]"
        instance_id = item.app_instance_id
        if not instance_id:
            raise InvalidFieldError(f"{field}.app_instance_id", "must not be empty")
        if len(instance_id) > 128 or not _IDENTIFIER.match(instance_id):
            raise InvalidFieldError(
                f"{field}.app_instance_id", f"{instance_id[:64]!r} is not an app instance id"
            )
        if instance_id in seen:
            raise InvalidFieldError(f"{field}.app_instance_id", f"{instance_id!r} is listed twice")
        seen.add(instance_id)
        checked.append(
            ReportedInstance(
                app_instance_id=instance_id,
                app_name=_printable(item.app_name, f"{field}.app_name", MAX_APP_NAME),
                endpoint=_uri(item.endpoint, f"{field}.endpoint") if item.endpoint else None,
                user_context_endpoint=(
                    _host_port(item.user_context_endpoint, f"{field}.user_context_endpoint")
                    if item.user_context_endpoint
                    else None
                ),
                ready=item.ready,
                users=_sessions(item, field),
            )
        )
    return tuple(checked)


MAX_USERS_PER_INSTANCE = 100_000
MAX_SESSION_RECORD_BYTES = 4096


def _sessions(item: registry_pb2.AppInstance, field: str) -> tuple[tuple[str, bytes], ...]:
    """The users an instance serves, checked: ids unique identifiers, records bounded."""
    if len(item.users) > MAX_USERS_PER_INSTANCE:
        raise InvalidFieldError(f"{field}.users", f"at most {MAX_USERS_PER_INSTANCE} users")
    seen: set[str] = set()
    users: list[tuple[str, bytes]] = []
    for index, session in enumerate(item.users):
        where = f"{field}.users[{index}]"
        user = session.user_id
        if not user or len(user) > 128 or not _IDENTIFIER.match(user):
            raise InvalidFieldError(f"{where}.user_id", f"{user[:64]!r} is not a user id")
        if user in seen:
            raise InvalidFieldError(f"{where}.user_id", f"{user!r} is listed twice")
        if len(session.record) > MAX_SESSION_RECORD_BYTES:
            raise InvalidFieldError(f"{where}.record", f"at most {MAX_SESSION_RECORD_BYTES} bytes")
        seen.add(user)
        users.append((user, session.record))
    return tuple(users)
