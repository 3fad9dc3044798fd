"""Application packages (`/onboarded_app_packages`): create, query, read, enable/disable, delete.

A package created here is an AppPackage in state CREATED, awaiting its content (`content.py`);
enabling, disabling and deleting are refused (409) in the states GS MEC 010-2 forbids them in.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import packages as kube
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import (
    Context,
    Namespace,
    allowed,
)
from mec_orchestrator.api.etsi import FilterText, QueryText
from mec_orchestrator.api.problems import conflict
from mec_orchestrator.api.routers.app_pkgm.shared import (
    PACKAGE,
    PACKAGES,
    RESOURCE,
    AppDIdPath,
    find_package,
    kube_errors,
    notify_subscribers,
    onboarded_condition,
    package_info,
    package_name,
    root_url,
    users_of,
    write_status,
)
from mec_orchestrator.api.schemas.app_pkgm import (
    APP_PKG_INFO_ATTRIBUTES,
    DEFAULT_EXCLUDED,
    OPTIONAL_COMPLEX,
    AppPkgInfoModifications,
    CreateAppPkg,
)
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.decisions.packages.names import (
    new_package_id,
)
from mec_orchestrator.decisions.packages.notifications import NotificationType
from mec_orchestrator.model import (
    AppPackage,
    AppPackageSpec,
    ConditionStatus,
    ObjectMeta,
    OnboardingState,
    PackageOperationalState,
    UsageState,
)
from mec_orchestrator.model.apppackage import (
    OnboardedReason,
    PackageChecksum,
    PackageSource,
)

router = APIRouter()


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
    async with kube_errors(ns):
        created = AppPackage.model_validate(
            await kube.create_app_package(api, ns, package.to_dict())
        )
    fields = {
        "onboardingState": OnboardingState.CREATED.value,
        "operationalState": PackageOperationalState.DISABLED.value,
        "usageState": UsageState.NOT_IN_USE.value,
        "conditions": onboarded_condition(
            created,
            ConditionStatus.FALSE,
            OnboardedReason.AWAITING_CONTENT,
            "upload the package content with PUT .../package_content",
        ),
    }
    stored = await write_status(api, created, fields)
    info = package_info(stored, [], root_url(request, ctx.settings.public_uri))
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
    filter_: FilterText = None,
    all_fields: QueryText = None,
    fields: QueryText = None,
    exclude_fields: QueryText = None,
    exclude_default: QueryText = None,
) -> JSONResponse:
    query = etsi.selected(
        filter_text=filter_,
        known=APP_PKG_INFO_ATTRIBUTES,
        all_fields=all_fields,
        fields=fields,
        exclude_fields=exclude_fields,
        exclude_default=exclude_default,
        optional=OPTIONAL_COMPLEX,
        default_excluded=DEFAULT_EXCLUDED,
    )
    api = ctx.api()
    async with kube_errors(ns):
        listed = await kube.list_app_packages(api, ns)
        in_use = await kube.packages_in_use(api, ns)
    base = root_url(request, ctx.settings.public_uri)
    infos = []
    for raw in listed:
        package = AppPackage.model_validate(raw)
        infos.append(package_info(package, in_use.get(package_name(package), []), base).etsi())
    return query.answer(infos)


@router.get(
    PACKAGE,
    dependencies=[Depends(allowed("get", RESOURCE))],
    summary="Read an application package (by appDId, or by id before it is onboarded)",
)
async def read_package(
    key: AppDIdPath, request: Request, ctx: Context, ns: Namespace
) -> JSONResponse:
    api = ctx.api()
    _, package = await find_package(api, ns, key)
    users = await users_of(api, ns, package_name(package))
    return JSONResponse(
        package_info(package, users, root_url(request, ctx.settings.public_uri)).etsi()
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
    _, package = await find_package(api, ns, key)
    refusal = states.modification_refusal(package)
    if refusal is not None:
        raise conflict(refusal)
    wanted = PackageOperationalState.from_etsi(body.operational_state)
    changed = package.spec.operational_state is not wanted
    if changed:
        async with kube_errors(ns):
            raw = await kube.patch_app_package(
                api,
                ns,
                package_name(package),
                {"spec": {"operationalState": wanted.value}},
                package.metadata.resource_version,
            )
        package = AppPackage.model_validate(raw)
    if package.status is None or package.status.operational_state is not wanted:
        package = await write_status(api, package, {"operationalState": wanted.value})
    if changed:
        event = (
            NotificationType.ENABLED
            if wanted is PackageOperationalState.ENABLED
            else NotificationType.DISABLED
        )
        users = await users_of(api, ns, package_name(package))
        info = package_info(package, users, root_url(request, ctx.settings.public_uri))
        await notify_subscribers(ctx, request, ns, info.etsi(), event)
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
    _, package = await find_package(api, ns, key)
    refusal = states.deletion_refusal(package, await users_of(api, ns, package_name(package)))
    if refusal is not None:
        raise conflict(refusal)
    async with kube_errors(ns):
        await kube.delete_app_package(
            api, ns, package_name(package), package.metadata.resource_version
        )
    info = package_info(package, [], root_url(request, ctx.settings.public_uri))
    await notify_subscribers(ctx, request, ns, info.etsi(), NotificationType.DELETED)
    return Response(status_code=204)
