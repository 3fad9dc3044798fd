"""The identifier patterns the CRDs, the orchestrator and the agents all check names against.

One copy, so an edge-host name the agent accepts is one the EdgeHost CRD accepts too (a test
checks that the CRD schemas say the same).
"""

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An edge-host or Kubernetes object name (RFC 1123 label, at most 63 characters)."""

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A Kubernetes object name that may contain dots (at most 253 characters)."""

HOST_PORT = (
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)"
    r":([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)
"""host:port, with an IPv6 address in brackets."""

IDENTIFIER = r"^[A-Za-z0-9]([-A-Za-z0-9._:]*[A-Za-z0-9])?$"
"""An ETSI-style identifier (access point ids, appDId, ...; at most 128 characters)."""

QUANTITY = (
    r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
"""A Kubernetes resource quantity (cpu: 500m, memory: 2Gi)."""
