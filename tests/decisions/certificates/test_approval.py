"""The approval of agents' certificate requests: examples for every reason, then properties.

Properties over random requests and nodes: an approval implies every check held (the agents'
account, a node labelled with the host, exactly the host's SPIFFE ID, the node's addresses, the
usages); any one departure from an approved request is denied with that departure's reason;
the decision is total (never raises) and validity never exceeds the maximum.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_common.identities import edge_host_id
from mec_orchestrator.decisions.certificates import (
    ALLOWED_USAGES,
    APPROVED_REASON,
    MIN_EXPIRATION_SECONDS,
    NODE_NAME_EXTRA,
    NODE_UID_EXTRA,
    POD_NAME_EXTRA,
    POD_UID_EXTRA,
    REQUIRED_USAGES,
    ApprovalPolicy,
    DenialReason,
    NodeFacts,
    PodFacts,
    RequestFacts,
    decide,
    validity_seconds,
)

POLICY = ApprovalPolicy("mec-system", "edge-host-agent", 86400)
AGENT = POLICY.agent_username
NODE = NodeFacts(
    "node-1",
    "uid-1",
    {"mec.dev/edge-host": "edge-a"},
    (("InternalIP", "10.0.0.5"), ("Hostname", "node-1"), ("ExternalIP", "192.0.2.7")),
)
GOOD = RequestFacts(
    name="edge-a-abc",
    username=AGENT,
    extra={NODE_NAME_EXTRA: ("node-1",), NODE_UID_EXTRA: ("uid-1",)},
    usages=("digital signature", "client auth", "server auth"),
    subject=(("CN", "edge-a"),),
    uris=(edge_host_id("edge-a"),),
    dns_names=("node-1",),
    ip_addresses=("10.0.0.5",),
)


def test_the_agent_of_the_node_s_host_is_approved() -> None:
    decision = decide(GOOD, NODE, POLICY)
    assert decision.approved
    assert decision.reason == APPROVED_REASON
    assert decision.host == "edge-a"
    assert "edge-a" in decision.message


@pytest.mark.parametrize(
    ("request_facts", "node", "reason", "named"),
    [
        (replace(GOOD, unreadable="not PEM"), NODE, DenialReason.MALFORMED_REQUEST, "not PEM"),
        (
            replace(GOOD, username="system:serviceaccount:mec-system:other"),
            NODE,
            DenialReason.NOT_AGENT_SERVICE_ACCOUNT,
            ":other",
        ),
        (replace(GOOD, extra={}), NODE, DenialReason.NOT_BOUND_TO_POD, NODE_NAME_EXTRA),
        (GOOD, None, DenialReason.NODE_NOT_FOUND, "node-1"),
        (GOOD, replace(NODE, uid="uid-2"), DenialReason.NODE_NOT_FOUND, "uid-1"),
        (GOOD, replace(NODE, labels={}), DenialReason.NODE_NOT_EDGE_HOST, "mec.dev/edge-host"),
        (
            GOOD,
            replace(NODE, labels={"mec.dev/edge-host": "Not_A_Label"}),
            DenialReason.NODE_NOT_EDGE_HOST,
            "node-1",
        ),
        (
            replace(GOOD, uris=(edge_host_id("edge-b"),)),
            NODE,
            DenialReason.IDENTITY_MISMATCH,
            "edge-b",
        ),
        (replace(GOOD, uris=()), NODE, DenialReason.IDENTITY_MISMATCH, "no URI SAN"),
        (
            replace(GOOD, uris=(*GOOD.uris, "spiffe://mec.dev/orchestrator")),
            NODE,
            DenialReason.EXTRA_IDENTITY,
            "spiffe://mec.dev/orchestrator",
        ),
        (
            replace(GOOD, other_names=("RFC822Name:a@b.c",)),
            NODE,
            DenialReason.EXTRA_IDENTITY,
            "a@b.c",
        ),
        (
            replace(GOOD, subject=(("O", "system:masters"), ("CN", "edge-a"))),
            NODE,
            DenialReason.EXTRA_IDENTITY,
            "O=system:masters",
        ),
        (
            replace(GOOD, dns_names=("mec-orchestrator.mec-system.svc",)),
            NODE,
            DenialReason.ADDRESS_NOT_OF_NODE,
            "mec-orchestrator.mec-system.svc",
        ),
        (
            replace(GOOD, ip_addresses=("10.0.0.6",)),
            NODE,
            DenialReason.ADDRESS_NOT_OF_NODE,
            "10.0.0.6",
        ),
        (
            replace(GOOD, usages=("client auth",)),
            NODE,
            DenialReason.UNEXPECTED_USAGES,
            "missing server auth",
        ),
        (
            replace(GOOD, usages=(*GOOD.usages, "cert sign")),
            NODE,
            DenialReason.UNEXPECTED_USAGES,
            "not allowed: cert sign",
        ),
    ],
)
def test_each_failed_check_is_the_denial_s_reason(
    request_facts: RequestFacts, node: NodeFacts | None, reason: DenialReason, named: str
) -> None:
    decision = decide(request_facts, node, POLICY)
    assert not decision.approved
    assert decision.reason == reason.value
    assert named in decision.message
    assert decision.host is None


POD = PodFacts("agent-xyz", "pod-uid-1", "node-1", frozenset({"10.244.0.9"}))
BOUND = {**GOOD.extra, POD_NAME_EXTRA: ("agent-xyz",), POD_UID_EXTRA: ("pod-uid-1",)}


def test_the_requester_s_own_pod_ip_is_an_allowed_address() -> None:
    asking = replace(GOOD, extra=BOUND, ip_addresses=("10.244.0.9",))
    assert decide(asking, NODE, POLICY, POD).approved
    assert not decide(asking, NODE, POLICY).approved  # the pod not read: not allowed


@pytest.mark.parametrize(
    "pod",
    [
        replace(POD, uid="pod-uid-2"),  # another pod of the same name (recreated)
        replace(POD, name="other"),  # not the pod the token is bound to
        replace(POD, node_name="node-2"),  # not on the request's node
    ],
)
def test_another_pod_s_ip_is_not_an_allowed_address(pod: PodFacts) -> None:
    asking = replace(GOOD, extra=BOUND, ip_addresses=("10.244.0.9",))
    decision = decide(asking, NODE, POLICY, pod)
    assert decision.reason == DenialReason.ADDRESS_NOT_OF_NODE.value
    assert "10.244.0.9" in decision.message


def test_validity_honours_the_request_up_to_the_maximum() -> None:
    assert validity_seconds(None, POLICY) == 86400
    assert validity_seconds(3600, POLICY) == 3600
    assert validity_seconds(10 * 86400, POLICY) == 86400
    assert validity_seconds(60, POLICY) == MIN_EXPIRATION_SECONDS


def test_a_policy_below_the_api_server_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_expiration_seconds 60"):
        ApprovalPolicy("ns", "sa", 60)


# -- properties -----------------------------------------------------------------------------

labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?\Z")
ips = st.ip_addresses().map(str)
usage_names = st.sampled_from(
    sorted(ALLOWED_USAGES | {"cert sign", "code signing", "any", "email protection"})
)


@st.composite
def nodes(draw: st.DrawFn) -> NodeFacts:
    addresses = draw(
        st.lists(
            st.tuples(st.sampled_from(["InternalIP", "ExternalIP"]), ips)
            | st.tuples(st.sampled_from(["Hostname", "InternalDNS"]), labels),
            max_size=4,
        )
    )
    host = draw(st.none() | labels | st.just("BAD HOST"))
    return NodeFacts(
        draw(labels),
        draw(st.uuids().map(str)),
        {} if host is None else {"mec.dev/edge-host": host},
        tuple(addresses),
    )


@st.composite
def requests(draw: st.DrawFn, node: NodeFacts) -> RequestFacts:
    host = node.labels.get("mec.dev/edge-host", "edge-x")
    node_addresses = [a for _, a in node.addresses]
    return RequestFacts(
        name="r",
        username=draw(st.sampled_from([AGENT, "system:serviceaccount:x:y", "alice"])),
        extra=draw(
            st.sampled_from(
                [
                    {NODE_NAME_EXTRA: (node.name,), NODE_UID_EXTRA: (node.uid,)},
                    {
                        NODE_NAME_EXTRA: (node.name,),
                        NODE_UID_EXTRA: (node.uid,),
                        POD_NAME_EXTRA: ("p",),
                        POD_UID_EXTRA: ("pu",),
                    },
                    {NODE_NAME_EXTRA: ("elsewhere",), NODE_UID_EXTRA: (node.uid,)},
                    {NODE_NAME_EXTRA: (node.name, node.name), NODE_UID_EXTRA: (node.uid,)},
                    {},
                ]
            )
        ),
        usages=tuple(draw(st.lists(usage_names, max_size=5))),
        subject=draw(st.sampled_from([(("CN", host),), (), (("O", "x"), ("CN", host))])),
        uris=tuple(
            draw(
                st.lists(
                    st.sampled_from([edge_host_id(host), edge_host_id("other"), "urn:x"]),
                    max_size=3,
                )
            )
        ),
        dns_names=tuple(draw(st.lists(st.sampled_from([*node_addresses, "evil"]), max_size=2))),
        ip_addresses=tuple(
            draw(st.lists(st.sampled_from([*node_addresses, "10.9.9.9", POD_IP]), max_size=2))
        ),
        other_names=tuple(draw(st.lists(st.just("RFC822Name:a@b"), max_size=1))),
        unreadable=draw(st.none() | st.just("bad")),
    )


POD_IP = "10.244.1.1"


@st.composite
def cases(draw: st.DrawFn) -> tuple[RequestFacts, NodeFacts | None, PodFacts | None]:
    node = draw(nodes())
    request = draw(requests(node))
    pod = PodFacts(
        draw(st.sampled_from(["p", "q"])),
        draw(st.sampled_from(["pu", "qu"])),
        draw(st.sampled_from([node.name, "elsewhere"])),
        frozenset({POD_IP}),
    )
    return request, draw(st.just(node) | st.none()), draw(st.just(pod) | st.none())


@given(cases())
def test_an_approval_implies_every_check_held(
    case: tuple[RequestFacts, NodeFacts | None, PodFacts | None],
) -> None:
    request, node, pod = case
    decision = decide(request, node, POLICY, pod)
    assert decision.message
    if not decision.approved:
        assert decision.reason in {reason.value for reason in DenialReason}
        assert decision.host is None
        return
    assert node is not None
    host = node.labels["mec.dev/edge-host"]
    assert decision.host == host
    assert request.unreadable is None
    assert request.username == AGENT
    assert request.extra[NODE_NAME_EXTRA] == (node.name,)
    assert request.extra[NODE_UID_EXTRA] == (node.uid,)
    assert set(request.uris) == {edge_host_id(host)}
    assert not request.other_names
    assert set(request.subject) <= {("CN", host)}
    own_pod = (
        pod is not None
        and pod.node_name == node.name
        and request.extra.get(POD_NAME_EXTRA) == (pod.name,)
        and request.extra.get(POD_UID_EXTRA) == (pod.uid,)
    )
    allowed = {a for _, a in node.addresses} | (set(pod.ips) if own_pod and pod else set())
    assert set(request.dns_names) | set(request.ip_addresses) <= allowed
    assert REQUIRED_USAGES <= set(request.usages) <= ALLOWED_USAGES


DEPARTURES = {
    DenialReason.NOT_AGENT_SERVICE_ACCOUNT: lambda r: replace(r, username="alice"),
    DenialReason.NOT_BOUND_TO_POD: lambda r: replace(r, extra={}),
    DenialReason.IDENTITY_MISMATCH: lambda r: replace(r, uris=(edge_host_id("zz-other"),)),
    DenialReason.EXTRA_IDENTITY: lambda r: replace(r, uris=(*r.uris, "urn:extra")),
    DenialReason.ADDRESS_NOT_OF_NODE: lambda r: replace(r, ip_addresses=("203.0.113.250",)),
    DenialReason.UNEXPECTED_USAGES: lambda r: replace(r, usages=(*r.usages, "cert sign")),
}


@given(
    host=labels,
    addresses=st.lists(ips, min_size=1, max_size=3),
    departure=st.sampled_from(sorted(DEPARTURES)),
)
def test_any_one_departure_from_an_approved_request_is_denied_for_it(
    host: str, addresses: list[str], departure: DenialReason
) -> None:
    node = NodeFacts(
        "n", "u", {"mec.dev/edge-host": host}, tuple(("InternalIP", a) for a in addresses)
    )
    good = RequestFacts(
        name="r",
        username=AGENT,
        extra={NODE_NAME_EXTRA: ("n",), NODE_UID_EXTRA: ("u",)},
        usages=tuple(sorted(REQUIRED_USAGES)),
        subject=(("CN", host),),
        uris=(edge_host_id(host),),
        ip_addresses=tuple(addresses),
    )
    assert decide(good, node, POLICY).approved
    decision = decide(DEPARTURES[departure](good), node, POLICY)
    assert not decision.approved
    assert decision.reason == departure.value


@given(
    requested=st.none() | st.integers(min_value=0, max_value=10**9), maximum=st.integers(600, 10**8)
)
def test_validity_never_exceeds_the_maximum(requested: int | None, maximum: int) -> None:
    policy = ApprovalPolicy("ns", "sa", maximum)
    seconds = validity_seconds(requested, policy)
    assert MIN_EXPIRATION_SECONDS <= seconds <= maximum
    if requested is not None and MIN_EXPIRATION_SECONDS <= requested <= maximum:
        assert seconds == requested
