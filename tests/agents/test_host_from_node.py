"""An agent in a DaemonSet learns its edge host's name from its node's label."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge_host_agent.bootstrap_kube import BootstrapError, KubeCertificates
from edge_host_agent.settings import AgentSettings
from mec_devtools.devcluster import ClusterInfo


def test_a_host_name_or_a_label_to_read_it_from_is_required() -> None:
    with pytest.raises(ValidationError, match="host_name is required"):
        AgentSettings(insecure=True)
    with pytest.raises(ValidationError, match="host_name is required"):
        AgentSettings(insecure=True, host_label="mec.dev/edge-host")  # which node?
    settings = AgentSettings(insecure=True, host_label="mec.dev/edge-host", node_names=["n"])
    assert settings.host_name == ""
    with pytest.raises(ValidationError, match="host_name"):
        AgentSettings(insecure=True, host_name="Not A Label")


async def test_the_label_of_the_node_names_the_host(control_plane: ClusterInfo) -> None:
    source = await KubeCertificates.connect(control_plane.kubeconfig, "default")
    try:
        assert await source.node_label("edge-a", "mec.dev/edge-host") == "edge-a"
        with pytest.raises(BootstrapError, match=r"has no label example\.com/none"):
            await source.node_label("edge-a", "example.com/none")
        with pytest.raises(BootstrapError, match="node nowhere"):
            await source.node_label("nowhere", "mec.dev/edge-host")
    finally:
        await source.close()
