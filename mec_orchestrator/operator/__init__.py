"""The kopf operator: thin handlers that read the cluster, ask reconcile/ and act through kube/."""
