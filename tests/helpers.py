"""Small helpers shared by the control-plane tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 30.0) -> Any:
    """Poll check() until it returns a truthy value; fail with the last value after `within` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    pytest.fail(f"condition not met within {within} s; last value: {last!r}")


def body_text(error: ApiException) -> str:
    """The response body of an API error as text (the Status message names the field)."""
    body = error.body
    return body.decode() if isinstance(body, bytes) else str(body)


def as_model(manifest: dict[str, Any], model: type[T]) -> T:
    """Pass a plain manifest where the client's signature names a model class.

    The client serialises dicts unchanged, so a manifest can be sent exactly as written.
    """
    del model
    return cast(T, manifest)
