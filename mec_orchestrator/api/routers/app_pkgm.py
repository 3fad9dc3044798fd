"""GS MEC 010-2 v3.1.1 application package management, `/app_pkgm/v1`, served from AppPackages.

A package created here is an AppPackage (`kubectl get apkg`) named by a generated id; one
declared with kubectl is served too. `{appDId}` in the paths is the package's appDId once
onboarded; before that only its id exists, so either is accepted (the id first, then the appDId
through the `mec.dev/app-d-id` label). docs/api.md lists what is served and the choices made
where the GS is silent; the pure parts (archives, AppDs, filters, states) are in
`decisions/packages`, the API server calls in `adapters/kube/packages.py`.

Subscriptions are MecSubscriptions (`spec.api: AppPkgm`); onboarding, operational state changes
and deletions are notified (AppPkgNotification) to those that want them, through the callback
delivery.

Status codes follow the file; where it documents none that fits, a state conflict (enable a
package that is not onboarded, delete an enabled one, upload twice) is a 409, as GS MEC 009
and the file's own `409` response component describe it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import packages as kube
from mec_orchestrator.adapters.kube import subscriptions as kube_subscriptions
from mec_orchestrator.adapters.kube.auth import Access
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.api.deps import (
    ApiContext,
    Caller,
    Context,
    Namespace,
    allowed,
    authorize,
    namespace,
)
from mec_orchestrator.api.problems import ProblemDetails, ProblemError, bad_request, conflict
from mec_orchestrator.api.schemas.app_pkgm import (
    APP_PKG_INFO_ATTRIBUTES,
    DEFAULT_EXCLUDED,
    OPTIONAL_COMPLEX,
    AppPkgInfo,
    AppPkgInfoModifications,
    AppPkgLinks,
    AppPkgSubscription,
    AppPkgSubscriptionInfo,
    AppPkgSubscriptionLinkList,
    AppPkgSubscriptionLinks,
    Checksum,
    CreateAppPkg,
    LinkType,
    SubscriptionLink,
    SubscriptionListLinks,
)
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.decisions.packages.appd import (
    OnboardedAppD,
    appd_from_spec,
    validate_appd,
)
from mec_orchestrator.decisions.packages.archive import (
    PackageArchive,
    PackageError,
    read_archive,
    verify_checksum,
)
from mec_orchestrator.decisions.packages.names import (
    app_d_id_label,
    is_package_name,
    new_package_id,
)
from mec_orchestrator.decisions.packages.notifications import NotificationType, notification, wants
from mec_orchestrator.decisions.packages.query import QueryError, parse_filter, parse_selection
from mec_orchestrator.model import (
    GROUP,
    AppPackage,
    AppPackageConditionType,
    AppPackageSpec,
    AppPackageStatus,
    ConditionStatus,
    NewCondition,
    ObjectMeta,
    OnboardingState,
    PackageOperationalState,
    UsageState,
    find_condition,
    set_condition,
)
from mec_orchestrator.model.apppackage import (
    APP_D_ID_LABEL,
    OnboardedReason,
    PackageArtifact,
    PackageChecksum,
    PackageContent,
    PackageSource,
)
from mec_orchestrator.model.subscription import (
    MecSubscription,
    MecSubscriptionSpec,
    SubscriptionApi,
)

log = logging.getLogger(__name__)

ROOT = "/app_pkgm/v1"
PACKAGES = "/onboarded_app_packages"
PACKAGE = PACKAGES + "/{appDId}"
CONTENT = PACKAGE + "/package_content"
APPD = PACKAGE + "/appd"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = SUBSCRIPTIONS + "/{subscriptionId}"
RESOURCE = "apppackages"
SUBSCRIPTION_RESOURCE = "mecsubscriptions"
ZIP_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")
FAILURE_STATUS: dict[str, int] = {OnboardedReason.DUPLICATE_APPD_ID: 409}
"""Refused content is a 400; an appDId another package has is a conflict with that package."""

router = APIRouter(
    prefix=ROOT,
    tags=["app-pkgm"],
    responses={
        429: {
            "description": "Too Many Requests: the Kubernetes API server asked to retry later",
            "model": ProblemDetails,
            "content": {"application/problem+json": {}},
        }
    },
)

AppDIdPath = Annotated[
    str,
    Path(
        alias="appDId",
        min_length=1,
        max_length=253,
        description="The package's appDId once onboarded, or its id (either is accepted).",
    ),
]
QueryText = Annotated[str | None, Query(max_length=4096)]


# -- helpers -------------------------------------------------------------------------------------


@asynccontextmanager
async def _kube(namespace: str) -> AsyncIterator[None]:
    """API server errors as ProblemDetails: a missing namespace, a concurrent change, ..."""
    try:
        yield
    except ApiError as error:
        if error.status == 404:
            raise ProblemError(
                404, "Not Found", f"namespace {namespace} (or the package) does not exist"
            ) from None
        if error.status == 409:
            raise conflict(
                "the package changed while this request was served: read it again and retry"
            ) from None
        if error.status in (400, 422):
            raise bad_request(f"the API server refused the package: {_message(error)}") from None
        if error.status == 429 or (error.status or 0) >= 500:
            status, title = (429, "Too Many Requests") if error.status == 429 else (503, "")
            raise ProblemError(
                status,
                title or "Service Unavailable",
                f"the Kubernetes API server is busy ({_message(error)}): try again shortly",
                {"Retry-After": "1"},
            ) from None
        raise


def _message(error: ApiError) -> str:
    try:
        return str(json.loads(error.body or b"{}").get("message", error.reason))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)


def _base(request: Request, public_uri: str) -> str:
    """The API root as the client reached it (with /namespaces/{ns} if it used that)."""
    path = request.url.path
    prefix = path[: path.index(ROOT)] if ROOT in path else ""
    origin = public_uri.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"
    return f"{origin}{prefix}{ROOT}"


def _now() -> datetime:
    return datetime.now(UTC)


def _key(package: AppPackage) -> str:
    """How the package is addressed in links: its appDId once onboarded, else its id."""
    onboarded = states.onboarding_state(package) is OnboardingState.ONBOARDED
    return package.spec.app_d_id if onboarded and package.spec.app_d_id else _name(package)


def _name(package: AppPackage) -> str:
    return package.metadata.name or ""


def _failure(package: AppPackage) -> ProblemDetails | None:
    conditions = package.status.conditions if package.status is not None else None
    condition = find_condition(conditions or [], AppPackageConditionType.ONBOARDED)
    if (
        condition is None
        or condition.status is not ConditionStatus.FALSE
        or condition.reason == OnboardedReason.AWAITING_CONTENT
    ):
        return None
    status = FAILURE_STATUS.get(condition.reason, 400)
    return ProblemDetails(
        title="Onboarding failed", status=status, detail=f"{condition.reason}: {condition.message}"
    )


def package_info(package: AppPackage, users: Sequence[str], base: str) -> AppPkgInfo:
    """The AppPkgInfo of a package (see docs/api.md for the values before onboarding)."""
    spec, status = package.spec, package.status or AppPackageStatus()
    source = spec.source
    onboarded = states.onboarding_state(package) is OnboardingState.ONBOARDED
    href = f"{base}{PACKAGES}/{quote(_key(package), safe='')}"
    images = [
        {k: v for k, v in image.to_dict().items() if k != "image"} | {"imagePath": image.image}
        for image in status.software_images or []
    ]
    if not images and spec.template is not None and source is None:
        images = [
            {"id": c.name, "name": c.name, "imagePath": c.image}
            for c in spec.template.spec.containers
        ]
    artifacts = [a.to_dict() for a in status.additional_artifacts or []]
    return AppPkgInfo(
        id=_name(package),
        app_d_id=spec.app_d_id if onboarded and spec.app_d_id else _name(package),
        app_provider=spec.app_provider or (source.app_provider if source else None),
        app_name=spec.app_name or (source.app_pkg_name if source else ""),
        app_software_version=spec.app_soft_version or (source.app_pkg_version if source else ""),
        app_d_version=spec.app_d_version or "",
        checksum=Checksum(
            algorithm=source.checksum.algorithm if source else "",
            hash=source.checksum.hash if source else "",
        ),
        software_images=images or [{}],
        additional_artifacts=artifacts if onboarded and source else None,
        onboarding_state=states.onboarding_state(package).etsi,
        operational_state=states.operational_state(package).etsi,
        usage_state=states.usage_state(users).etsi,
        mec_info=list(spec.mec_version or [""]),
        user_defined_data=source.user_defined_data if source else None,
        onboarding_failure_details=_failure(package),
        links=AppPkgLinks(
            self_=LinkType(href=href),
            app_d=LinkType(href=f"{href}/appd"),
            app_pkg_content=LinkType(href=f"{href}/package_content"),
        ),
    )


async def _find(api: ApiClient, namespace: str, key: str) -> tuple[dict[str, Any], AppPackage]:
    async with _kube(namespace):
        raw = await kube.find_app_package(api, namespace, key)
    if raw is None:
        raise ProblemError(
            404,
            "Not Found",
            f"no application package with id or appDId {key!r} in namespace {namespace}",
        )
    return raw, AppPackage.model_validate(raw)


async def _users(api: ApiClient, namespace: str, name: str) -> list[str]:
    async with _kube(namespace):
        return await kube.package_users(api, namespace, name)


def _onboarded_condition(
    package: AppPackage, status: ConditionStatus, reason: OnboardedReason, message: str
) -> list[dict[str, Any]]:
    conditions = package.status.conditions if package.status is not None else None
    updated = set_condition(
        conditions or [],
        NewCondition(
            type=AppPackageConditionType.ONBOARDED,
            status=status,
            reason=reason,
            message=message,
            observed_generation=package.metadata.generation,
        ),
        _now(),
    )
    return [c.to_dict() for c in updated]


async def _write_status(
    api: ApiClient,
    package: AppPackage,
    fields: dict[str, Any],
    *,
    precondition: bool = False,
) -> AppPackage:
    namespace, name = package.metadata.namespace or "", _name(package)
    version = package.metadata.resource_version if precondition else None
    async with _kube(namespace):
        stored = await kube.write_app_package_status(api, namespace, name, fields, version)
    return AppPackage.model_validate(stored)


async def _onboarding(
    api: ApiClient,
    package: AppPackage,
    *,
    state: OnboardingState,
    condition: ConditionStatus,
    reason: OnboardedReason,
    message: str,
    precondition: bool = False,
) -> AppPackage:
    fields = {
        "onboardingState": state.value,
        "conditions": _onboarded_condition(package, condition, reason, message),
    }
    return await _write_status(api, package, fields, precondition=precondition)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases (a few aliases can stand for an exponential tree)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases are not allowed in an AppD", event.start_mark
            )
        return super().compose_node(parent, index)


def _parse_appd(archive: PackageArchive) -> Any:
    """The AppD file as JSON data (parsing is I/O-free but not pure-layer: it needs yaml)."""
    path = archive.appd_path
    try:
        text = archive.appd_bytes.decode("utf-8-sig")
        document = (
            json.loads(text)
            if archive.appd_format == "json"
            else yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
        )
        json.dumps(document, allow_nan=False)  # only JSON values go on
    except UnicodeDecodeError:
        raise PackageError(OnboardedReason.INVALID_APPD, f"AppD {path}: not UTF-8 text") from None
    except (ValueError, yaml.YAMLError, TypeError, RecursionError) as error:
        kind = "JSON" if archive.appd_format == "json" else "YAML"
        detail = " ".join(str(error).split())[:300]
        raise PackageError(
            OnboardedReason.INVALID_APPD, f"AppD {path}: not valid {kind} data ({detail})"
        ) from None
    return document


def onboard(data: bytes, source: PackageSource) -> tuple[PackageArchive, OnboardedAppD]:
    """The archive checked and its AppD validated; PackageError naming what is refused."""
    verify_checksum(data, source.checksum.algorithm, source.checksum.hash)
    archive = read_archive(data)
    return archive, validate_appd(_parse_appd(archive))


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProblemError(
                413, "Payload Too Large", f"the package content may be at most {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _origin(request: Request, public_uri: str) -> str:
    return public_uri.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"


async def _notify(
    ctx: ApiContext,
    request: Request,
    namespace: str,
    info: dict[str, Any],
    event: NotificationType,
) -> None:
    """Send the event's AppPkgNotification to every subscription of the namespace that wants it.

    Delivery is asynchronous (the callback delivery queues and retries); a failure to list the
    subscriptions is logged, never answered to the client whose call caused the event.
    """
    notifier = ctx.notifier
    if notifier is None:
        return
    try:
        found = await kube_subscriptions.list_subscriptions(
            ctx.state.api, namespace, subscription_api=SubscriptionApi.APP_PKGM
        )
    except (ApiError, OSError) as error:
        log.warning("%s of %s not notified: listing subscriptions: %s", event, info["id"], error)
        return
    now = _now()
    event_id = str(uuid.uuid4())
    root = f"{_origin(request, ctx.settings.public_uri)}/namespaces/{namespace}{ROOT}"
    for subscription in found:
        spec, name = subscription.spec, subscription.metadata.name or ""
        criteria = (spec.filter or {}).get("appPkgFilter")
        filters = criteria if isinstance(criteria, list) else None
        if spec.is_expired(now) or not wants(spec.subscription_type, filters, event, info):
            continue
        body = notification(
            notification_id=event_id,
            notification_type=event,
            subscription_id=name,
            subscription_href=f"{root}{SUBSCRIPTIONS}/{name}",
            info=info,
            at=now,
        )
        try:
            notifier.submit(
                spec.callback_reference,
                body,
                notification_id=event_id,
                subscription_id=f"{namespace}/{name}",
                api=SubscriptionApi.APP_PKGM.value,
                expires_at=spec.expiry_deadline,
            )
        except (ValueError, RuntimeError) as error:
            log.warning("%s not sent to subscription %s/%s: %s", event, namespace, name, error)


# -- operations ----------------------------------------------------------------------------------


@router.post(
    PACKAGES,
    status_code=201,
    dependencies=[Depends(allowed("create", RESOURCE))],
    summary="Create an application package resource (CreateAppPkg)",
)
async def create_package(
    body: CreateAppPkg, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    source = PackageSource(
        app_pkg_name=body.app_pkg_name,
        app_pkg_version=body.app_pkg_version,
        app_provider=body.app_provider,
        checksum=PackageChecksum(algorithm=body.checksum.algorithm, hash=body.checksum.hash),
        app_pkg_path=body.app_pkg_path,
        user_defined_data=body.user_defined_data,
    )
    package = AppPackage(
        metadata=ObjectMeta(name=new_package_id(), namespace=ns),
        spec=AppPackageSpec(source=source, operational_state=PackageOperationalState.DISABLED),
    )
    async with _kube(ns):
        created = AppPackage.model_validate(
            await kube.create_app_package(api, ns, package.to_dict())
        )
    fields = {
        "onboardingState": OnboardingState.CREATED.value,
        "operationalState": PackageOperationalState.DISABLED.value,
        "usageState": UsageState.NOT_IN_USE.value,
        "conditions": _onboarded_condition(
            created,
            ConditionStatus.FALSE,
            OnboardedReason.AWAITING_CONTENT,
            "upload the package content with PUT .../package_content",
        ),
    }
    stored = await _write_status(api, created, fields)
    info = package_info(stored, [], _base(request, ctx.settings.public_uri))
    return JSONResponse(info.etsi(), status_code=201, headers={"Location": info.links.self_.href})


@router.get(
    PACKAGES,
    dependencies=[Depends(allowed("list", RESOURCE))],
    summary="Query application packages (attribute filter and selectors of GS MEC 009)",
)
async def list_packages(
    request: Request,
    ctx: Context,
    ns: Namespace,
    *,
    filter_: Annotated[str | None, Query(alias="filter", max_length=4096)] = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_default: QueryText = None,
) -> JSONResponse:
    try:
        matcher = parse_filter(filter_, APP_PKG_INFO_ATTRIBUTES) if filter_ is not None else None
        selection = parse_selection(
            all_fields=all_fields,
            fields=fields,
            exclude_fields=exclude_fields,
            exclude_default=exclude_default,
            optional=OPTIONAL_COMPLEX,
            default_excluded=DEFAULT_EXCLUDED,
        )
    except QueryError as error:
        raise bad_request(str(error)) from None
    api = ctx.api()
    async with _kube(ns):
        listed = await kube.list_app_packages(api, ns)
        in_use = await kube.packages_in_use(api, ns)
    base = _base(request, ctx.settings.public_uri)
    infos = []
    for raw in listed:
        package = AppPackage.model_validate(raw)
        infos.append(package_info(package, in_use.get(_name(package), []), base).etsi())
    return JSONResponse(
        [selection.apply(i) for i in infos if matcher is None or matcher.matches(i)]
    )


@router.get(
    PACKAGE,
    dependencies=[Depends(allowed("get", RESOURCE))],
    summary="Read an application package (by appDId, or by id before it is onboarded)",
)
async def read_package(
    key: AppDIdPath, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    _, package = await _find(api, ns, key)
    users = await _users(api, ns, _name(package))
    return JSONResponse(
        package_info(package, users, _base(request, ctx.settings.public_uri)).etsi()
    )


@router.patch(
    PACKAGE,
    dependencies=[Depends(allowed("patch", RESOURCE))],
    summary="Enable or disable an onboarded application package",
)
async def modify_package(
    key: AppDIdPath,
    body: AppPkgInfoModifications,
    request: Request,
    ctx: Context,
    ns: Namespace,
) -> JSONResponse:
    api = ctx.api()
    _, package = await _find(api, ns, key)
    refusal = states.modification_refusal(package)
    if refusal is not None:
        raise conflict(refusal)
    wanted = PackageOperationalState.from_etsi(body.operational_state)
    changed = package.spec.operational_state is not wanted
    if changed:
        async with _kube(ns):
            raw = await kube.patch_app_package(
                api,
                ns,
                _name(package),
                {"spec": {"operationalState": wanted.value}},
                package.metadata.resource_version,
            )
        package = AppPackage.model_validate(raw)
    if package.status is None or package.status.operational_state is not wanted:
        package = await _write_status(api, package, {"operationalState": wanted.value})
    if changed:
        event = (
            NotificationType.ENABLED
            if wanted is PackageOperationalState.ENABLED
            else NotificationType.DISABLED
        )
        users = await _users(api, ns, _name(package))
        info = package_info(package, users, _base(request, ctx.settings.public_uri))
        await _notify(ctx, request, ns, info.etsi(), event)
    return JSONResponse(body.etsi())


@router.delete(
    PACKAGE,
    status_code=204,
    dependencies=[Depends(allowed("delete", RESOURCE))],
    summary="Delete a disabled application package that no EdgeApp uses",
)
async def delete_package(
    key: AppDIdPath, request: Request, ctx: Context, ns: Namespace
) -> Response:
    api = ctx.api()
    _, package = await _find(api, ns, key)
    refusal = states.deletion_refusal(package, await _users(api, ns, _name(package)))
    if refusal is not None:
        raise conflict(refusal)
    async with _kube(ns):
        await kube.delete_app_package(api, ns, _name(package), package.metadata.resource_version)
    info = package_info(package, [], _base(request, ctx.settings.public_uri))
    await _notify(ctx, request, ns, info.etsi(), NotificationType.DELETED)
    return Response(status_code=204)


@router.put(
    CONTENT,
    status_code=202,
    dependencies=[Depends(allowed("update", RESOURCE))],
    summary="Upload the package content (a zip) and onboard it",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/zip": {"schema": {}}}}
    },
)
async def upload_content(
    key: AppDIdPath, request: Request, ctx: Context, ns: Namespace
) -> Response:
    media = _media_type(request)
    if media not in ZIP_TYPES:
        raise bad_request(
            f"header.Content-Type: the package content is a zip archive sent as application/zip "
            f"(or application/octet-stream), not {media or 'nothing'}"
        )
    api = ctx.api()
    _, package = await _find(api, ns, key)
    refusal = states.upload_refusal(package, _now())
    if refusal is not None:
        raise conflict(refusal)
    source = package.spec.source
    assert source is not None  # noqa: S101 - upload_refusal says so
    if states.onboarding_state(package) is not OnboardingState.CREATED:
        # A stale upload (its process stopped half-way): record that it failed, which also
        # restarts the condition's clock for this upload, then take over.
        package = await _onboarding(
            api,
            package,
            state=OnboardingState.CREATED,
            condition=ConditionStatus.FALSE,
            reason=OnboardedReason.UPLOAD_FAILED,
            message="the previous upload stopped before it finished",
            precondition=True,
        )
    package = await _onboarding(
        api,
        package,
        state=OnboardingState.UPLOADING,
        condition=ConditionStatus.UNKNOWN,
        reason=OnboardedReason.UPLOADING,
        message="receiving the package content",
        precondition=True,
    )
    recorded = False
    try:
        data = await _read_body(request, ctx.settings.max_package_bytes)
        package = await _onboarding(
            api,
            package,
            state=OnboardingState.PROCESSING,
            condition=ConditionStatus.UNKNOWN,
            reason=OnboardedReason.PROCESSING,
            message=f"checking {len(data)} bytes of package content",
        )
        try:
            archive, appd = onboard(data, source)
            await _unique_app_d_id(api, package, appd.spec.app_d_id or "")
        except PackageError as error:
            recorded = True
            await _onboarding(
                api,
                package,
                state=OnboardingState.CREATED,
                condition=ConditionStatus.FALSE,
                reason=error.reason,
                message=error.message,
            )
            status = FAILURE_STATUS.get(error.reason, 400)
            raise ProblemError(
                status, "Conflict" if status == 409 else "Bad Request", error.message
            ) from None
        package = await _keep(api, package, data, archive, appd)
    except Exception as error:
        if not recorded:
            await _upload_failed(api, package, error)
        raise
    users = await _users(api, ns, _name(package))
    info = package_info(package, users, _base(request, ctx.settings.public_uri))
    await _notify(ctx, request, ns, info.etsi(), NotificationType.ONBOARDED)
    return Response(status_code=202)


async def _unique_app_d_id(api: ApiClient, package: AppPackage, app_d_id: str) -> None:
    """PackageError(DuplicateAppDId) when another package of the namespace has app_d_id."""
    namespace = package.metadata.namespace or ""
    async with _kube(namespace):
        found = await kube.packages_with_app_d_id(api, namespace, app_d_id)
    others = {p["metadata"]["name"] for p in found}
    others.discard(_name(package))
    if others:
        raise PackageError(
            OnboardedReason.DUPLICATE_APPD_ID,
            f"appDId {app_d_id} is the appDId of package {', '.join(sorted(others))} already",
        )


async def _upload_failed(api: ApiClient, package: AppPackage, error: Exception) -> None:
    message = error.detail if isinstance(error, ProblemError) else type(error).__name__
    try:
        await _onboarding(
            api,
            package,
            state=OnboardingState.CREATED,
            condition=ConditionStatus.FALSE,
            reason=OnboardedReason.UPLOAD_FAILED,
            message=f"the upload failed: {message}",
        )
    except (ProblemError, ApiError, OSError):
        log.exception("package %s: recording the failed upload failed", _name(package))


async def _keep(
    api: ApiClient,
    package: AppPackage,
    data: bytes,
    archive: PackageArchive,
    appd: OnboardedAppD,
) -> AppPackage:
    """Store the content, fill the package in from its AppD, and mark it ONBOARDED."""
    namespace, name = package.metadata.namespace or "", _name(package)
    spec = appd.spec.to_dict()
    spec.pop("operationalState", None)
    spec["operationalState"] = PackageOperationalState.ENABLED.value
    async with _kube(namespace):
        raw = await kube.read_app_package(api, namespace, name)
        if raw is None:
            raise ProblemError(404, "Not Found", f"package {name} was deleted during the upload")
        chunks = await kube.store_package_content(api, raw, data, appd.document)
        patched = await kube.patch_app_package(
            api,
            namespace,
            name,
            {
                "metadata": {"labels": {APP_D_ID_LABEL: app_d_id_label(spec["appDId"])}},
                "spec": spec,
            },
        )
    stored = AppPackage.model_validate(patched)
    artifacts = [
        PackageArtifact(
            artifact_path=a.path,
            checksum=PackageChecksum(algorithm="SHA-256", hash=a.sha256),
        )
        for a in archive.artifacts
        if len(a.path) <= 1024
    ][:256]
    status = AppPackageStatus(
        onboarding_state=OnboardingState.ONBOARDED,
        operational_state=PackageOperationalState.ENABLED,
        content=PackageContent(size=len(data), chunks=chunks, app_d_path=archive.appd_path),
        software_images=list(appd.software_images),
        additional_artifacts=artifacts,
    ).to_dict()
    status["conditions"] = _onboarded_condition(
        stored,
        ConditionStatus.TRUE,
        OnboardedReason.ONBOARDED,
        f"AppD {spec['appDId']} ({archive.appd_path}) onboarded",
    )
    return await _write_status(api, stored, status)


@router.get(
    CONTENT,
    dependencies=[Depends(allowed("get", RESOURCE))],
    summary="Fetch the onboarded package content (the zip as uploaded)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def read_content(key: AppDIdPath, ctx: Context, ns: Namespace) -> Response:
    api = ctx.api()
    _, package = await _find(api, ns, key)
    name = _name(package)
    if package.spec.source is None:
        raise ProblemError(
            404,
            "Not Found",
            f"package {name} was declared with its AppD (no spec.source): it has no content",
        )
    state = states.onboarding_state(package)
    content = package.status.content if package.status is not None else None
    if state is not OnboardingState.ONBOARDED or content is None:
        raise conflict(f"package {name} is {state.etsi}: its content is not onboarded")
    async with _kube(ns):
        data = await kube.read_package_content(api, ns, name, content.chunks)
    if data is None or len(data) != content.size:
        raise ProblemError(
            500, "Internal Server Error", f"the content of package {name} is missing"
        )
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


@router.get(
    APPD,
    dependencies=[Depends(allowed("get", RESOURCE))],
    summary="Read the AppD of an onboarded package (JSON)",
)
async def read_appd(key: AppDIdPath, ctx: Context, ns: Namespace) -> JSONResponse:
    api = ctx.api()
    _, package = await _find(api, ns, key)
    name = _name(package)
    state = states.onboarding_state(package)
    if state is not OnboardingState.ONBOARDED:
        raise conflict(f"package {name} is {state.etsi}: it has no AppD until onboarded")
    if package.spec.source is None:
        return JSONResponse(appd_from_spec(package.spec))
    async with _kube(ns):
        document = await kube.read_appd(api, ns, name)
    if document is None:
        raise ProblemError(500, "Internal Server Error", f"the AppD of package {name} is missing")
    return JSONResponse(document)


# -- subscriptions -------------------------------------------------------------------------------

SubscriptionIdPath = Annotated[
    str, Path(alias="subscriptionId", min_length=1, max_length=253, description="Its id.")
]


def _subscription_info(subscription: MecSubscription, base: str) -> AppPkgSubscriptionInfo:
    name = subscription.metadata.name or ""
    return AppPkgSubscriptionInfo(
        id=name,
        subscription_type=subscription.spec.subscription_type,
        callback_uri=subscription.spec.callback_reference,
        links=AppPkgSubscriptionLinks(self_=LinkType(href=f"{base}{SUBSCRIPTIONS}/{name}")),
    )


async def _subscription(api: ApiClient, namespace: str, key: str) -> MecSubscription:
    found = None
    if is_package_name(key):
        async with _kube(namespace):
            found = await kube_subscriptions.get_subscription(api, namespace, key)
    if found is None or found.spec.api is not SubscriptionApi.APP_PKGM:
        raise ProblemError(
            404, "Not Found", f"no AppPkgm subscription {key!r} in namespace {namespace}"
        )
    return found


@router.post(
    SUBSCRIPTIONS,
    status_code=201,
    dependencies=[Depends(allowed("create", SUBSCRIPTION_RESOURCE))],
    summary="Subscribe to notifications of onboarding, operational state changes, deletion",
)
async def create_subscription(
    body: AppPkgSubscription, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    sent = body.etsi()
    spec = MecSubscriptionSpec(
        api=SubscriptionApi.APP_PKGM,
        subscription_type=body.subscription_type,
        callback_reference=body.callback_uri,
        filter={"appPkgFilter": sent["appPkgFilter"]} if "appPkgFilter" in sent else None,
        body=sent,
    )
    async with _kube(ns):
        created = await kube_subscriptions.create_subscription(api, ns, spec)
    info = _subscription_info(created, _base(request, ctx.settings.public_uri))
    return JSONResponse(info.etsi(), status_code=201, headers={"Location": info.links.self_.href})


@router.get(
    SUBSCRIPTIONS,
    dependencies=[Depends(allowed("list", SUBSCRIPTION_RESOURCE))],
    summary="List the AppPkgm subscriptions of the namespace",
)
async def list_subscriptions(request: Request, ctx: Context, ns: Namespace) -> JSONResponse:
    api = ctx.api()
    async with _kube(ns):
        found = await kube_subscriptions.list_subscriptions(
            api, ns, subscription_api=SubscriptionApi.APP_PKGM
        )
    base = _base(request, ctx.settings.public_uri)
    links = [
        SubscriptionLink(
            href=f"{base}{SUBSCRIPTIONS}/{s.metadata.name}",
            subscription_type=s.spec.subscription_type,
        )
        for s in found
    ]
    listed = AppPkgSubscriptionLinkList(
        links=SubscriptionListLinks(
            self_=LinkType(href=f"{base}{SUBSCRIPTIONS}"), subscriptions=links or None
        )
    )
    return JSONResponse(listed.etsi())


@router.get(
    SUBSCRIPTION,
    dependencies=[Depends(allowed("get", SUBSCRIPTION_RESOURCE))],
    summary="Read an AppPkgm subscription",
)
async def read_subscription(
    key: SubscriptionIdPath, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    found = await _subscription(ctx.api(), ns, key)
    return JSONResponse(_subscription_info(found, _base(request, ctx.settings.public_uri)).etsi())


def _namespace_or_404(request: Request, ctx: ApiContext) -> str:
    """The namespace of the root; one that cannot exist is a 404 (for operations without 400)."""
    try:
        return namespace(request, ctx)
    except ProblemError as error:
        raise ProblemError(404, "Not Found", error.detail) from None


@router.delete(
    SUBSCRIPTION,
    status_code=204,
    summary="Terminate an AppPkgm subscription",
)
async def delete_subscription(
    key: SubscriptionIdPath, request: Request, ctx: Context, who: Caller
) -> Response:
    # The file documents no 400 for this operation: a namespace that cannot exist is a 404,
    # so the namespace is checked here rather than by the `allowed` dependency.
    ns = _namespace_or_404(request, ctx)
    await authorize(ctx, who, Access("delete", GROUP, SUBSCRIPTION_RESOURCE, ns))
    api = ctx.api()
    found = await _subscription(api, ns, key)
    async with _kube(ns):
        await kube_subscriptions.delete_subscription(api, ns, found.metadata.name or key)
    return Response(status_code=204)
