"""Fixtures for end-to-end tests: real processes in emulated network namespaces against the
session's control plane.

They need root (network namespaces); without it they fail with a message saying so rather than
skip, because a skip would hide that the end-to-end tests did not run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from mec_devtools.sim.network import Network, cleanup_leftovers, leftover_names
from mec_devtools.sim.network.netns import missing_capabilities

E2E_PREFIX = "e2e"

T = TypeVar("T")


async def wait_for(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    within: float,
    diagnostics: Callable[[], str],
) -> T:
    """check()'s first truthy answer, polled every 0.25 s; else fail with the diagnostics."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {within} s (last: {last!r})\n{diagnostics()}")


@pytest.fixture(scope="session")
def netns_ready() -> None:
    problems = missing_capabilities()
    if problems:
        pytest.fail("end-to-end tests cannot run: " + "; ".join(problems))
    cleanup_leftovers(E2E_PREFIX)  # earlier crashed sessions, never live runs


@pytest.fixture
def network(netns_ready: None) -> Iterator[Network]:
    """A fresh emulated network (delay-line switch); everything of it is removed afterwards."""
    net = Network(name_prefix=E2E_PREFIX, seed=4242)
    with net:
        yield net
    assert leftover_names(net.tag) == []
