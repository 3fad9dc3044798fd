"""The AppPackage resource: a GS MEC 010-2 application package, onboarded or on its way.

It holds the AppD essentials and the software (a pod template) so that EdgeApps can refer to it
instead of carrying their own template, and the package states MEC 010-2 defines: onboarding,
operational (the one users set, through spec) and usage. The REST API's `/app_pkgm/v1` is served
from these objects.

Two ways in: `kubectl apply` of a package that carries its whole AppD (no `spec.source`), or the
REST API, which creates the package from a CreateAppPkg (`spec.source`: what the client declared)
before any content exists, and fills in the AppD essentials and the template when the uploaded
archive is onboarded. A package without a source must carry the full AppD (the CRD's CEL rules
and `AppPackageSpec`'s validator say the same).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mec_orchestrator.model.base import ApiModel, EtsiEnum, Identifier, ObjectMeta, duplicates
from mec_orchestrator.model.common import LatencyBudget, PodTemplate
from mec_orchestrator.model.conditions import Conditions

MEC_VERSION = r"^[0-9]+\.[0-9]+\.[0-9]+$"
CHECKSUM_ALGORITHM = r"^SHA-(256|512)$"
CHECKSUM_HASH = r"^([0-9a-f]{64}|[0-9a-f]{128})$"

APP_D_ID_LABEL = "mec.dev/app-d-id"
"""Label carrying the package's appDId (sanitised to a label value), for lookups by appDId."""
PACKAGE_LABEL = "mec.dev/app-package"
"""Label on the ConfigMaps that hold a package's content: the AppPackage's name."""

ESSENTIALS = (
    "appDId",
    "appName",
    "appProvider",
    "appSoftVersion",
    "appDVersion",
    "mecVersion",
    "template",
)
"""The spec fields a package without spec.source must carry (the AppD essentials + software)."""


class OnboardingState(EtsiEnum):
    """MEC 010-2 onboarding state (`etsi`: `CREATED`, `UPLOADING`, ...)."""

    CREATED = "Created"
    UPLOADING = "Uploading"
    PROCESSING = "Processing"
    ONBOARDED = "Onboarded"


class PackageOperationalState(EtsiEnum):
    """MEC 010-2 operational state of a package (`etsi`: `ENABLED`, `DISABLED`)."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"


class UsageState(EtsiEnum):
    """MEC 010-2 usage state of a package (`etsi`: `IN_USE`, `NOT_IN_USE`)."""

    IN_USE = "InUse"
    NOT_IN_USE = "NotInUse"


class OnboardedReason(StrEnum):
    """Reasons of an AppPackage's `Onboarded` condition (set by the REST API's onboarding)."""

    ONBOARDED = "Onboarded"
    """True: the content was checked, its AppD validated and the package filled in from it."""
    AWAITING_CONTENT = "AwaitingContent"
    """False: created through the REST API; no content uploaded yet."""
    UPLOADING = "Uploading"
    """Unknown: the content is being received."""
    PROCESSING = "Processing"
    """Unknown: the content is being checked and its AppD validated."""
    CHECKSUM_MISMATCH = "ChecksumMismatch"
    """False: the content's hash differs from spec.source.checksum."""
    UNSAFE_ARCHIVE = "UnsafeArchive"
    """False: the archive is not a zip, or is refused (too big uncompressed, too many entries,
    absolute or `..` paths, links, encryption)."""
    INVALID_APPD = "InvalidAppD"
    """False: no AppD found in the archive, or it breaks the MEC 010-2 AppD schema."""
    DUPLICATE_APPD_ID = "DuplicateAppDId"
    """False: another package of the namespace already has the AppD's appDId."""
    UPLOAD_FAILED = "UploadFailed"
    """False: the content could not be received or kept (too large, the client went away)."""


class PackageChecksum(ApiModel):
    """MEC 010-2 Checksum of the package archive: algorithm and lower-case hexadecimal hash."""

    algorithm: Annotated[str, Field(max_length=7, pattern=CHECKSUM_ALGORITHM)]
    hash: Annotated[str, Field(max_length=128, pattern=CHECKSUM_HASH)]

    @model_validator(mode="after")
    def _length_fits_algorithm(self) -> Self:
        expected = 64 if self.algorithm == "SHA-256" else 128
        if len(self.hash) != expected:
            raise ValueError(f"a {self.algorithm} hash has {expected} hexadecimal digits")
        return self


