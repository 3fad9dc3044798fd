"""A real local Kubernetes control plane for development, tests, benchmarks and the demo.

Upstream kube-apiserver, kube-controller-manager and kube-scheduler built from the
k8s.io/kubernetes module, etcd, kwok (fake nodes standing for edge hosts) and helm, all cached by
version and started on 127.0.0.1 with generated certificates and RBAC on.
"""

from mec_devtools.devcluster.cluster import ClusterInfo, DevCluster
from mec_devtools.devcluster.errors import DevClusterError, MissingPrerequisiteError
from mec_devtools.devcluster.settings import DevClusterSettings

__all__ = [
    "ClusterInfo",
    "DevCluster",
    "DevClusterError",
    "DevClusterSettings",
    "MissingPrerequisiteError",
]
