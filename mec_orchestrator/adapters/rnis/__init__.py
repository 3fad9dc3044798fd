"""The orchestrator as a consumer of a Radio Network Information Service (ETSI MEC 012)."""

from mec_orchestrator.adapters.rnis.client import RnisClient, RnisError

__all__ = ["RnisClient", "RnisError"]
