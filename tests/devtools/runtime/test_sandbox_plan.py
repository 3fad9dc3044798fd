"""The sandbox plan (pure): volumes, identity and refusals, and the cluster's hosts file."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_devtools.runtime.cluster_names import hosts_text
from mec_devtools.runtime.sandbox import SERVICE_ACCOUNT_DIR, SandboxError, plan_container


def pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "n"},
        "spec": {"containers": [container], **spec},
    }


RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def test_a_restricted_container_gets_its_volumes_identity_and_a_read_only_root() -> None:
    container = {
        "name": "c",
        "securityContext": RESTRICTED,
        "volumeMounts": [
            {"name": "state", "mountPath": "/var/lib/x"},
            {"name": "conf", "mountPath": "/etc/x", "readOnly": True},
            {"name": "kube-api-access-x", "mountPath": SERVICE_ACCOUNT_DIR, "readOnly": True},
        ],
    }
    the_pod = pod(
        container,
        securityContext={"runAsUser": 65532, "runAsGroup": 65533, "fsGroup": 65534},
        volumes=[
            {"name": "state", "emptyDir": {}},
            {"name": "conf", "configMap": {"name": "c"}},
            {
                "name": "kube-api-access-x",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt"}},
                        {"downwardAPI": {"items": []}},
                    ]
                },
            },
        ],
    )
    plan = plan_container(
        the_pod, container, pod_dir="/pods/p", service_account_dir="/pods/p/sa", hosts_file="/h"
    )
    assert (plan.uid, plan.gid, plan.supplementary_groups) == (65532, 65533, (65534,))
    assert plan.read_only_root
    assert [(b.source, b.target, b.read_only) for b in plan.binds] == [
        ("/pods/p/volumes/state", "/var/lib/x", False),
        ("/pods/p/volumes/conf", "/etc/x", True),
        ("/pods/p/sa", SERVICE_ACCOUNT_DIR, True),
        ("/h", "/etc/hosts", True),
    ]
    argv = plan.wrap(["agent", "run"])
    assert argv[:2] == ["unshare", "--mount"]
    assert "--reuid=65532" in argv
    assert "--bounding-set=-all" in argv
    assert argv[-2:] == ["agent", "run"]
    assert "mount -o remount,bind,ro /" in argv[argv.index("-c") + 1]


@pytest.mark.parametrize(
    ("container_security", "volumes", "mounts", "complaint"),
    [
        ({"runAsNonRoot": True}, [], [], "runAsNonRoot without runAsUser"),
        ({"runAsNonRoot": True, "runAsUser": 0}, [], [], "runAsUser 0"),
        ({"runAsUser": -1}, [], [], "runAsUser must be"),
        ({"capabilities": {"add": ["NET_ADMIN"]}}, [], [], "capabilities.add"),
        ({}, [{"name": "h", "hostPath": {"path": "/"}}], [], "hostPath is not supported"),
        ({}, [{"name": "s", "secret": {"secretName": "x"}}], [], "secret is not supported"),
        ({}, [], [{"name": "nothing", "mountPath": "/x"}], "names no volume"),
        ({}, [{"name": "v", "emptyDir": {}}], [{"name": "v", "mountPath": "rel"}], "absolute"),
    ],
)
def test_what_cannot_be_run_is_refused_naming_it(
    container_security: dict[str, Any],
    volumes: list[dict[str, Any]],
    mounts: list[dict[str, Any]],
    complaint: str,
) -> None:
    container = {"name": "c", "securityContext": container_security, "volumeMounts": mounts}
    with pytest.raises(SandboxError, match=complaint):
        plan_container(
            pod(container, volumes=volumes),
            container,
            pod_dir="/p",
            service_account_dir=None,
            hosts_file=None,
        )


@given(
    pod_uid=st.one_of(st.none(), st.integers(1, 2**31)),
    container_uid=st.one_of(st.none(), st.integers(1, 2**31)),
)
def test_the_container_user_wins_and_non_root_is_never_root(
    pod_uid: int | None, container_uid: int | None
) -> None:
    security: dict[str, Any] = {"runAsNonRoot": True}
    if container_uid is not None:
        security["runAsUser"] = container_uid
    container = {"name": "c", "securityContext": security}
    pod_security = {} if pod_uid is None else {"runAsUser": pod_uid}
    the_pod = pod(container, securityContext=pod_security)
    expected = container_uid if container_uid is not None else pod_uid
    if expected is None:
        with pytest.raises(SandboxError):
            plan_container(
                the_pod, container, pod_dir="/p", service_account_dir=None, hosts_file=None
            )
        return
    plan = plan_container(
        the_pod, container, pod_dir="/p", service_account_dir=None, hosts_file=None
    )
    assert plan.uid == expected != 0
    assert plan.drop_privileges


def endpoint_slice(service: str, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
    }


def test_the_hosts_file_names_services_and_statefulset_pods() -> None:
    text = hosts_text(
        [
            endpoint_slice(
                "peers",
                [
                    {"addresses": ["10.0.0.2"], "hostname": "orch-0"},
                    {
                        "addresses": ["10.0.0.3"],
                        "hostname": "orch-1",
                        "conditions": {"ready": False},
                    },
                ],
            ),
            endpoint_slice("api", [{"addresses": ["10.0.0.2"]}]),
            {"metadata": {"namespace": "ns"}, "addressType": "IPv4", "endpoints": []},
        ]
    )
    lines = set(text.splitlines())
    assert "10.0.0.2\torch-0.peers.ns.svc" in lines
    assert "10.0.0.3\torch-1.peers.ns.svc.cluster.local" in lines  # not ready, but named
    assert "10.0.0.2\tpeers.ns.svc" in lines  # the service: its ready endpoint only
    assert "10.0.0.2\tapi.ns.svc" in lines
    assert text.startswith("127.0.0.1\tlocalhost")


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.ip_addresses(v=4).map(str)),
        max_size=8,
    )
)
def test_the_hosts_file_does_not_depend_on_the_order_of_slices(
    services: list[tuple[str, str]],
) -> None:
    slices = [endpoint_slice(name, [{"addresses": [address]}]) for name, address in services]
    # The first address of a name wins, so compare sets of names rather than addresses.
    names = {line.split("\t")[1] for line in hosts_text(slices).splitlines()}
    reversed_names = {line.split("\t")[1] for line in hosts_text(slices[::-1]).splitlines()}
    assert names == reversed_names
    assert {f"{name}.ns.svc" for name, _ in services} <= names


def test_a_mount_over_the_directory_of_other_sources_comes_after_them() -> None:
    container = {
        "name": "c",
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "state", "mountPath": "/var/lib/x"},
        ],
    }
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "state", "emptyDir": {}}]
    plan = plan_container(
        pod(container, volumes=volumes),
        container,
        pod_dir="/tmp/pods/p",
        service_account_dir=None,
        hosts_file="/tmp/h",
    )
    order = [bind.target for bind in plan.ordered_binds()]
    assert order[-1] == "/tmp"  # the sources of the others live under /tmp
    argv = plan.wrap(["x"])
    script = argv[argv.index("-c") + 1]
    assert script.index("/var/lib/x") < script.index("/tmp/pods/p/volumes/tmp /tmp")


def test_the_project_stays_visible_under_an_empty_dir_mounted_over_its_parent() -> None:
    container = {"name": "c", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}
    plan = plan_container(
        pod(container, volumes=[{"name": "tmp", "emptyDir": {}}]),
        container,
        pod_dir="/var/pods/p",
        service_account_dir=None,
        hosts_file=None,
        keep=("/tmp/checkout", "/opt/python"),
    )
    argv = plan.wrap(["x"])
    script = argv[argv.index("-c") + 1].splitlines()
    held = script.index("mount --bind /tmp/checkout /run/mec-sandbox/0")
    mounted = script.index("mount --bind /var/pods/p/volumes/tmp /tmp")
    back = script.index("mount --bind /run/mec-sandbox/0 /tmp/checkout")
    assert held < mounted < back
    assert "mount -o remount,bind,ro /tmp/checkout" in script
    assert not any("/opt/python" in line for line in script)  # nothing hides it
    assert "/run/mec-sandbox" in plan.mount_targets
