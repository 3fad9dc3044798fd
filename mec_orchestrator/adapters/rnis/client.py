"""HTTP calls to an RNIS (`/rni/v2`): the cell-change subscription and where a device is.

Only what the orchestrator consumes: create and delete a CellChangeSubscription (its callback
is the orchestrator's), check that it still exists (an RNIS that restarted forgot it), and ask
`queries/rab_info` which cell a device (by IPv4 address) is in. Bodies are sent bare, as the GS
text shows them; answers are read leniently (unknown attributes ignored).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

UE_IPV4_ADDRESS = 1
"""AssociateId.type of a device's IPv4 address."""

DEFAULT_TIMEOUT_S = 5.0


class RnisError(RuntimeError):
    """The RNIS refused a call or could not be reached."""


class RnisClient:
    """One RNIS, by the root of its API (e.g. http://rnis:8080/rni/v2)."""

    def __init__(self, root: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.root = root.rstrip("/")
        self._http = httpx.AsyncClient(timeout=timeout_s)

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise RnisError(f"{method} {url}: {error!r}") from None

    async def subscribe_cell_changes(self, callback: str) -> str:
        """Subscribe callback to every cell change; returns the subscription's URI."""
        body = {
            "subscriptionType": "CellChangeSubscription",
            "callbackReference": callback,
            # Without hoStatus an RNIS sends COMPLETED only; the earlier steps start preparing.
            "filterCriteriaAssocHo": {"hoStatus": [1, 2, 3, 4, 5]},
        }
        response = await self._call("POST", f"{self.root}/subscriptions", json=body)
        if response.status_code != 201:
            raise RnisError(f"subscription refused: {response.status_code} {response.text[:300]}")
        href = response.headers.get("location")
        if not href:
            try:
                href = response.json()["_links"]["self"]["href"]
            except (ValueError, KeyError, TypeError):
                raise RnisError("the RNIS answered no subscription URI") from None
        return str(href)

    async def subscription_exists(self, href: str) -> bool:
        response = await self._call("GET", href)
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise RnisError(f"GET {href}: {response.status_code}")
        return True

    async def unsubscribe(self, href: str) -> None:
        response = await self._call("DELETE", href)
        if response.status_code not in (204, 404):
            raise RnisError(f"DELETE {href}: {response.status_code}")

    async def cell_of(self, address: str) -> str | None:
        """The cell id of the device at IPv4 address (rab_info), None when the RNIS knows none."""
        response = await self._call(
            "GET", f"{self.root}/queries/rab_info", params={"ue_ipv4_address": address}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RnisError(f"rab_info for {address}: {response.status_code}")
        try:
            body = response.json()
            if isinstance(body, dict) and set(body) == {"RabInfo"}:
                body = body["RabInfo"]
            for cell in body.get("cellUserInfo") or []:
                for ue in cell.get("ueInfo") or []:
                    for associate in ue.get("associateId") or []:
                        if (
                            associate.get("type") == UE_IPV4_ADDRESS
                            and associate.get("value") == address
                        ):
                            return str(cell["ecgi"]["cellId"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RnisError(f"rab_info for {address}: unreadable answer ({error!r})") from None
        return None
