"""`helm install` for real, on etcd and on kine (k3s's datastore), with the chart's pods running.

Each datastore gets a cluster of its own (edge hosts edge-a and edge-b, and a node `control`
that is not an edge host), a network in which each node is a namespace, and the emulated
runtime with sandboxes: the chart's orchestrator and agent pods run as real processes, as user
65532 with a read-only root and no capabilities, logged in with the ServiceAccount tokens the
chart gives them — so what the chart grants is proved enough. Its namespace enforces the
restricted Pod Security Standard, so the API server's own admission checks the pods too.

The story, in order: install (and wait for every pod to be Ready); the agents get their
certificates through the CSR API; the orchestrator places an EdgeApp; `helm test` passes (API,
an authorised ETSI call, an agent session); `kubectl auth can-i --list` for each account is the
expected table and nothing more; an upgrade to the next chart version rolls the pods and keeps
the CA; uninstall leaves only the CRDs (and their objects), as the CRD policy says.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config

from mec_devtools.devcluster import ClusterInfo, DevCluster, DevClusterSettings
from mec_devtools.devcluster.nodes import node_manifest
from mec_devtools.runtime import EmulatedRuntime
from mec_devtools.sim.network import Network, cleanup_leftovers, leftover_names
from mec_devtools.sim.network.netns import missing_capabilities
from tests import conftest
from tests.helm.chart import CHART, NAMESPACE, RELEASE, helm

EDGE_HOSTS = ("edge-a", "edge-b")
CONTROL = "control"  # the role label of the nodes the orchestrator replicas run on
CONTROL_NODES = ("control-0", "control-1")  # a replica each: pods of a node share its namespace
PREFIX = "hc"
FULLNAME = f"{RELEASE}-mec-orchestrator"
ORCHESTRATOR_SA = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}-orchestrator"
AGENT_SA = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}-agent"
INSTALL_VALUES = {
    "orchestrator.nodeSelector.mec\\.dev/role": CONTROL,
    "orchestrator.agentLostAfterSeconds": "10",
}
# One replica per node, required (the chart only prefers it): pods of one emulated node share
# its network namespace, so two replicas there would want the same ports.
SPREAD = (
    '--set-json=orchestrator.affinity={"podAntiAffinity":{"requiredDuringSchedulingIgnored'
    'DuringExecution":[{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":'
    '{"app.kubernetes.io/component":"orchestrator"}}}]}}'
)


@pytest.fixture(scope="module", params=["etcd", "kine"])
def chart_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterInfo]:
    datastore = str(request.param)
    settings = DevClusterSettings(
        state_dir=tmp_path_factory.mktemp(f"chart-{datastore}"), datastore=datastore
    )
    cluster = DevCluster(settings)
    info = cluster.up(list(EDGE_HOSTS))
    try:
        for name in CONTROL_NODES:
            control = node_manifest(name)
            labels = control["metadata"]["labels"]
            del labels["mec.dev/edge-host"], labels["node-role.kubernetes.io/edge"]
            labels["mec.dev/role"] = CONTROL
            run_kubectl(info, "apply", "-f", "-", stdin=yaml.safe_dump(control))
        yield info
    finally:
        cluster.down()


@pytest.fixture
def network() -> Iterator[Network]:
    problems = missing_capabilities()
    if problems:
        pytest.fail("the chart's pods cannot run here: " + "; ".join(problems))
    cleanup_leftovers(PREFIX)
    net = Network(name_prefix=PREFIX, seed=11)
    with net:
        yield net
    assert leftover_names(net.tag) == []


def run_kubectl(
    info: ClusterInfo, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """The cluster's kubectl (tests/conftest.py); a failure fails the step unless check=False."""
    done = conftest.run_kubectl(info, *args, stdin=stdin)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr}")
    return done


