"""The view of instance Deployments: fed by the watch and by the answers to the operator's own
writes, in either order, it keeps the newest; the operator's bookkeeping is read from labels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.adapters.kube.connection import Connection
from mec_orchestrator.adapters.kube.instances import (
    HASH_LABEL,
    SERVICE_HASH_LABEL,
    unneeded_since_label,
)
from mec_orchestrator.decisions.instances.manifests import UNNEEDED_SINCE_LABEL
from mec_orchestrator.operator.cluster_view import ClusterView
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState


def deployment(
    resource_version: str, *, generation: int, observed: int, **labels: str
) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": "u1",
            "name": "ar-edge-b",
            "namespace": "ns",
            "resourceVersion": resource_version,
            "generation": generation,
            "labels": {"mec.dev/app": "ar", "mec.dev/edge-host": "edge-b", **labels},
        },
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
        },
    }


def test_a_late_answer_does_not_hide_what_the_watch_delivered() -> None:
    view = ClusterView()
    view.update_instance("u1", deployment("120", generation=2, observed=2))  # rolled out (watch)
    view.update_instance("u1", deployment("110", generation=2, observed=1))  # our write's answer
    (seen,) = view.observed_instances("ns", "ar")
    assert seen.instance.ready
    assert seen.resource_version == 120


def test_the_answer_to_a_write_counts_until_the_controller_has_rolled_it_out() -> None:
    view = ClusterView()
    view.update_instance("u1", deployment("100", generation=1, observed=1))
    assert view.observed_instances("ns", "ar")[0].instance.ready
    view.update_instance("u1", deployment("110", generation=2, observed=1))  # a new template
    assert not view.observed_instances("ns", "ar")[0].instance.ready
    view.update_instance("u1", None)
    assert view.observed_instances("ns", "ar") == []


def test_hashes_and_the_idle_stamp_are_read_from_labels() -> None:
    since = datetime(2026, 11, 21, 8, 0, 5, tzinfo=UTC)
    body = deployment(
        "100",
        generation=1,
        observed=1,
        **{
            HASH_LABEL: "abc",
            SERVICE_HASH_LABEL: "def",
            UNNEEDED_SINCE_LABEL: unneeded_since_label(since),
        },
    )
    view = ClusterView()
    view.update_instance("u1", body)
    (seen,) = view.observed_instances("ns", "ar")
    assert (seen.manifest_hash, seen.service_hash) == ("abc", "def")
    assert seen.instance.unneeded_since == since


def test_only_the_echo_of_the_operators_own_write_is_recognised() -> None:
    view = ClusterView()
    written = deployment("110", generation=2, observed=1)
    view.record_written_instance(written)
    assert view.echoes_own_write("u1", written)
    assert not view.echoes_own_write("u1", deployment("111", generation=2, observed=2))
    view.update_instance("u1", None)
    assert not view.echoes_own_write("u1", written)


def test_the_newest_body_of_an_app_is_kept_whichever_arrives_first() -> None:
    state = OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )
    key = ("ns", "ar")

    def body(version: str, hosts: list[str]) -> dict[str, Any]:
        instances = [{"host": h} for h in hosts]
        return {"metadata": {"resourceVersion": version}, "status": {"instances": instances}}

    state.note_body(key, body("200", ["edge-b"]))  # the answer to the operator's status write
    state.note_body(key, body("190", []))  # the watch's older event, delivered after it
    assert state.newest_body(key, {})["status"]["instances"] == [{"host": "edge-b"}]
    state.note_body(key, body("210", ["edge-c"]))
    assert state.newest_body(key, {})["metadata"]["resourceVersion"] == "210"
