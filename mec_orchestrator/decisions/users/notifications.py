"""MEC 016 notification bodies a device application receives (UEAppInterfaceApi, clause 6.4).

Pure: built from the session alone, so the same move always produces the same body.
"""

from __future__ import annotations

from typing import Any

from mec_orchestrator.decisions.users.sessions import DeviceSession


def user_app_instance_info(session: DeviceSession) -> dict[str, Any]:
    """UserAppInstanceInfo: the instance serving the device and its reference URI."""
    return {"appInstanceId": session.app_instance_id, "referenceURI": session.reference_uri}


def context_update(session: DeviceSession) -> dict[str, Any]:
    """ApplicationContextUpdateNotification: the device's context now points at a new instance."""
    return {
        "notificationType": "ApplicationContextUpdateNotification",
        "contextId": session.context_id,
        "userAppInstanceInfo": [user_app_instance_info(session)],
    }


def context_delete(session: DeviceSession) -> dict[str, Any]:
    """ApplicationContextDeleteNotification: the MEC system ended the device's context."""
    return {
        "notificationType": "ApplicationContextDeleteNotification",
        "contextId": session.context_id,
    }
