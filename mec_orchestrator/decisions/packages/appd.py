"""A MEC 010-2 AppD validated, and the AppPackage spec derived from it (and back, for kubectl).

The input is the parsed AppD document (a dict: the caller parses JSON or YAML). It is checked
against the AppD schema of GS MEC 010-2 v3.1.1 — the required attributes, the types of every
top-level attribute, and in depth the structures the orchestrator uses — plus the bounds the
AppPackage resource needs (appDId an identifier, lengths, `mecVersion` a list of x.y.z). Every
error names the AppD field (`swImageDescriptor[0].swImage`, `appExtCpd`).

From a valid AppD:
- the container image is each `swImageDescriptor`'s `swImage`: the v3.1.1 file types it as an
  object, so it is either the image reference as a string (as AppDs are commonly written) or an
  object whose `file` is the reference (the shape of a TOSCA SwImage artifact, NFV-SOL 001);
- `osContainerDescriptor`, when present, gives one container each (name, image from its
  `swImageDesc`, `requestedCpuResources`/`cpuResourceLimit` in milli-CPU,
  `requestedMemoryResources`/`memoryResourceLimit` in MB); otherwise each `swImageDescriptor`
  is one container, and `virtualComputeDescriptor` gives the requests (`numVirtualCpu` CPUs,
  `virtualMemSize` MB);
- the ports of `appExtCpd[].additionalServiceData[].portData[]` are the first container's;
- `appLatency.maxLatency` (nanoseconds) becomes `latency.maxMs`;
- `userContextTransferCapability` is copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mec_common.patterns import DNS_LABEL, IDENTIFIER
from mec_orchestrator.decisions.packages.archive import PackageError
from mec_orchestrator.model.apppackage import (
    MEC_VERSION,
    AppPackageSpec,
    OnboardedReason,
    SoftwareImage,
)
from mec_orchestrator.model.base import field_path

UINT32_MAX = 2**32 - 1
NS_PER_MS = 1_000_000
MAX_CONTAINERS = 32

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class _Etsi(BaseModel):
    """An ETSI data type: the attributes named as in the file, others kept, JSON types exact."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


Text = Annotated[str, Field(min_length=1)]


class ChecksumData(_Etsi):
    algorithm: str
    hash: str


class SwImageDesc(_Etsi):
    id: str
    name: str
    version: str
    container_format: str = Field(alias="containerFormat")
    sw_image: str | dict[str, Any] = Field(alias="swImage")
    checksum: ChecksumData | None = None


class SwImageDescriptor(SwImageDesc):
    pass


class VirtualCpuData(_Etsi):
    num_virtual_cpu: Annotated[int, Field(ge=1, le=1024)] = Field(alias="numVirtualCpu")


class VirtualMemoryData(_Etsi):
    virtual_mem_size: Annotated[float, Field(gt=0)] = Field(alias="virtualMemSize")


class VirtualComputeDescriptor(_Etsi):
    virtual_compute_desc_id: str = Field(alias="virtualComputeDescId")
    virtual_memory: VirtualMemoryData = Field(alias="virtualMemory")
    virtual_cpu: VirtualCpuData = Field(alias="virtualCpu")


class OsContainerDescriptor(_Etsi):
    os_container_desc_id: str = Field(alias="osContainerDescId")
    name: str
    description: str
    sw_image_desc: SwImageDesc = Field(alias="swImageDesc")
    requested_cpu_resources: Annotated[int, Field(ge=1)] | None = Field(
        None, alias="requestedCpuResources"
    )
    requested_memory_resources: Annotated[float, Field(gt=0)] | None = Field(
        None, alias="requestedMemoryResources"
    )
    cpu_resource_limit: Annotated[int, Field(ge=1)] | None = Field(None, alias="cpuResourceLimit")
    memory_resource_limit: Annotated[float, Field(gt=0)] | None = Field(
        None, alias="memoryResourceLimit"
    )


