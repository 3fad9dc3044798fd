"""Helm plugins the project owns (helm-unittest), installed into a directory under the cache.

`helm plugin install` of helm-unittest runs a hook that downloads a prebuilt binary, which cannot
work offline, and it would write into the user's own plugin directory. Instead the binary built
from source (versions.helm_unittest_tool, cached with the module's `plugin.yaml`) is laid out as
Helm expects a plugin, `<plugins>/unittest/{plugin.yaml, <the file its platformCommand names>}`,
in a directory of this project's cache. Helm finds it through `HELM_PLUGINS`, which
`devcluster env` exports (and `plugin_env` gives to Python callers); `~/.local/share/helm/plugins`
is never touched.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from mec_devtools.devcluster import binaries
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.settings import DevClusterSettings
from mec_devtools.devcluster.versions import GoTool, helm_tool, helm_unittest_tool

PLUGIN_DIR_VARIABLE = "$HELM_PLUGIN_DIR/"
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def go_platform() -> tuple[str, str]:
    """(GOOS, GOARCH) of this machine, as a plugin.yaml's platformCommand names them."""
    machine = platform.machine().lower()
    return platform.system().lower(), _GOARCH.get(machine, machine)


def platform_command_file(plugin_yaml: str, goos: str, goarch: str) -> str:
    """The file name the plugin runs on (goos, goarch), from its plugin.yaml's platformCommand.

    Helm's order: os and arch match, then os only (arch unset), then neither set.
    """
    metadata = yaml.safe_load(plugin_yaml)
    commands = metadata.get("platformCommand") if isinstance(metadata, dict) else None
    if not isinstance(commands, list):
        raise DevClusterError("plugin.yaml has no platformCommand list")
    entries = [c for c in commands if isinstance(c, dict)]
    for wanted_os, wanted_arch in ((goos, goarch), (goos, ""), ("", "")):
        for entry in entries:
            if str(entry.get("os", "")) == wanted_os and str(entry.get("arch", "")) == wanted_arch:
                command = str(entry.get("command", ""))
                if not command.startswith(PLUGIN_DIR_VARIABLE) or "/" in command.removeprefix(
                    PLUGIN_DIR_VARIABLE
                ):
                    raise DevClusterError(
                        f"plugin.yaml's command for {goos}/{goarch} is {command!r}: expected "
                        f"{PLUGIN_DIR_VARIABLE}<file>"
                    )
                return command.removeprefix(PLUGIN_DIR_VARIABLE)
    raise DevClusterError(f"plugin.yaml has no platformCommand for {goos}/{goarch}")


def plugins_dir(settings: DevClusterSettings, tool: GoTool | None = None) -> Path:
    """The HELM_PLUGINS directory (one per helm-unittest version, so versions never mix)."""
    tool = tool or helm_unittest_tool()
    return settings.cache_dir / "helm-plugins" / f"{tool.name}-{tool.version}"


def ensure_helm_plugins(
    settings: DevClusterSettings | None = None, progress: binaries.Progress = binaries.quiet
) -> Path:
    """The HELM_PLUGINS directory with helm-unittest installed (built and laid out once)."""
    settings = settings or DevClusterSettings()
    tool = helm_unittest_tool()
    root = plugins_dir(settings, tool)
    plugin = root / "unittest"
    if (plugin / "plugin.yaml").is_file():
        return root
    built = binaries.ensure((tool,), settings, progress)["untt"]
    plugin_yaml = (built.parent / "plugin.yaml").read_text()
    executable = platform_command_file(plugin_yaml, *go_platform())
    with binaries.locked(root.parent / f".{root.name}.lock"):
        if (plugin / "plugin.yaml").is_file():
            return root
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        staging.chmod(0o755)
        try:
            shutil.copy2(built, staging / executable)
            (staging / "plugin.yaml").write_text(plugin_yaml)  # written last: marks it complete
            if plugin.exists():
                shutil.rmtree(plugin)
            staging.rename(plugin)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return root


def plugin_env(
    settings: DevClusterSettings | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An environment in which `helm unittest` works: HELM_PLUGINS and the cached helm on PATH.

    For tests and scripts: `subprocess.run(["helm", "unittest", chart], env=plugin_env())`.
    """
    settings = settings or DevClusterSettings()
    base = os.environ if base is None else base
    helm = binaries.ensure((helm_tool(),), settings)["helm"]
    return {
        **base,
        "HELM_PLUGINS": str(ensure_helm_plugins(settings)),
        "PATH": f"{helm.parent}{os.pathsep}{base.get('PATH', '')}",
    }