def helm_in(info: ClusterInfo, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return helm(*args, env={"KUBECONFIG": str(info.kubeconfig)}, check=check, timeout=600)


async def ahelm(
    info: ClusterInfo, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """helm on a thread: the emulated runtime shares this event loop and must keep running."""
    return await asyncio.to_thread(helm_in, info, *args, check=check)


async def akubectl(
    info: ClusterInfo, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_kubectl, info, *args, stdin=stdin, check=check)


def values_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


async def wait_for(
    what: str, check: Callable[[], Any], within: float, diagnose: Callable[[], str]
) -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    pytest.fail(f"{what}: not within {within} s (last: {last!r})\n{diagnose()}")


def next_version_chart(directory: Path) -> Path:
    """The chart as its next patch release would be (what `helm upgrade` goes to)."""
    target = directory / "mec-orchestrator"
    shutil.copytree(CHART, target, symlinks=False)
    chart_yaml = yaml.safe_load((target / "Chart.yaml").read_text())
    major, minor, patch = str(chart_yaml["version"]).split(".")
    chart_yaml["version"] = f"{major}.{minor}.{int(patch) + 1}"
    (target / "Chart.yaml").write_text(yaml.safe_dump(chart_yaml, sort_keys=False))
    return target


def can_i_table(info: ClusterInfo, user: str, namespace: str) -> set[tuple[str, str, str]]:
    """(resource, resource names, verbs) rows of `kubectl auth can-i --list` for a user.

    Rows of non-resource URLs (which start with blanks: no resource) are left out.
    """
    done = run_kubectl(info, "auth", "can-i", "--list", "--as", user, "-n", namespace)
    rows: set[tuple[str, str, str]] = set()
    for line in done.stdout.splitlines()[1:]:
        if not line or line[0].isspace():
            continue
        columns = re.split(r"\s{2,}", line.strip())
        if len(columns) == 4:
            rows.add((columns[0], columns[2], columns[3]))
    return rows


async def test_the_chart_installs_runs_upgrades_and_uninstalls(
    chart_cluster: ClusterInfo, network: Network, tmp_path: Path
) -> None:
    info = chart_cluster
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(info.kubeconfig), client_configuration=configuration
    )
    api = client.ApiClient(configuration)
    nodes = {
        name: network.add_node(name.replace("-", "_")) for name in (*EDGE_HOSTS, *CONTROL_NODES)
    }
    runtime = EmulatedRuntime(
        kubeconfig=info.kubeconfig,
        network=network,
        nodes=nodes,
        log_dir=tmp_path / "pods",
        sandbox=True,
    )

    def pod_logs() -> str:
        parts = []
        for path in sorted((tmp_path / "pods").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        listing = run_kubectl(info, "get", "pods", "-A", "-o", "wide", check=False).stdout
        return listing + "\n".join(parts)

    try:
        async with runtime:
            await scenario(info, api, tmp_path, pod_logs)
    finally:
        await api.close()


async def scenario(
    info: ClusterInfo, api: client.ApiClient, tmp_path: Path, pod_logs: Callable[[], str]
) -> None:
    core = client.CoreV1Api(api)
    await akubectl(info, "create", "namespace", NAMESPACE)
    await akubectl(
        info, "label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted"
    )

    # 1. install, and every pod Ready (the StatefulSet's two, an agent per edge host).
    started = time.monotonic()
    installed = await ahelm(
        info,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        *values_args(INSTALL_VALUES),
        SPREAD,
        "--wait",
        "--timeout",
        "180s",
        check=False,
    )
    assert installed.returncode == 0, installed.stderr + pod_logs()
    print(f"helm install --wait: {time.monotonic() - started:.1f} s")
    pods = (await core.list_namespaced_pod(NAMESPACE)).items
    placed = sorted((p.metadata.name, p.spec.node_name) for p in pods)
    assert sorted(node for name, node in placed if "-orchestrator-orchestrator-" in name) == list(
        CONTROL_NODES
    )
    assert {node for name, node in placed if "agent" in name} == set(EDGE_HOSTS), placed

    # 2. the agents' certificates came through the CSR API, approved by the orchestrator.
    async def issued() -> list[Any]:
        csrs = (await client.CertificatesV1Api(api).list_certificate_signing_request()).items
        ours = [c for c in csrs if c.spec.signer_name == "mec.dev/edge-agent"]
        done = [c for c in ours if c.status and c.status.certificate]
        return done if len(done) >= len(EDGE_HOSTS) else []

    csrs = await wait_for("agents' certificates", issued, 90, pod_logs)
    assert {c.spec.username for c in csrs} == {AGENT_SA}

    # 3. EdgeHosts, a Zone and an EdgeApp: the agents say they are connected, the app is placed.
    await akubectl(info, "apply", "-f", "-", stdin=yaml.safe_dump_all(world_objects()))

    async def connected() -> list[str]:
        hosts = await client.CustomObjectsApi(api).list_cluster_custom_object(
            "mec.dev", "v1alpha1", "edgehosts"
        )
        up = [
            h["metadata"]["name"]
            for h in hosts["items"]
            if (h.get("status") or {}).get("agentConnected") is True
        ]
        return sorted(up) if len(up) == len(EDGE_HOSTS) else []

    assert await wait_for("agents connected", connected, 90, pod_logs) == list(EDGE_HOSTS)

    async def placed_app() -> list[str]:
        deployments = await client.AppsV1Api(api).list_namespaced_deployment(
            "default", label_selector="mec.dev/app=probe-app"
        )
        return [d.metadata.name for d in deployments.items]

    await wait_for("EdgeApp instances", placed_app, 90, pod_logs)

    await run_helm_test_and_check_permissions(info, tmp_path, pod_logs)
    await upgrade(info, core, tmp_path, pod_logs, connected)
    # 7. uninstall: nothing of the release is left but the CRDs (kept) and their objects.
    await ahelm(info, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "120s")

    async def nothing_left() -> bool:
        left = (
            await akubectl(
                info,
                "get",
                "all,configmaps,secrets,serviceaccounts,roles,rolebindings,networkpolicies,"
                "poddisruptionbudgets,endpointslices",
                "-n",
                NAMESPACE,
                "-o",
                "name",
            )
        ).stdout.split()
        left = [
            name
            for name in left
            if name not in ("configmap/kube-root-ca.crt", "serviceaccount/default")
        ]
        cluster_wide = (
            await akubectl(
                info,
                "get",
                "clusterroles,clusterrolebindings",
                "-l",
                f"app.kubernetes.io/instance={RELEASE}",
                "-o",
                "name",
            )
        ).stdout.split()
        return not left and not cluster_wide

    await wait_for("an empty namespace after uninstall", nothing_left, 60, pod_logs)
    crds = (await akubectl(info, "get", "crd", "-o", "name")).stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/edgeapps.mec.dev" in crds
    assert (await akubectl(info, "get", "edgehosts", "-o", "name")).stdout.split()  # kept with them


async def run_helm_test_and_check_permissions(
    info: ClusterInfo, tmp_path: Path, pod_logs: Callable[[], str]
) -> None:
    # 4. helm test: the API is ready, an ETSI call is authorised, an agent holds a session.
    tested = await ahelm(
        info, "test", RELEASE, "--namespace", NAMESPACE, "--timeout", "180s", check=False
    )
    test_log = runtime_log(tmp_path, f"{NAMESPACE}_{FULLNAME}-test")
    assert tested.returncode == 0, tested.stdout + tested.stderr + test_log + pod_logs()
    assert "PASS agent-session" in test_log, test_log

    # 5. what each account may do: exactly the expected table, nothing dangerous.
    await asyncio.to_thread(check_permissions, info)


async def upgrade(
    info: ClusterInfo,
    core: client.CoreV1Api,
    tmp_path: Path,
    pod_logs: Callable[[], str],
    connected: Callable[[], Any],
) -> None:
    # 6. upgrade to the next chart version: the pods roll, the CA is kept.
    ca_before = (await core.read_namespaced_secret(f"{FULLNAME}-ca", NAMESPACE)).data
    uids_before = {p.metadata.uid for p in (await core.list_namespaced_pod(NAMESPACE)).items}
    next_chart = next_version_chart(tmp_path / "next")
    await ahelm(
        info,
        "upgrade",
        RELEASE,
        str(next_chart),
        "--namespace",
        NAMESPACE,
        *values_args({**INSTALL_VALUES, "orchestrator.podAnnotations.upgraded": "yes"}),
        SPREAD,
        "--wait",
        "--timeout",
        "240s",
    )
    history = (await ahelm(info, "history", RELEASE, "-n", NAMESPACE, "-o", "yaml")).stdout
    assert [r["chart"] for r in yaml.safe_load(history)][-1].endswith("-0.1.1")
    after = (await core.list_namespaced_pod(NAMESPACE)).items
    orchestrators = [p for p in after if "-orchestrator-orchestrator-" in p.metadata.name]
    assert all(p.metadata.annotations.get("upgraded") == "yes" for p in orchestrators)
    assert not {p.metadata.uid for p in orchestrators} & uids_before
    assert (await core.read_namespaced_secret(f"{FULLNAME}-ca", NAMESPACE)).data == ca_before
    assert await wait_for("agents connected after the upgrade", connected, 90, pod_logs)


def runtime_log(tmp_path: Path, stem: str) -> str:
    """What a pod's processes printed (kwok nodes have no kubelet to serve `kubectl logs`)."""
    path = tmp_path / "pods" / f"{stem}.log"
    return path.read_text(errors="replace") if path.exists() else f"(no log {path.name})"


def world_objects() -> list[dict[str, Any]]:
    """Two EdgeHosts at Melbourne sites, their Zone, and an app to place (a kwok-faked image)."""
    hosts = [
        ("edge-a", -37.81517, 144.97476),
        ("edge-b", -37.81360, 144.96311),
    ]
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "EdgeHost",
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": {"mec.dev/edge-host": name},
                "location": {"latitude": lat, "longitude": lon},
                "zone": "cbd",
                "agentEndpoint": f"{name}.edge.example.net:50061",
            },
        }
        for name, lat, lon in hosts
    ]
    objects.append(
        {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "Zone",
            "metadata": {"name": "cbd"},
            "spec": {
                "accessPoints": [
                    {
                        "id": f"ap-{name}",
                        "location": {"latitude": lat, "longitude": lon},
                        "probeReflector": f"10.64.0.{index + 1}:7777",
                    }
                    for index, (name, lat, lon) in enumerate(hosts)
                ]
            },
        }
    )
    objects.append(
        {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "EdgeApp",
            "metadata": {"name": "probe-app", "namespace": "default"},
            "spec": {
                "appDId": "7f0c1a52-2b1e-4c1f-9d0a-3b6f1e2d4c5a",
                "appName": "probe-app",
                "appProvider": "Tests",
                "appSoftVersion": "1.0.0",
                "latency": {"maxMs": 50},
                "template": {
                    "spec": {"containers": [{"name": "app", "image": "registry.test/app:1"}]}
                },
            },
        }
    )
    return objects