class PackageSource(ApiModel):
    """What the MEC 010-2 CreateAppPkg declared for a package created through the REST API."""

    app_pkg_name: Annotated[str, Field(min_length=1, max_length=128)]
    app_pkg_version: Annotated[str, Field(min_length=1, max_length=64)]
    app_provider: Annotated[str, Field(max_length=128)] | None = None
    checksum: PackageChecksum
    app_pkg_path: Annotated[str, Field(min_length=1, max_length=2048)]
    user_defined_data: dict[str, Any] | None = None


class UserContextTransferCapability(ApiModel):
    """MEC 010-2 UserContextTransferCapability: whether the app has, and can move, user state."""

    stateful_application: bool
    user_context_transfer_support: bool | None = None

    @field_validator("user_context_transfer_support")
    @classmethod
    def _only_if_stateful(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("stateful_application") is False:
            raise ValueError("must be absent when statefulApplication is false (MEC 010-2)")
        return value


class AppPackageSpec(ApiModel):
    """The AppD essentials and the software of the package, and where it came from.

    Without `source` (a package declared with kubectl) every AppD essential and the template are
    required; with one (created through the REST API) they are filled in at onboarding.
    """

    source: PackageSource | None = None
    app_d_id: Identifier | None = None
    app_name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    app_provider: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    app_soft_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    app_d_version: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    mec_version: (
        Annotated[
            list[Annotated[str, Field(max_length=32, pattern=MEC_VERSION)]],
            Field(min_length=1, max_length=16),
        ]
        | None
    ) = None
    app_info_name: Annotated[str, Field(max_length=256)] | None = None
    app_description: Annotated[str, Field(max_length=4096)] | None = None
    latency: LatencyBudget | None = None
    user_context_transfer_capability: UserContextTransferCapability | None = None
    template: PodTemplate | None = None
    operational_state: PackageOperationalState = PackageOperationalState.ENABLED

    @field_validator("mec_version")
    @classmethod
    def _unique_versions(cls, value: list[str] | None) -> list[str] | None:
        repeated = duplicates(value or [])
        if repeated:
            raise ValueError(f"versions must be unique, repeated: {', '.join(repeated)}")
        return value

    @model_validator(mode="after")
    def _appd_unless_source(self) -> Self:
        if self.source is not None:
            return self
        given = self.to_dict()
        missing = [name for name in ESSENTIALS if name not in given]
        if missing:
            fields = ", ".join(f"spec.{name}" for name in missing)
            raise ValueError(
                f"{fields}: required unless spec.source is set (a package declared without "
                "the REST API carries its whole AppD)"
            )
        return self

    @property
    def has_content(self) -> bool:
        """The package can be instantiated: it has the AppD essentials and its template."""
        return self.template is not None and self.app_d_id is not None


class SoftwareImage(ApiModel):
    """A software image of the package, from the AppD's swImageDescriptor (MEC 010-2)."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    name: Annotated[str, Field(max_length=256)] | None = None
    version: Annotated[str, Field(max_length=128)] | None = None
    container_format: Annotated[str, Field(max_length=64)] | None = None
    image: Annotated[str, Field(min_length=1, max_length=1024)]


class PackageArtifact(ApiModel):
    """A file of the package archive other than its AppD, with its SHA-256."""

    artifact_path: Annotated[str, Field(min_length=1, max_length=1024)]
    checksum: PackageChecksum


class PackageContent(ApiModel):
    """Where the uploaded archive is kept: ConfigMaps `<package>-content-<i>`, i = 0..chunks-1."""

    size: Annotated[int, Field(ge=0)]
    chunks: Annotated[int, Field(ge=0, le=1024)]
    app_d_path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class AppPackageStatus(ApiModel):
    """The MEC 010-2 package states as observed by the orchestrator."""

    onboarding_state: OnboardingState | None = None
    operational_state: PackageOperationalState | None = None
    usage_state: UsageState | None = None
    content: PackageContent | None = None
    software_images: Annotated[list[SoftwareImage], Field(max_length=32)] | None = None
    additional_artifacts: Annotated[list[PackageArtifact], Field(max_length=256)] | None = None
    conditions: Conditions | None = None
    observed_generation: Annotated[int, Field(ge=0)] | None = None


class AppPackage(ApiModel):
    """An onboarded application package (kind AppPackage, namespaced)."""

    KIND: ClassVar[str] = "AppPackage"
    PLURAL: ClassVar[str] = "apppackages"
    NAMESPACED: ClassVar[bool] = True

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["AppPackage"] = "AppPackage"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AppPackageSpec
    status: AppPackageStatus | None = None
