"""The GS MEC 021 OpenAPI file as the MEC 021 tests check against it, and the one body it lacks.

Answers are checked with `tests/etsi/conformance.py` (which reads AssociateId as GS MEC 012's,
the GS's type, not the file's string). The file defines no AdjacentAppInfoNotification (GS
7.4.3): `ADJACENT_APP_INFO_NOTIFICATION` is the GS's table written with the file's own
components (TimeStamp, AssociateId, CommunicationInterface, the notifications' `_links`).
"""

from __future__ import annotations

from typing import Any

from tests.etsi.conformance import EtsiSpec, _resolve

SPEC = EtsiSpec("MEC021_AppMobilityService.yaml")


def component(name: str) -> dict[str, Any]:
    """A schema of the file's components, every reference resolved."""
    resolved: dict[str, Any] = _resolve(SPEC.spec, SPEC.spec["components"]["schemas"][name])
    return resolved


def _adjacent_app_info_notification() -> dict[str, Any]:
    schemas = "#/components/schemas/"
    schema = {
        "type": "object",
        "required": ["notificationType", "_links"],
        "additionalProperties": False,
        "properties": {
            "notificationType": {"const": "AdjacentAppInfoNotification"},
            "timeStamp": {"$ref": schemas + "TimeStamp"},
            "associateId": {"type": "array", "items": {"$ref": schemas + "AssociateId"}},
            "adjacentAppInfo": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["appInstanceId", "commInterface"],
                    "additionalProperties": False,
                    "properties": {
                        "appInstanceId": {"type": "string"},
                        "commInterface": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": schemas + "CommunicationInterface"},
                        },
                    },
                },
            },
            "_links": {"$ref": schemas + "_links2"},
        },
    }
    resolved: dict[str, Any] = _resolve(SPEC.spec, schema)
    return resolved


ADJACENT_APP_INFO_NOTIFICATION = _adjacent_app_info_notification()
MOBILITY_PROCEDURE_NOTIFICATION = component("MobilityProcedureNotification")
TEST_NOTIFICATION = component("TestNotification")