class ServicePortData(_Etsi):
    name: str
    protocol: Literal["TCP", "UDP", "SCTP"]
    port: Annotated[int, Field(ge=1, le=65535)]
    port_configurable: bool = Field(alias="portConfigurable")


class AdditionalServiceData(_Etsi):
    port_data: Annotated[list[ServicePortData], Field(min_length=1)] = Field(alias="portData")
    service_data: str | None = Field(None, alias="serviceData")


class AppExternalCpd(_Etsi):
    inherited_attributes: dict[str, Any]
    additional_service_data: list[AdditionalServiceData] | None = Field(
        None, alias="additionalServiceData"
    )
    virtual_network_interface_requirements: list[dict[str, Any]] | None = Field(
        None, alias="virtualNetworkInterfaceRequirements"
    )


class LatencyDescriptor(_Etsi):
    max_latency: Annotated[int, Field(ge=1, le=UINT32_MAX)] = Field(alias="maxLatency")


class UserContextTransferCapability(_Etsi):
    stateful_application: bool = Field(alias="statefulApplication")
    user_context_transfer_support: bool | None = Field(None, alias="userContextTransferSupport")


class McioIdentificationData(_Etsi):
    name: str
    type: str


Objects = list[dict[str, Any]] | None


class AppD(_Etsi):
    """The MEC 010-2 AppD (clause 6.2.1.2), as far as the orchestrator checks it."""

    app_d_id: Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER)] = Field(
        alias="appDId"
    )
    app_name: Annotated[str, Field(min_length=1, max_length=128)] = Field(alias="appName")
    app_provider: Annotated[str, Field(min_length=1, max_length=128)] = Field(alias="appProvider")
    app_soft_version: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        alias="appSoftVersion"
    )
    app_d_version: Annotated[str, Field(min_length=1, max_length=64)] = Field(alias="appDVersion")
    mec_version: Annotated[str, Field(min_length=1)] = Field(alias="mecVersion")
    app_info_name: Annotated[str, Field(max_length=256)] | None = Field(None, alias="appInfoName")
    app_description: Annotated[str, Field(max_length=4096)] = Field(alias="appDescription")
    virtual_compute_descriptor: VirtualComputeDescriptor | None = Field(
        None, alias="virtualComputeDescriptor"
    )
    os_container_descriptor: list[OsContainerDescriptor] | None = Field(
        None, alias="osContainerDescriptor"
    )
    sw_image_descriptor: Annotated[list[SwImageDescriptor], Field(min_length=1)] = Field(
        alias="swImageDescriptor"
    )
    app_ext_cpd: Annotated[list[AppExternalCpd], Field(min_length=1)] = Field(alias="appExtCpd")
    app_latency: LatencyDescriptor | None = Field(None, alias="appLatency")
    user_context_transfer_capability: UserContextTransferCapability | None = Field(
        None, alias="userContextTransferCapability"
    )
    virtual_storage_descriptor: Objects = Field(None, alias="virtualStorageDescriptor")
    app_service_required: Objects = Field(None, alias="appServiceRequired")
    app_service_optional: Objects = Field(None, alias="appServiceOptional")
    app_service_produced: Objects = Field(None, alias="appServiceProduced")
    app_feature_required: Objects = Field(None, alias="appFeatureRequired")
    app_feature_optional: Objects = Field(None, alias="appFeatureOptional")
    transport_dependencies: Objects = Field(None, alias="transportDependencies")
    app_traffic_rule: Objects = Field(None, alias="appTrafficRule")
    app_dns_rule: Objects = Field(None, alias="appDNSRule")
    logical_node: Objects = Field(None, alias="logicalNode")
    request_additional_capabilities: Objects = Field(None, alias="requestAdditionalCapabilities")
    terminate_app_instance_op_config: dict[str, Any] | None = Field(
        None, alias="terminateAppInstanceOpConfig"
    )
    change_app_instance_state_op_config: dict[str, Any] | None = Field(
        None, alias="changeAppInstanceStateOpConfig"
    )
    app_network_policy: dict[str, Any] | None = Field(None, alias="appNetworkPolicy")
    mciop_id: str | None = Field(None, alias="mciopId")
    mcio_identification_data: McioIdentificationData | None = Field(
        None, alias="mcioIdentificationData"
    )
    mcio_constraint_params: list[str] | None = Field(None, alias="mcioConstraintParams")


