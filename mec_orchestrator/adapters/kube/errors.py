"""The error the Kubernetes client raises, under a name the layers above may import.

Code outside `kube/` catches `ApiError` (and reads its `status`) without importing the client
library itself, so the import contract can keep the client inside this package.
"""

from kubernetes_asyncio.client.exceptions import ApiException as ApiError

__all__ = ["ApiError"]