EXPECTED_ORCHESTRATOR_EXTRA = {
    # Every authenticated user may do these (system:basic-user, system:discovery).
    "selfsubjectreviews.authentication.k8s.io",
    "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io",
}


def can_i_name(group: str, resource: str) -> str:
    """How `kubectl auth can-i --list` names a resource: plural.group/subresource."""
    plural, _, subresource = resource.partition("/")
    name = f"{plural}.{group}" if group else plural
    return f"{name}/{subresource}" if subresource else name


def check_permissions(info: ClusterInfo) -> None:
    from edge_host_agent.permissions import agent_rules
    from mec_orchestrator.operator.permissions import orchestrator_rules

    for user, rules in ((ORCHESTRATOR_SA, orchestrator_rules()), (AGENT_SA, agent_rules())):
        table = can_i_table(info, user, NAMESPACE)
        resources = {resource for resource, _, _ in table if resource}
        assert "*.*" not in resources, table
        for resource, _names, verbs in table:
            assert "*" not in verbs.split(), (user, resource, verbs)
            for verb in ("escalate", "bind", "impersonate"):
                assert verb not in verbs, (user, resource, verbs)
        expected = EXPECTED_ORCHESTRATOR_EXTRA | {
            can_i_name(group, resource)
            for rule in rules
            for group in rule.api_groups
            for resource in rule.resources
        }
        assert resources == expected, (user, sorted(resources ^ expected))
        # Secrets: only in its own namespace, never in another.
        elsewhere = can_i_table(info, user, "default")
        assert not any(r == "secrets" for r, _, _ in elsewhere), (user, elsewhere)