@dataclass(frozen=True)
class OnboardedAppD:
    """What onboarding takes from a valid AppD."""

    document: dict[str, Any]
    """The AppD as written (without a `{"AppD": ...}` wrapper), served by GET .../appd."""
    spec: AppPackageSpec
    """The AppD essentials and the pod template (no source, operational state not decided)."""
    software_images: tuple[SoftwareImage, ...]


def _error(problems: list[str]) -> PackageError:
    shown = "; ".join(problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return PackageError(OnboardedReason.INVALID_APPD, f"AppD {shown}{more}")


def _alias_path(loc: tuple[int | str, ...]) -> str:
    return field_path(loc) or "(document)"


def unwrap(document: Any) -> Any:
    """The AppD inside the ETSI generator's `{"AppD": {...}}` wrapper, or document itself."""
    if isinstance(document, dict) and set(document) == {"AppD"}:
        return document["AppD"]
    return document


def image_of(sw_image: str | dict[str, Any]) -> str | None:
    """The container image reference of a swImage: the string, or the object's `file`."""
    if isinstance(sw_image, str):
        return sw_image.strip() or None
    found = sw_image.get("file")
    return (found.strip() or None) if isinstance(found, str) else None


def mec_versions(text: str) -> list[str]:
    """`3.1.1, 2.2.1` as `["3.1.1", "2.2.1"]` (entries trimmed, empty ones dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def dns_label(text: str, fallback: str) -> str:
    """Text as a DNS label (lower case, other characters as `-`, at most 63), else fallback."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return label if label and re.match(DNS_LABEL, label) else fallback


def _megabytes(value: float) -> str:
    """MB as a Kubernetes quantity (`M` is 10^6 bytes, as the AppD's MB)."""
    return f"{int(value)}M" if float(value).is_integer() else f"{value:.6f}".rstrip("0") + "M"


def _check_versions(appd: AppD) -> list[str]:
    problems: list[str] = []
    versions = mec_versions(appd.mec_version)
    if not versions or len(versions) > 16:
        problems.append("mecVersion: between 1 and 16 comma-separated x.y.z versions")
    bad = [v for v in versions if not re.match(MEC_VERSION, v) or len(v) > 32]
    if bad:
        problems.append(f"mecVersion: {', '.join(bad)} is not x.y.z (e.g. 3.1.1)")
    if len(set(versions)) != len(versions):
        problems.append("mecVersion: versions must be unique")
    return problems


def _check_images(appd: AppD) -> list[str]:
    problems: list[str] = []
    if appd.virtual_compute_descriptor is not None and appd.os_container_descriptor:
        problems.append(
            "osContainerDescriptor: only one of virtualComputeDescriptor or "
            "osContainerDescriptor may be present (MEC 010-2 note 5)"
        )
    if appd.virtual_compute_descriptor is not None and len(appd.sw_image_descriptor) > 1:
        problems.append(
            "swImageDescriptor: with virtualComputeDescriptor only one image may be given "
            "(MEC 010-2 note 5)"
        )
    for i, descriptor in enumerate(appd.sw_image_descriptor):
        if image_of(descriptor.sw_image) is None:
            problems.append(
                f"swImageDescriptor[{i}].swImage: the container image reference, as a string "
                "or as an object with `file` (a TOSCA SwImage artifact)"
            )
        if not 1 <= len(descriptor.id) <= 256:
            problems.append(f"swImageDescriptor[{i}].id: between 1 and 256 characters")
    for i, container in enumerate(appd.os_container_descriptor or []):
        if image_of(container.sw_image_desc.sw_image) is None:
            problems.append(
                f"osContainerDescriptor[{i}].swImageDesc.swImage: the container image reference"
            )
    if len(appd.sw_image_descriptor) > MAX_CONTAINERS:
        problems.append(f"swImageDescriptor: at most {MAX_CONTAINERS} images")
    if len(appd.os_container_descriptor or []) > MAX_CONTAINERS:
        problems.append(f"osContainerDescriptor: at most {MAX_CONTAINERS} containers")
    return problems


def _ports(appd: AppD) -> list[ServicePortData]:
    return [
        port
        for cpd in appd.app_ext_cpd
        for service in cpd.additional_service_data or []
        for port in service.port_data
    ]


def _check(appd: AppD) -> list[str]:
    problems = _check_versions(appd) + _check_images(appd)
    transfer = appd.user_context_transfer_capability
    if (
        transfer is not None
        and not transfer.stateful_application
        and transfer.user_context_transfer_support is not None
    ):
        problems.append(
            "userContextTransferCapability.userContextTransferSupport: must be absent when "
            "statefulApplication is false"
        )
    keys = [(p.port, p.protocol) for p in _ports(appd)]
    if len(set(keys)) != len(keys):
        problems.append("appExtCpd: a port and protocol appear twice in portData")
    return problems


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, n = name, 2
        while candidate in seen:
            suffix = f"-{n}"
            candidate, n = name[: 63 - len(suffix)] + suffix, n + 1
        seen.add(candidate)
        unique.append(candidate)
    return unique


def _resources(
    cpu: str | None,
    memory: str | None,
    cpu_limit: str | None = None,
    memory_limit: str | None = None,
) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    limits = {k: v for k, v in (("cpu", cpu_limit), ("memory", memory_limit)) if v}
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _os_container(i: int, c: OsContainerDescriptor) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": dns_label(c.name or c.os_container_desc_id, f"container-{i}"),
        "image": image_of(c.sw_image_desc.sw_image),
    }
    resources = _resources(
        f"{c.requested_cpu_resources}m" if c.requested_cpu_resources else None,
        _megabytes(c.requested_memory_resources) if c.requested_memory_resources else None,
        f"{c.cpu_resource_limit}m" if c.cpu_resource_limit else None,
        _megabytes(c.memory_resource_limit) if c.memory_resource_limit else None,
    )
    if resources:
        container["resources"] = resources
    return container


