"""One EdgeApp's reconciliation: read -> plan (pure) -> apply -> status (one writer) -> events.

Called by the app's daemon whenever something it depends on changed, and periodically. Every
call to the API server goes through `adapters.kube`; the decisions are the pure functions of
`decisions.instances`, fed the operator state's facts and the users its engine has placed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.adapters.kube import events, instances, packages, status
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.decisions.instances.manifests import (
    UNNEEDED_SINCE_LABEL,
    deployment_manifest,
    endpoint,
    instance_name,
    service_manifest,
)
from mec_orchestrator.decisions.instances.plan import InstancePlan, plan_instances
from mec_orchestrator.decisions.instances.status import build_status, instances_status
from mec_orchestrator.model import AppPackage, EdgeApp, EventReason
from mec_orchestrator.operator import metrics
from mec_orchestrator.operator.state import OperatorState


class PackageMissingError(Exception):
    """The EdgeApp names an AppPackage that does not exist (yet)."""


@dataclass(frozen=True)
class Outcome:
    plan: InstancePlan
    next_deadline: datetime | None  # when an idle instance expires: reconcile again then
    stored: dict[str, Any] | None = None  # the EdgeApp as its status write left it


async def pod_template(api: ApiClient, app: EdgeApp) -> dict[str, Any]:
    if app.spec.template is not None:
        return app.spec.template.to_dict()
    ref = app.spec.app_package_ref
    if ref is None:  # the CRD's CEL rule makes this unreachable; say so if it happens
        raise PackageMissingError("neither spec.template nor spec.appPackageRef is set")
    body = await packages.read_app_package(api, app.metadata.namespace or "default", ref.name)
    if body is None:
        raise PackageMissingError(f"AppPackage {ref.name!r} not found")
    package = AppPackage.model_validate(body)
    if package.spec.template is None:
        raise PackageMissingError(f"AppPackage {ref.name!r} is not onboarded yet")
    return package.spec.template.to_dict()


def _involved(app: EdgeApp) -> dict[str, str]:
    return {
        "apiVersion": app.api_version,
        "kind": app.kind,
        "name": app.metadata.name or "",
        "namespace": app.metadata.namespace or "",
        "uid": app.metadata.uid or "",
    }


async def reconcile(state: OperatorState, body: dict[str, Any]) -> Outcome:
    started = time.perf_counter()
    api, view = state.api, state.view
    app = EdgeApp.model_validate(body)
    name, namespace = app.metadata.name or "", app.metadata.namespace or "default"
    now = datetime.now(UTC)
    template = await pod_template(api, app)
    seen = {s.instance.host: s for s in view.observed_instances(namespace, name)}
    observed = [s.instance for s in seen.values()]
    hosts = view.host_views(exclude_app=(namespace, name))
    users = state.users_by_host(namespace, name)
    decided = time.perf_counter()
    plan = plan_instances(
        app.spec,
        hosts=hosts,
        access_points=view.access_points(),
        latency=view.lookup_latency(hosts),
        users_by_host=users,
        observed=observed,
        now=now,
        users_by_access_point=state.users_by_access_point(namespace, name),
    )
    metrics.PLACEMENT_DECISION_SECONDS.observe(time.perf_counter() - decided)

    for host in plan.wanted:
        manifest = deployment_manifest(app, host, template, state.settings.mp1_port)
        if host in plan.keep_until:
            since = seen[host].instance.unneeded_since if host in seen else None
            stamp = instances.unneeded_since_label(since or now)
            manifest["metadata"].setdefault("labels", {})[UNNEEDED_SINCE_LABEL] = stamp
        service = service_manifest(app, host, template)
        manifest = instances.with_hash(manifest, service)
        labels = manifest["metadata"]["labels"]
        current = seen.get(host)
        # The Service first: the Deployment records the Service's hash, so it must not claim a
        # Service that a failed call never wrote.
        if service is not None and (
            current is None or current.service_hash != labels[instances.SERVICE_HASH_LABEL]
        ):
            await instances.apply_service(api, service)
        if current is None or current.manifest_hash != labels[instances.HASH_LABEL]:
            stored = await instances.apply_deployment(api, manifest)
            # Status is built from the Deployment as written, not as last watched: a new pod
            # template is not Ready until the Deployment controller has rolled it out.
            view.record_written_instance(stored)
            seen = {s.instance.host: s for s in view.observed_instances(namespace, name)}
    for host in plan.retire:
        await instances.delete_instance(api, namespace, seen[host].instance.deployment)
    observed = [s.instance for s in seen.values()]

    before = {i.host for i in (app.status.instances or [])} if app.status else set()
    entries = instances_status(
        plan,
        observed,
        users_by_host=users,
        endpoints={h: endpoint(app, h, template) for h in plan.wanted},
        deployment_names={h: instance_name(name, h) for h in plan.wanted},
    )
    new_status = build_status(
        app, plan, entries, now, state.handovers_in_progress(namespace, name)
    ).to_dict()
    figures = metrics.app_figures(
        plan.wanted,
        (*plan.over_budget, *plan.uncovered),
        new_status.get("conditions") or [],
        state.users_by_access_point(namespace, name),
    )
    metrics.record_app(namespace, name, figures)
    written: dict[str, Any] | None = None
    if (body.get("status") or {}) != new_status:
        written = await status.write_edgeapp_status(api, namespace, name, new_status)
    await _tell_the_story(api, app, plan, before)
    metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
    deadline = min(plan.keep_until.values()) if plan.keep_until else None
    return Outcome(plan, deadline, written)


async def _tell_the_story(
    api: ApiClient, app: EdgeApp, plan: InstancePlan, before: set[str]
) -> None:
    after = set(plan.wanted)
    added, removed = sorted(after - before), sorted(before - after)
    evacuated = set(plan.evacuated)
    if added or removed:
        parts = []
        if added:
            parts.append(f"added {', '.join(added)}")
            metrics.PLACEMENT_CHANGES.labels("added").inc(len(added))
        if removed:
            parts.append(f"retired {', '.join(removed)}")
            metrics.PLACEMENT_CHANGES.labels("retired").inc(len(removed))
        await events.emit(
            api,
            involved=_involved(app),
            reason=EventReason.PLACED,
            message=f"instances on {', '.join(sorted(after)) or 'no host'} ({'; '.join(parts)}): "
            f"{plan.message}",
        )
    if evacuated & before:
        await events.emit(
            api,
            involved=_involved(app),
            reason=EventReason.EVACUATED,
            message=f"edge host(s) {', '.join(sorted(evacuated & before))} unavailable: "
            f"instances re-placed on {', '.join(plan.hosts) or 'no host'}",
            warning=True,
        )
