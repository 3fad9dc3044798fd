"""Whether an agent's CertificateSigningRequest is approved, and for how long it is valid.

A request is approved only when every check below passes, in this order; the first that fails
is the denial's reason (a `DenialReason`), and its message names what was asked and what was
expected:

1. the request is readable: a PEM CSR with a valid self-signature and an EC P-256 key
   (`MalformedRequest`);
2. the requester is the agents' ServiceAccount (`NotAgentServiceAccount`);
3. its token is bound to a pod, so the API server recorded the pod's node in the request's
   `spec.extra` (`authentication.kubernetes.io/node-name` and `node-uid`, Kubernetes 1.30+)
   (`NotBoundToPod`);
4. that node still exists with that uid (`NodeNotFound`) and carries the label
   `mec.dev/edge-host=<host>` (`NodeNotEdgeHost`);
5. the request's URI SANs are exactly `spiffe://mec.dev/edge-host/<host>` (`IdentityMismatch` when
   that ID is missing, `ExtraIdentity` when other URIs, e-mail or other names, or a subject other
   than `CN=<host>` come with it);
6. its DNS names and IP addresses are addresses of that node, or IPs of the requester's own pod
   (the pod its token is bound to, `pod-name`/`pod-uid` in `spec.extra`, on that node)
   (`AddressNotOfNode`): agents serve on their node's or their pod's network, and a name outside
   it could impersonate someone else (the orchestrator's Service name, another host);
7. its key usages include `client auth` and `server auth` and name nothing beyond what a TLS
   client and server need (`UnexpectedUsages`).

The facts are plain data: the operator gathers them (the CSR object, the parsed request, the
node, the requester's pod) and this module decides. Validity: `spec.expirationSeconds` honoured
up to the policy's maximum (the maximum when the request names none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mec_common.identities import edge_host_id
from mec_common.patterns import DNS_LABEL

NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"
"""The `spec.extra` key where the API server puts the node of the pod a token is bound to."""
NODE_UID_EXTRA = "authentication.kubernetes.io/node-uid"
"""The `spec.extra` key of that node's uid (a node recreated under the same name differs)."""
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
"""The `spec.extra` key of the pod a token is bound to (in the ServiceAccount's namespace)."""
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"
"""The `spec.extra` key of that pod's uid."""

EDGE_HOST_LABEL = "mec.dev/edge-host"

REQUIRED_USAGES = frozenset({"client auth", "server auth"})
"""An agent calls the orchestrator (client) and serves the orchestrator's calls (server)."""
ALLOWED_USAGES = REQUIRED_USAGES | {"digital signature", "key encipherment"}
"""What a TLS client and server certificate may also name; anything else is refused."""

MIN_EXPIRATION_SECONDS = 600
"""The shortest validity the API server accepts in `spec.expirationSeconds`."""

APPROVED_REASON = "AgentOfEdgeHost"
"""The reason of the Approved condition."""

NODE_DNS_TYPES = frozenset({"Hostname", "InternalDNS", "ExternalDNS"})
NODE_IP_TYPES = frozenset({"InternalIP", "ExternalIP"})


class DenialReason(StrEnum):
    """The reason of a Denied condition: which check failed (module docstring)."""

    MALFORMED_REQUEST = "MalformedRequest"
    NOT_AGENT_SERVICE_ACCOUNT = "NotAgentServiceAccount"
    NOT_BOUND_TO_POD = "NotBoundToPod"
    NODE_NOT_FOUND = "NodeNotFound"
    NODE_NOT_EDGE_HOST = "NodeNotEdgeHost"
    IDENTITY_MISMATCH = "IdentityMismatch"
    EXTRA_IDENTITY = "ExtraIdentity"
    ADDRESS_NOT_OF_NODE = "AddressNotOfNode"
    UNEXPECTED_USAGES = "UnexpectedUsages"


@dataclass(frozen=True)
class RequestFacts:
    """A CertificateSigningRequest as the decision sees it.

    `unreadable` says why `spec.request` could not be used (not PEM, a forged self-signature,
    not an EC P-256 key); the identity fields are then empty.
    """

    name: str
    username: str
    extra: Mapping[str, tuple[str, ...]]
    usages: tuple[str, ...]
    subject: tuple[tuple[str, str], ...] = ()
    uris: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()
    unreadable: str | None = None

    def extra_value(self, key: str) -> str | None:
        """The single value of an extra key, None when absent or ambiguous."""
        values = self.extra.get(key, ())
        return values[0] if len(values) == 1 else None


@dataclass(frozen=True)
class NodeFacts:
    """The node a request's token is bound to, as read from the API server."""

    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    addresses: tuple[tuple[str, str], ...] = ()  # (type, address), as in status.addresses

    @property
    def ips(self) -> frozenset[str]:
        return frozenset(a for t, a in self.addresses if t in NODE_IP_TYPES and a)

    @property
    def dns_names(self) -> frozenset[str]:
        return frozenset(a for t, a in self.addresses if t in NODE_DNS_TYPES and a)


