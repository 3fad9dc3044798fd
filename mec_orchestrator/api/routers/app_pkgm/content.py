"""A package's content: the upload that onboards it, the download, and its AppD.

The upload is checked (checksum, archive, AppD) as it is onboarded, its progress recorded in the
package's status (UPLOADING, PROCESSING, ONBOARDED or back to CREATED with the reason), and the
archive kept in ConfigMaps owned by the package (`adapters/kube/packages.py`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import yaml
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from mec_orchestrator.adapters.kube import packages as kube
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.api import etsi
from mec_orchestrator.api.deps import (
    Context,
    Namespace,
    allowed,
)
from mec_orchestrator.api.problems import ProblemError, bad_request, conflict
from mec_orchestrator.api.routers.app_pkgm.shared import (
    APPD,
    CONTENT,
    FAILURE_STATUS,
    RESOURCE,
    AppDIdPath,
    find_package,
    kube_errors,
    notify_subscribers,
    onboarded_condition,
    package_info,
    package_name,
    record_onboarding,
    root_url,
    users_of,
    write_status,
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
)
from mec_orchestrator.decisions.packages.notifications import NotificationType
from mec_orchestrator.model import (
    AppPackage,
    AppPackageStatus,
    ConditionStatus,
    OnboardingState,
    PackageOperationalState,
)
from mec_orchestrator.model.apppackage import (
    APP_D_ID_LABEL,
    OnboardedReason,
    PackageArtifact,
    PackageChecksum,
    PackageContent,
    PackageSource,
)

log = logging.getLogger(__name__)

router = APIRouter()


ZIP_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")


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
    _, package = await find_package(api, ns, key)
    refusal = states.upload_refusal(package, etsi.now())
    if refusal is not None:
        raise conflict(refusal)
    source = package.spec.source
    assert source is not None  # noqa: S101 - upload_refusal says so
    if states.onboarding_state(package) is not OnboardingState.CREATED:
        # A stale upload (its process stopped half-way): record that it failed, which also
        # restarts the condition's clock for this upload, then take over.
        package = await record_onboarding(
            api,
            package,
            state=OnboardingState.CREATED,
            condition=ConditionStatus.FALSE,
            reason=OnboardedReason.UPLOAD_FAILED,
            message="the previous upload stopped before it finished",
            precondition=True,
        )
    package = await record_onboarding(
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
        package = await record_onboarding(
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
            await record_onboarding(
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
    users = await users_of(api, ns, package_name(package))
    info = package_info(package, users, root_url(request, ctx.settings.public_uri))
    await notify_subscribers(ctx, request, ns, info.etsi(), NotificationType.ONBOARDED)
    return Response(status_code=202)


async def _unique_app_d_id(api: ApiClient, package: AppPackage, app_d_id: str) -> None:
    """PackageError(DuplicateAppDId) when another package of the namespace has app_d_id."""
    namespace = package.metadata.namespace or ""
    async with kube_errors(namespace):
        found = await kube.packages_with_app_d_id(api, namespace, app_d_id)
    others = {p["metadata"]["name"] for p in found}
    others.discard(package_name(package))
    if others:
        raise PackageError(
            OnboardedReason.DUPLICATE_APPD_ID,
            f"appDId {app_d_id} is the appDId of package {', '.join(sorted(others))} already",
        )


async def _upload_failed(api: ApiClient, package: AppPackage, error: Exception) -> None:
    message = error.detail if isinstance(error, ProblemError) else type(error).__name__
    try:
        await record_onboarding(
            api,
            package,
            state=OnboardingState.CREATED,
            condition=ConditionStatus.FALSE,
            reason=OnboardedReason.UPLOAD_FAILED,
            message=f"the upload failed: {message}",
        )
    except (ProblemError, ApiError, OSError):
        log.exception("package %s: recording the failed upload failed", package_name(package))


async def _keep(
    api: ApiClient,
    package: AppPackage,
    data: bytes,
    archive: PackageArchive,
    appd: OnboardedAppD,
) -> AppPackage:
    """Store the content, fill the package in from its AppD, and mark it ONBOARDED."""
    namespace, name = package.metadata.namespace or "", package_name(package)
    spec = appd.spec.to_dict()
    spec.pop("operationalState", None)
    spec["operationalState"] = PackageOperationalState.ENABLED.value
    async with kube_errors(namespace):
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
    status["conditions"] = onboarded_condition(
        stored,
        ConditionStatus.TRUE,
        OnboardedReason.ONBOARDED,
        f"AppD {spec['appDId']} ({archive.appd_path}) onboarded",
    )
    return await write_status(api, stored, status)


@router.get(
    CONTENT,
    dependencies=[Depends(allowed("get", RESOURCE))],
    summary="Fetch the onboarded package content (the zip as uploaded)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
async def read_content(key: AppDIdPath, ctx: Context, ns: Namespace) -> Response:
    api = ctx.api()
    _, package = await find_package(api, ns, key)
    name = package_name(package)
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
    async with kube_errors(ns):
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
    _, package = await find_package(api, ns, key)
    name = package_name(package)
    state = states.onboarding_state(package)
    if state is not OnboardingState.ONBOARDED:
        raise conflict(f"package {name} is {state.etsi}: it has no AppD until onboarded")
    if package.spec.source is None:
        return JSONResponse(appd_from_spec(package.spec))
    async with kube_errors(ns):
        document = await kube.read_appd(api, ns, name)
    if document is None:
        raise ProblemError(500, "Internal Server Error", f"the AppD of package {name} is missing")
    return JSONResponse(document)
