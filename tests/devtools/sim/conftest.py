"""Fixtures for the network-emulation tests: a fresh emulated network per test.

These tests build real namespaces, veths and processes. They need root; without it they fail
with a message saying so instead of being skipped, because a skip would hide that the
end-to-end tests did not run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mec_devtools.sim.network import Network, cleanup_leftovers, leftover_names
from mec_devtools.sim.network.netns import missing_capabilities

TEST_PREFIX = "pt"


@pytest.fixture(scope="session")
def netns_capable() -> None:
    problems = missing_capabilities()
    if problems:
        pytest.fail("network emulation tests cannot run: " + "; ".join(problems))
    cleanup_leftovers(TEST_PREFIX)  # earlier crashed sessions, never live runs


@pytest.fixture
def net(netns_capable: None) -> Iterator[Network]:
    network = Network(name_prefix=TEST_PREFIX, seed=1234)
    with network:
        yield network
    assert leftover_names(network.tag) == []