@dataclass(frozen=True)
class PodFacts:
    """The pod a request's token is bound to, as read from the API server."""

    name: str
    uid: str
    node_name: str
    ips: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who may ask (the agents' ServiceAccount) and for how long at most."""

    agent_namespace: str
    agent_service_account: str
    max_expiration_seconds: int

    def __post_init__(self) -> None:
        if self.max_expiration_seconds < MIN_EXPIRATION_SECONDS:
            raise ValueError(
                f"max_expiration_seconds {self.max_expiration_seconds} is below the API "
                f"server's minimum of {MIN_EXPIRATION_SECONDS}"
            )

    @property
    def agent_username(self) -> str:
        return f"system:serviceaccount:{self.agent_namespace}:{self.agent_service_account}"


@dataclass(frozen=True)
class Decision:
    """Approve (with the host the certificate names) or deny, with a reason and a message."""

    approved: bool
    reason: str
    message: str
    host: str | None = None


def _deny(reason: DenialReason, message: str) -> Decision:
    return Decision(False, reason.value, message)


def _host_of_node(node: NodeFacts) -> str | None:
    host = node.labels.get(EDGE_HOST_LABEL)
    if host is None or len(host) > 63 or not re.match(DNS_LABEL, host):
        return None
    return host


def _identity(request: RequestFacts, host: str) -> Decision | None:
    expected = edge_host_id(host)
    if expected not in request.uris:
        asked = ", ".join(request.uris) or "no URI SAN"
        return _deny(
            DenialReason.IDENTITY_MISMATCH,
            f"the request asks for {asked}; an agent on node of edge host {host!r} may only "
            f"ask for {expected}",
        )
    others = [u for u in request.uris if u != expected] + list(request.other_names)
    if others:
        return _deny(
            DenialReason.EXTRA_IDENTITY,
            f"the request asks for other identities besides {expected}: {', '.join(others)}",
        )
    subject = [f"{k}={v}" for k, v in request.subject if (k, v) != ("CN", host)]
    if subject:
        return _deny(
            DenialReason.EXTRA_IDENTITY,
            f"the subject may only be CN={host}; it also names {', '.join(subject)}",
        )
    return None


def _pod_ips(request: RequestFacts, node: NodeFacts, pod: PodFacts | None) -> frozenset[str]:
    """The IPs of the requester's own pod: the one its token is bound to, on that node."""
    if pod is None or pod.node_name != node.name:
        return frozenset()
    bound = (request.extra_value(POD_NAME_EXTRA), request.extra_value(POD_UID_EXTRA))
    return pod.ips if (pod.name, pod.uid) == bound else frozenset()


def _addresses(request: RequestFacts, node: NodeFacts, pod: PodFacts | None) -> Decision | None:
    ips = node.ips | _pod_ips(request, node, pod)
    foreign = [n for n in request.dns_names if n not in node.dns_names]
    foreign += [ip for ip in request.ip_addresses if ip not in ips]
    if not foreign:
        return None
    known = ", ".join(sorted(ips | node.dns_names)) or "none"
    return _deny(
        DenialReason.ADDRESS_NOT_OF_NODE,
        f"{', '.join(foreign)} not among the addresses of node {node.name!r} or of the "
        f"requester's pod ({known})",
    )


def _usages(request: RequestFacts) -> Decision | None:
    usages = set(request.usages)
    missing = sorted(REQUIRED_USAGES - usages)
    beyond = sorted(usages - ALLOWED_USAGES)
    if not missing and not beyond:
        return None
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"not allowed: {', '.join(beyond)}"] if beyond else []
    )
    return _deny(
        DenialReason.UNEXPECTED_USAGES,
        f"key usages {sorted(usages)}: {'; '.join(problems)}",
    )


def _bound_host(
    request: RequestFacts, node: NodeFacts | None, policy: ApprovalPolicy
) -> str | Decision:
    """The edge host of the requester's node, or the denial of checks 1 to 4."""
    if request.unreadable is not None:
        return _deny(DenialReason.MALFORMED_REQUEST, request.unreadable)
    if request.username != policy.agent_username:
        return _deny(
            DenialReason.NOT_AGENT_SERVICE_ACCOUNT,
            f"requested by {request.username!r}; only {policy.agent_username!r} may ask",
        )
    node_name = request.extra_value(NODE_NAME_EXTRA)
    node_uid = request.extra_value(NODE_UID_EXTRA)
    if node_name is None or node_uid is None:
        return _deny(
            DenialReason.NOT_BOUND_TO_POD,
            f"the requester's token is not bound to a pod: spec.extra has no single "
            f"{NODE_NAME_EXTRA} and {NODE_UID_EXTRA}",
        )
    if node is None or node.name != node_name or node.uid != node_uid:
        return _deny(
            DenialReason.NODE_NOT_FOUND,
            f"node {node_name!r} (uid {node_uid}) of the requester's pod does not exist",
        )
    host = _host_of_node(node)
    if host is None:
        return _deny(
            DenialReason.NODE_NOT_EDGE_HOST,
            f"node {node_name!r} has no valid {EDGE_HOST_LABEL} label: it is no edge host",
        )
    return host


def decide(
    request: RequestFacts,
    node: NodeFacts | None,
    policy: ApprovalPolicy,
    pod: PodFacts | None = None,
) -> Decision:
    """Approve or deny one request.

    `node` and `pod` are the node and pod named in its extra (None: not found, or not read).
    """
    host = _bound_host(request, node, policy)
    if isinstance(host, Decision):
        return host
    assert node is not None  # noqa: S101 - _bound_host found it
    refusal = _identity(request, host) or _addresses(request, node, pod) or _usages(request)
    if refusal is not None:
        return refusal
    return Decision(
        True, APPROVED_REASON, f"agent of edge host {host!r} on node {node.name!r}", host
    )


def validity_seconds(requested: int | None, policy: ApprovalPolicy) -> int:
    """How long the certificate is valid: the request's expirationSeconds, at most the maximum."""
    if requested is None:
        return policy.max_expiration_seconds
    return max(MIN_EXPIRATION_SECONDS, min(requested, policy.max_expiration_seconds))