def _image_container(
    i: int, d: SwImageDescriptor, compute: VirtualComputeDescriptor | None
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": dns_label(d.name or d.id, f"app-{i}"),
        "image": image_of(d.sw_image),
    }
    if compute is not None:
        container["resources"] = _resources(
            str(compute.virtual_cpu.num_virtual_cpu),
            _megabytes(compute.virtual_memory.virtual_mem_size),
        )
    return container


def _port_entries(appd: AppD) -> list[dict[str, Any]]:
    ports = []
    for port in _ports(appd):
        entry: dict[str, Any] = {"containerPort": port.port, "protocol": port.protocol}
        name = port.name.lower()
        if len(name) <= 15 and _PORT_NAME.match(name) and "--" not in name:
            entry["name"] = name
        ports.append(entry)
    names = [p["name"] for p in ports if "name" in p]
    if len(set(names)) != len(names):  # Kubernetes wants them unique: drop them all
        for p in ports:
            p.pop("name", None)
    return ports


def _containers(appd: AppD) -> list[dict[str, Any]]:
    if appd.os_container_descriptor:
        containers = [_os_container(i, c) for i, c in enumerate(appd.os_container_descriptor)]
    else:
        compute = appd.virtual_compute_descriptor
        containers = [
            _image_container(i, d, compute) for i, d in enumerate(appd.sw_image_descriptor)
        ]
    for container, name in zip(containers, _unique([c["name"] for c in containers]), strict=True):
        container["name"] = name
    ports = _port_entries(appd)
    if ports:
        containers[0]["ports"] = ports
    return containers


