"""Cluster fixtures for the CRD tests: the CRDs applied once and Established, and helpers.

`crds_installed` (in tests/conftest.py) applies every file in crds/ to the session's control
plane and waits until the API server has established them (and published them for `kubectl
explain`); `custom` is a CustomObjectsApi that talks to it.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from mec_devtools.devcluster import ClusterInfo


@pytest.fixture
def custom(crds_installed: ClusterInfo, api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)
