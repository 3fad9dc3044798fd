"""ReportInstances: the agents' snapshots of their hosts' app instances, checked and kept per host.

The validation is tested as a function and through the in-loop server over mTLS (refusals with
INVALID_ARGUMENT naming the field, counted; someone else's host PERMISSION_DENIED; an unknown
session FAILED_PRECONDITION); the registry on a hand-driven clock (generations, repeats, stale
reports, the set dropped when the agent is lost or released).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from mec.agent.v1 import registry_pb2, registry_pb2_grpc

from edge_host_agent.link import OrchestratorLink
from edge_host_agent.mp1.models import AppInfo
from edge_host_agent.mp1.registry import AppInstanceRegistry
from edge_host_agent.sessions import HostInstances, SessionTable
from edge_host_agent.settings import AgentSettings
from mec_common.tls import AgentPki
from mec_orchestrator.adapters.agent_link import (
    AgentRegistry,
    AgentServer,
    InstancesReported,
    ReportedInstance,
    validation,
)
from mec_orchestrator.adapters.agent_link.metrics import sample_value
from mec_orchestrator.adapters.agent_link.refusals import InvalidFieldError
from tests.agents.conftest import (
    new_server,
    rpc_code,
    secure_channel,
    server_settings,
    wait_for,
)
from tests.agents.test_refusals import registration
from tests.agents.test_registry import Clock
from tests.agents.test_registry import registration as plain_registration

Instance = registry_pb2.AppInstance


def anchors(**changes: Any) -> registry_pb2.AppInstance:
    values: dict[str, Any] = {
        "app_instance_id": "anchors-a",
        "app_name": "mec-reference-app",
        "endpoint": "http://10.0.0.7:8080",
        "user_context_endpoint": "10.0.0.7:9090",
        "ready": True,
    }
    values.update(changes)
    return Instance(**values)


def report(
    *instances: registry_pb2.AppInstance,
    session: str = "s1",
    generation: int = 1,
    host: str = "edge-a",
) -> registry_pb2.ReportInstancesRequest:
    return registry_pb2.ReportInstancesRequest(
        host_name=host, session_id=session, generation=generation, instances=list(instances)
    )


# The checks, as a function


def test_a_good_report_becomes_plain_values() -> None:
    checked = validation.instances(
        report(
            anchors(),
            anchors(
                app_instance_id="plain-1",
                app_name="no contexts",
                endpoint="",
                user_context_endpoint="",
                ready=False,
            ),
            anchors(app_instance_id="v6", user_context_endpoint="[fd00::7]:9090"),
        )
    )
    assert checked == (
        ReportedInstance(
            "anchors-a", "mec-reference-app", "http://10.0.0.7:8080", "10.0.0.7:9090", True
        ),
        ReportedInstance("plain-1", "no contexts", None, None, False),
        ReportedInstance("v6", "mec-reference-app", "http://10.0.0.7:8080", "[fd00::7]:9090", True),
    )
    assert validation.instances(report()) == ()  # no instances is a report too


BAD = [
    ({"app_instance_id": ""}, "instances[0].app_instance_id: must not be empty"),
    ({"app_instance_id": "has space"}, "instances[0].app_instance_id: 'has space' is not"),
    ({"app_instance_id": "x" * 129}, "instances[0].app_instance_id:"),
    ({"app_instance_id": "-leading"}, "instances[0].app_instance_id:"),
    ({"app_name": ""}, "instances[0].app_name: must not be empty"),
    ({"app_name": "n" * 257}, "instances[0].app_name: at most 256 characters"),
    ({"app_name": "bell\a"}, "instances[0].app_name: must not contain control characters"),
    ({"endpoint": "10.0.0.7:8080"}, "instances[0].endpoint:"),
    ({"endpoint": "http://"}, "instances[0].endpoint:"),
    ({"endpoint": "http://h/a b"}, "instances[0].endpoint:"),
    ({"endpoint": "http://h/" + "p" * 2048}, "instances[0].endpoint: at most 2048 characters"),
    ({"user_context_endpoint": "no-port"}, "instances[0].user_context_endpoint:"),
    ({"user_context_endpoint": "h:0"}, "instances[0].user_context_endpoint:"),
    ({"user_context_endpoint": "h:65536"}, "instances[0].user_context_endpoint:"),
    ({"user_context_endpoint": "http://h:1"}, "instances[0].user_context_endpoint:"),
]


@pytest.mark.parametrize(("changes", "message"), BAD)
def test_a_bad_field_is_refused_naming_it(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        validation.instances(report(anchors(**changes)))
    assert str(refused.value).startswith(message), str(refused.value)


def test_ids_are_unique_and_the_count_bounded() -> None:
    with pytest.raises(InvalidFieldError, match=r"^instances\[1\].app_instance_id: 'anchors-a'"):
        validation.instances(report(anchors(), anchors(ready=False)))
    many = [anchors(app_instance_id=f"i-{n}") for n in range(validation.MAX_INSTANCES + 1)]
    with pytest.raises(InvalidFieldError, match=r"^instances: at most 1024"):
        validation.instances(report(*many))
    assert len(validation.instances(report(*many[:-1]))) == validation.MAX_INSTANCES


# The registry: generations, repeats, losses


def test_the_registry_keeps_the_newest_report_of_the_live_session() -> None:
    clock = Clock()
    registry = AgentRegistry(1.0, 3.0, clock=clock.monotonic, wall_clock=clock.wall)
    events = registry.subscribe()
    session = registry.register(plain_registration("edge-a")).session_id
    assert registry.instances("edge-a") is None  # nothing reported yet: unknown, not empty
    one = (ReportedInstance("a", "app", None, "h:1", False),)
    two = (ReportedInstance("a", "app", None, "h:1", True),)
    events.pending()

    assert registry.report_instances("edge-a", session, 3, one) == 3
    assert registry.report_instances("edge-a", session, 3, one) == 3  # a repeat: no news
    assert registry.report_instances("edge-a", session, 2, two) == 3  # stale: ignored
    assert registry.instances("edge-a") == one
    assert registry.report_instances("edge-a", session, 4, two) == 4
    assert registry.instances("edge-a") == two
    assert events.pending() == [
        InstancesReported("edge-a", session, 3, one),
        InstancesReported("edge-a", session, 4, two),
    ]

    # A new session (an agent restarted) starts its generations anew.
    again = registry.register(plain_registration("edge-a")).session_id
    assert registry.report_instances("edge-a", again, 0, ()) == 0
    assert registry.instances("edge-a") == ()

    # Lost: the set is dropped with the session.
    clock.now_s += 10
    assert [e.host for e in registry.expire()] == ["edge-a"]
    assert registry.instances("edge-a") is None

    # Released (a standby's hand-off): dropped too.
    third = registry.register(plain_registration("edge-a")).session_id
    registry.report_instances("edge-a", third, 1, one)
    registry.release_all()
    assert registry.instances("edge-a") is None


# Through the server


@pytest.fixture
async def orchestrator(pki: AgentPki) -> AsyncIterator[AgentServer]:
    server = new_server(server_settings(pki, heartbeat_interval_s=1.0, lost_after_s=60.0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


@pytest.fixture
async def client(orchestrator: AgentServer, pki: AgentPki) -> AsyncIterator[Any]:
    async with secure_channel(orchestrator.port, pki.edge_host("edge-a")) as channel:
        yield channel


def refused(orchestrator: AgentServer, code: str) -> float:
    return sample_value(
        orchestrator.metrics,
        "mec_agent_requests_refused_total",
        method="ReportInstances",
        code=code,
    )


async def test_a_report_over_grpc_is_kept_and_published(
    client: Any, orchestrator: AgentServer
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(client)
    session = (await stub.Register(registration())).session_id
    events = orchestrator.registry.subscribe()
    answer = await stub.ReportInstances(report(anchors(), session=session, generation=7))
    assert answer.generation == 7
    kept = orchestrator.registry.instances("edge-a")
    assert kept == (
        ReportedInstance(
            "anchors-a", "mec-reference-app", "http://10.0.0.7:8080", "10.0.0.7:9090", True
        ),
    )
    assert events.pending() == [InstancesReported("edge-a", session, 7, kept)]
    stale = await stub.ReportInstances(report(session=session, generation=6))
    assert stale.generation == 7
    assert orchestrator.registry.instances("edge-a") == kept
    assert sample_value(orchestrator.metrics, "mec_agent_instance_reports_total") == 2


@pytest.mark.parametrize(("changes", "message"), BAD[:3] + BAD[7:8] + BAD[11:12])
async def test_a_malformed_report_is_refused_naming_the_field_and_counted(
    client: Any, orchestrator: AgentServer, changes: dict[str, Any], message: str
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(client)
    session = (await stub.Register(registration())).session_id
    request = report(anchors(**changes), session=session)
    code, details = await rpc_code(stub.ReportInstances(request))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(message), details
    assert orchestrator.registry.instances("edge-a") is None
    assert refused(orchestrator, "INVALID_ARGUMENT") == 1


async def test_reports_need_the_callers_host_and_a_live_session(
    client: Any, orchestrator: AgentServer, pki: AgentPki
) -> None:
    stub = registry_pb2_grpc.AgentRegistryServiceStub(client)
    async with secure_channel(orchestrator.port, pki.edge_host("edge-b")) as channel_b:
        b_stub = registry_pb2_grpc.AgentRegistryServiceStub(channel_b)
        b_session = (await b_stub.Register(registration(host_name="edge-b"))).session_id

    # edge-a's certificate speaks for edge-b: refused before anything else is read.
    code, details = await rpc_code(
        stub.ReportInstances(report(anchors(app_instance_id=""), session=b_session, host="edge-b"))
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert "'edge-b'" in details
    assert orchestrator.registry.instances("edge-b") is None
    assert refused(orchestrator, "PERMISSION_DENIED") == 1

    code, details = await rpc_code(stub.ReportInstances(report(anchors(), session="nope")))
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    assert details.startswith("session_id: not the live session")
    code, details = await rpc_code(stub.ReportInstances(report(anchors(), session="")))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details == "session_id: must not be empty"
    code, details = await rpc_code(stub.ReportInstances(report(anchors(), host="Edge_A")))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("host_name:")
    assert refused(orchestrator, "FAILED_PRECONDITION") == 1
    assert refused(orchestrator, "INVALID_ARGUMENT") == 2
    assert orchestrator.registry.instances("edge-a") is None


# The agent's side: what a refused report does to the session


class FakeRegistryStub:
    """Answers ReportInstances with the given errors in turn, then OK; keeps the requests."""

    def __init__(self, *errors: grpc.StatusCode) -> None:
        self.errors = list(errors)
        self.requests: list[registry_pb2.ReportInstancesRequest] = []
        self.called = asyncio.Event()

    async def ReportInstances(  # noqa: N802 - the gRPC method's name
        self, request: registry_pb2.ReportInstancesRequest, **options: float
    ) -> registry_pb2.ReportInstancesResponse:
        self.requests.append(request)
        self.called.set()
        if self.errors:
            code = self.errors.pop(0)
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no")
        return registry_pb2.ReportInstancesResponse(generation=request.generation)


async def test_the_link_reports_on_every_change_and_a_malformed_refusal_keeps_the_session() -> None:
    registry = AppInstanceRegistry()
    sessions = SessionTable()
    link = OrchestratorLink(AgentSettings(host_name="edge-a", insecure=True), [], None)
    link.report_instances(HostInstances(registry, sessions))
    stub = FakeRegistryStub(grpc.StatusCode.INVALID_ARGUMENT)
    task = asyncio.create_task(link._instance_reports(stub, "s1"))
    try:
        await wait_for(lambda: len(stub.requests) == 1, what="the first report")
        assert not task.done()  # refused as malformed: logged, the session goes on
        registry.register(
            AppInfo.model_validate(
                {
                    "appName": "anchors",
                    "appInstanceId": "anchors-a",
                    "appProfile": {"userContextEndpoint": "127.0.0.1:9090"},
                }
            )
        )
        await wait_for(lambda: len(stub.requests) == 2, what="the report of the change")
        last = stub.requests[-1]
        assert (last.host_name, last.session_id, last.generation) == ("edge-a", "s1", 1)
        assert [(i.app_instance_id, i.user_context_endpoint, i.ready) for i in last.instances] == [
            ("anchors-a", "127.0.0.1:9090", False)
        ]
        assert link.instance_reports_sent == 1
        sessions.admit("anchors-a", "ctx-1", b'{"r": 1}')  # a user's session: reported too
        await wait_for(lambda: len(stub.requests) == 3, what="the report of the session")
        users = stub.requests[-1].instances[0].users
        assert [(u.user_id, u.record) for u in users] == [("ctx-1", b'{"r": 1}')]
        assert stub.requests[-1].generation == 2
        registry.deregister("anchors-a")  # the instance leaves: its sessions end with it
        await wait_for(lambda: sessions.users_of("anchors-a") == [], what="sessions dropped")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # Any other failure ends the session (the next one reports again).
    stub = FakeRegistryStub(grpc.StatusCode.FAILED_PRECONDITION)
    with pytest.raises(grpc.aio.AioRpcError):
        await asyncio.wait_for(link._instance_reports(stub, "s2"), 30)
