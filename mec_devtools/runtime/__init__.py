"""Make pods of the project's own images really run on the emulated edge hosts.

On the local control plane every pod is a kwok fake: it becomes Running and Ready without any
process behind it. End-to-end tests and the demo need the project's own programs (the reference
app, agents) to run as pods on the hosts they were placed on, reachable at a pod address of
their own over the emulated network. `EmulatedRuntime` plays the kubelet for such pods: it
watches pods bound to the hosts it is given, gives each one an address on its host's namespace,
starts the container's command there, probes its readiness and writes the pod's status. Pods of
other images stay kwok fakes (see docs/devcluster.md).
"""

from mec_devtools.runtime.images import PROJECT_IMAGE_PREFIX, is_project_image, is_project_pod
from mec_devtools.runtime.runtime import EmulatedRuntime

__all__ = ["PROJECT_IMAGE_PREFIX", "EmulatedRuntime", "is_project_image", "is_project_pod"]
