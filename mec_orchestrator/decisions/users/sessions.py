"""A device's application context (MEC 016) as the orchestrator records it, and its encoding.

The record travels: the orchestrator gives it to the agent of the host whose instance serves
the user (`SessionService.AdmitUser`), the agent keeps it and reports it back with its
instances, and a new orchestrator leader rebuilds its directory of users from those reports.
So it must say everything the orchestrator needs about a user, compactly (agents cap records
at 4 KiB), and decode defensively (a record from an older version, or a corrupt one, is
refused with a reason, never half-read).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

RECORD_VERSION = 1
MAX_RECORD_BYTES = 4096


class RecordError(ValueError):
    """A session record that cannot be read (the message says why)."""


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """One user (a device application's context) of one EdgeApp, and where it is served."""

    context_id: str
    """The MEC 016 contextId (at most 32 characters): the user's id everywhere."""
    namespace: str
    app: str
    """The EdgeApp's name."""
    associate_dev_app_id: str
    owner: str
    """Who created the context (the API caller): only they may change or delete it."""
    callback_reference: str | None
    app_location_updates: bool
    device_address: str | None
    """The device's IPv4 address, as the RNIS names it (associateId UE_IPv4_ADDRESS)."""
    access_point: str | None
    """The access point (cell) the device is attached to, when known."""
    host: str
    app_instance_id: str
    reference_uri: str
    created_s: float
    """When the context was created (Unix seconds)."""

    @property
    def user_key(self) -> str:
        """The placement engine's id of the user (users of different apps are different)."""
        return f"{self.namespace}/{self.app}/{self.context_id}"

    def served_by(self, host: str, app_instance_id: str, reference_uri: str) -> DeviceSession:
        return replace(
            self, host=host, app_instance_id=app_instance_id, reference_uri=reference_uri
        )

    def at(self, access_point: str | None) -> DeviceSession:
        return replace(self, access_point=access_point)

    def encode(self) -> bytes:
        """The record an agent keeps (compact JSON with a version)."""
        body = {"v": RECORD_VERSION, **asdict(self)}
        data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        if len(data) > MAX_RECORD_BYTES:
            raise RecordError(f"the session record is {len(data)} bytes, over {MAX_RECORD_BYTES}")
        return data

    @classmethod
    def decode(cls, data: bytes) -> DeviceSession:
        """The session a record describes; RecordError names what is wrong."""
        try:
            body: Any = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RecordError(f"not JSON: {error}") from None
        if not isinstance(body, dict):
            raise RecordError("not a JSON object")
        if body.pop("v", None) != RECORD_VERSION:
            raise RecordError(f"not a version {RECORD_VERSION} record")
        strings = (
            "context_id",
            "namespace",
            "app",
            "associate_dev_app_id",
            "owner",
            "host",
            "app_instance_id",
            "reference_uri",
        )
        optional = ("callback_reference", "device_address", "access_point")
        for name in strings:
            if not isinstance(body.get(name), str) or not body[name]:
                raise RecordError(f"{name} is missing")
        for name in optional:
            if body.get(name) is not None and not isinstance(body[name], str):
                raise RecordError(f"{name} is not a string")
        if not isinstance(body.get("app_location_updates"), bool):
            raise RecordError("app_location_updates is not a boolean")
        created = body.get("created_s")
        if not isinstance(created, int | float) or isinstance(created, bool):
            raise RecordError("created_s is not a number")
        return cls(
            context_id=body["context_id"],
            namespace=body["namespace"],
            app=body["app"],
            associate_dev_app_id=body["associate_dev_app_id"],
            owner=body["owner"],
            callback_reference=body.get("callback_reference"),
            app_location_updates=body["app_location_updates"],
            device_address=body.get("device_address"),
            access_point=body.get("access_point"),
            host=body["host"],
            app_instance_id=body["app_instance_id"],
            reference_uri=body["reference_uri"],
            created_s=float(created),
        )
