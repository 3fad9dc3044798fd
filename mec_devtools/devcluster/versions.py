"""The pinned versions of every control-plane component and how each is built from Go modules.

Pure data: which Go module provides which binary, and what its wrapper go.mod must say.
Kept apart from the build code so that bumping a version is a one-line, reviewable change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.8"  # the version kubernetes v1.36.3 pins in build/dependencies.yaml
KWOK_VERSION = "v0.8.0"
HELM_VERSION = "v3.22.0"
BUF_VERSION = "v1.66.0"  # newer releases need module versions the proxy does not serve
KINE_VERSION = "v0.17.5"  # k3s's datastore: the etcd API over SQLite
KUBECONFORM_VERSION = "v0.8.0"
KUBE_SCORE_VERSION = "v1.20.0"
HELM_UNITTEST_VERSION = "v1.1.2"


def staging_version(kubernetes_version: str) -> str:
    """Version of the k8s.io staging modules: v0.Y.Z for Kubernetes v1.Y.Z."""
    major, minor, patch = kubernetes_version.lstrip("v").split(".")
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kubernetes_version!r}")
    return f"v0.{minor}.{patch}"


@dataclass(frozen=True)
class GoTool:
    """One Go build that yields one or more binaries.

    ``module`` is required at ``version`` by a generated wrapper module; ``replace_from_gomod``
    says that every local (``=> ./...`` or ``=> ../...``) replace in the upstream go.mod must be
    turned into a replace by the published module at ``replace_version`` — this is what makes
    ``k8s.io/kubernetes`` (staging modules) and etcd's server (sibling modules) buildable outside
    their repositories. ``fork_replaces`` are the upstream go.mod's replaces by *another* module
    (``module => "fork/module vX.Y.Z"``): Go ignores them in a dependency, so the wrapper repeats
    them.

    ``cgo`` builds with cgo (kine's SQLite driver is C); every other tool is built without, so
    it runs wherever it was built. ``tags`` are Go build tags. An empty ``version_flag`` means
    the binary cannot tell its version: only the cache (keyed by version) is trusted for it.
    ``module_files`` are files of the module's source copied into the cache beside the
    binaries (a Helm plugin's ``plugin.yaml``).
    """

    name: str
    module: str
    version: str
    packages: dict[str, str]  # binary name -> Go package path
    version_flag: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    replace_from_gomod: bool = False
    replace_version: str = ""
    extra_replaces: dict[str, str] = field(default_factory=dict)
    fork_replaces: dict[str, str] = field(default_factory=dict)
    cgo: bool = False
    tags: tuple[str, ...] = ()
    module_files: tuple[str, ...] = ()
    version_flag_overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def version_flag_for(self, binary: str) -> tuple[str, ...]:
        return self.version_flag_overrides.get(binary, self.version_flag)

    @property
    def reports_version(self) -> bool:
        return bool(self.version_flag)

    @property
    def binaries(self) -> tuple[str, ...]:
        return tuple(self.packages)

    @property
    def expected_version(self) -> str:
        """The version string a binary of this tool must report (without the leading v)."""
        return self.version.lstrip("v")


def _kubernetes_ldflags(version: str) -> tuple[str, ...]:
    major, minor, _ = version.lstrip("v").split(".")
    pkg = "k8s.io/component-base/version"
    return (
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        "-s",
        "-w",
    )


def kubernetes_tool(version: str = KUBERNETES_VERSION) -> GoTool:
    base = "k8s.io/kubernetes/cmd"
    return GoTool(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=version,
        packages={
            "kube-apiserver": f"{base}/kube-apiserver",
            "kube-controller-manager": f"{base}/kube-controller-manager",
            "kube-scheduler": f"{base}/kube-scheduler",
            "kubectl": f"{base}/kubectl",
        },
        version_flag=("--version",),
        version_flag_overrides={"kubectl": ("version", "--client")},
        ldflags=_kubernetes_ldflags(version),
        replace_from_gomod=True,
        replace_version=staging_version(version),
    )


def etcd_tool(version: str = ETCD_VERSION) -> GoTool:
    return GoTool(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=version,
        packages={"etcd": "go.etcd.io/etcd/server/v3"},
        version_flag=("--version",),
        ldflags=("-s", "-w"),
        replace_from_gomod=True,
        replace_version=version,
    )


def kwok_tool(version: str = KWOK_VERSION) -> GoTool:
    return GoTool(
        name="kwok",
        module="sigs.k8s.io/kwok",
        version=version,
        packages={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
        version_flag=("--version",),
        ldflags=(f"-X sigs.k8s.io/kwok/pkg/consts.Version={version}", "-s", "-w"),
    )


def helm_tool(version: str = HELM_VERSION) -> GoTool:
    return GoTool(
        name="helm",
        module="helm.sh/helm/v3",
        version=version,
        packages={"helm": "helm.sh/helm/v3/cmd/helm"},
        version_flag=("version", "--short"),
        ldflags=(f"-X helm.sh/helm/v3/internal/version.version={version}", "-s", "-w"),
    )


def buf_tool(version: str = BUF_VERSION) -> GoTool:
    return GoTool(
        name="buf",
        module="github.com/bufbuild/buf",
        version=version,
        packages={"buf": "github.com/bufbuild/buf/cmd/buf"},
        version_flag=("--version",),
        ldflags=("-s", "-w"),
    )


def kine_tool(version: str = KINE_VERSION) -> GoTool:
    """kine, the datastore of k3s: an etcd v3 API server kube-apiserver talks to, over SQLite.

    Its SQLite driver (github.com/mattn/go-sqlite3) is C, hence cgo; without cgo kine falls
    back to a driver that refuses to start.
    """
    return GoTool(
        name="kine",
        module="github.com/k3s-io/kine",
        version=version,
        packages={"kine": "github.com/k3s-io/kine"},
        version_flag=("--version",),
        ldflags=(
            f"-X github.com/k3s-io/kine/pkg/version.Version={version}",
            "-X github.com/k3s-io/kine/pkg/version.GitCommit=release",
            "-s",
            "-w",
        ),
        cgo=True,
    )


def kubeconform_tool(version: str = KUBECONFORM_VERSION) -> GoTool:
    """Validates manifests against the Kubernetes JSON schemas (the chart's gate; offline)."""
    return GoTool(
        name="kubeconform",
        module="github.com/yannh/kubeconform",
        version=version,
        packages={"kubeconform": "github.com/yannh/kubeconform/cmd/kubeconform"},
        version_flag=("-v",),
        ldflags=(f"-X main.version={version}", "-s", "-w"),
    )


def kube_score_tool(version: str = KUBE_SCORE_VERSION) -> GoTool:
    """Static analysis of manifests for reliability and security (the chart's gate)."""
    return GoTool(
        name="kube-score",
        module="github.com/zegl/kube-score",
        version=version,
        packages={"kube-score": "github.com/zegl/kube-score/cmd/kube-score"},
        version_flag=("version",),
        ldflags=(f"-X main.version={version.lstrip('v')}", "-s", "-w"),
    )


def helm_unittest_tool(version: str = HELM_UNITTEST_VERSION) -> GoTool:
    """The `helm unittest` plugin's binary (`untt`); see helm_plugins.py for the plugin.

    `untt` has no flag that prints its version, so only the version-keyed cache is trusted.
    """
    return GoTool(
        name="helm-unittest",
        module="github.com/helm-unittest/helm-unittest",
        version=version,
        packages={"untt": "github.com/helm-unittest/helm-unittest/cmd/helm-unittest"},
        version_flag=(),
        ldflags=(
            "-X github.com/helm-unittest/helm-unittest/internal/build.version="
            + version.lstrip("v"),
            "-s",
            "-w",
        ),
        module_files=("plugin.yaml",),
        # upstream go.mod: replace github.com/vmware-labs/yaml-jsonpath v0.3.2 => ... v0.4.0
        fork_replaces={
            "github.com/vmware-labs/yaml-jsonpath": "github.com/helm-unittest/yaml-jsonpath v0.4.0"
        },
    )


def chart_gate_tools() -> tuple[GoTool, ...]:
    """The Helm chart's quality gates: schema validation, static analysis, unit tests."""
    return (kubeconform_tool(), kube_score_tool(), helm_unittest_tool())


def default_tools() -> tuple[GoTool, ...]:
    return (
        kubernetes_tool(),
        etcd_tool(),
        kwok_tool(),
        helm_tool(),
        buf_tool(),
        kine_tool(),
        *chart_gate_tools(),
    )