def _spec_fields(appd: AppD) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "appDId": appd.app_d_id,
        "appName": appd.app_name,
        "appProvider": appd.app_provider,
        "appSoftVersion": appd.app_soft_version,
        "appDVersion": appd.app_d_version,
        "mecVersion": mec_versions(appd.mec_version),
        "template": {"spec": {"containers": _containers(appd)}},
    }
    if appd.app_info_name:
        fields["appInfoName"] = appd.app_info_name
    if appd.app_description:
        fields["appDescription"] = appd.app_description
    if appd.app_latency is not None:
        fields["latency"] = {"maxMs": appd.app_latency.max_latency / NS_PER_MS}
    if appd.user_context_transfer_capability is not None:
        fields["userContextTransferCapability"] = appd.user_context_transfer_capability.model_dump(
            by_alias=True, exclude_none=True
        )
    if _LABEL_VALUE.match(appd.app_name) and len(appd.app_name) <= 63:
        fields["template"]["metadata"] = {"labels": {"app.kubernetes.io/name": appd.app_name}}
    return fields


def validate_appd(document: Any) -> OnboardedAppD:
    """The AppD checked and turned into a package spec; PackageError(InvalidAppD) naming fields."""
    document = unwrap(document)
    if not isinstance(document, dict):
        raise _error([f"(document): an object, not {type(document).__name__}"])
    try:
        appd = AppD.model_validate(document)
    except ValidationError as error:
        raise _error(
            [f"{_alias_path(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)]
        ) from None
    problems = _check(appd)
    if problems:
        raise _error(problems)
    try:
        spec = AppPackageSpec.model_validate(_spec_fields(appd))
    except ValidationError as error:  # a derived value the resource refuses: say which
        raise _error(
            [f"(as spec.{field_path(e['loc'])}): {e['msg']}" for e in error.errors()]
        ) from None
    images = tuple(
        SoftwareImage(
            id=d.id,
            name=d.name[:256] or None,
            version=d.version[:128] or None,
            container_format=d.container_format[:64] or None,
            image=image_of(d.sw_image) or "",
        )
        for d in appd.sw_image_descriptor
    )
    return OnboardedAppD(document=dict(document), spec=spec, software_images=images)


def appd_from_spec(spec: AppPackageSpec) -> dict[str, Any]:
    """An AppD describing a package declared with kubectl (it has no AppD file)."""
    containers = spec.template.spec.containers if spec.template is not None else []
    images = []
    for container in containers:
        tail = container.image.rsplit("/", 1)[-1]
        version = tail.split("@", 1)[0].rsplit(":", 1)[1] if ":" in tail.split("@", 1)[0] else ""
        images.append(
            {
                "id": container.name,
                "name": container.name,
                "version": version or "latest",
                "containerFormat": "DOCKER",
                "swImage": {"file": container.image},
            }
        )
    ports = [
        {
            "name": str(port.get("name") or f"port-{port.get('containerPort')}"),
            "protocol": str(port.get("protocol") or "TCP"),
            "port": int(port["containerPort"]),
            "portConfigurable": False,
        }
        for container in containers
        for port in (container.model_extra or {}).get("ports", []) or []
        if isinstance(port, dict) and isinstance(port.get("containerPort"), int)
    ]
    cpd: dict[str, Any] = {"inherited_attributes": {}}
    if ports:
        cpd["additionalServiceData"] = [{"portData": ports}]
    appd: dict[str, Any] = {
        "appDId": spec.app_d_id or "",
        "appName": spec.app_name or "",
        "appProvider": spec.app_provider or "",
        "appSoftVersion": spec.app_soft_version or "",
        "appDVersion": spec.app_d_version or "",
        "mecVersion": ", ".join(spec.mec_version or []),
        "appDescription": spec.app_description or "",
        "swImageDescriptor": images,
        "appExtCpd": [cpd],
    }
    if spec.app_info_name:
        appd["appInfoName"] = spec.app_info_name
    if spec.latency is not None:
        appd["appLatency"] = {"maxLatency": round(spec.latency.max_ms * NS_PER_MS)}
    if spec.user_context_transfer_capability is not None:
        appd["userContextTransferCapability"] = spec.user_context_transfer_capability.to_dict()
    return appd
