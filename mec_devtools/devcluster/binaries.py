"""Find or build the control-plane binaries, cached by version.

Lookup order for every binary: the configured binary directory, then PATH (only when the binary
reports the pinned version), then the cache. What is missing is built with the machine's Go from
a generated wrapper module (see versions.GoTool), under a file lock so that concurrent callers
build once, and moved into the cache atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mec_devtools.devcluster.errors import DevClusterError, MissingPrerequisiteError
from mec_devtools.devcluster.settings import DevClusterSettings
from mec_devtools.devcluster.versions import GoTool, default_tools

Progress = Callable[[str], None]

_LOCAL_REPLACE = re.compile(
    r"^\s*(?:replace\s+)?(?P<module>[\w.\-/]+)(?:\s+v\S+)?\s+=>\s+(?P<target>\.\.?/\S*)\s*$"
)


def quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ResolvedTool:
    """Where each binary of a tool was found."""

    tool: GoTool
    paths: dict[str, Path]
    source: str  # "bin-dir", "PATH", "cache" or "built"


def reported_version(binary: Path, tool: GoTool) -> str:
    """What the binary says its version is (stdout and stderr joined), or '' when it fails."""
    try:
        done = subprocess.run(
            [str(binary), *tool.version_flag_for(binary.name)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def has_version(binary: Path, tool: GoTool) -> bool:
    if not tool.reports_version:
        return False  # cannot be told apart from another version: never taken from PATH
    text = reported_version(binary, tool)
    return re.search(rf"(?<![\d.]){re.escape(tool.expected_version)}(?![\d])", text) is not None


def cache_dir_for(tool: GoTool, settings: DevClusterSettings) -> Path:
    return settings.bin_cache_dir / f"{tool.name}-{tool.version}"


def cached_complete(tool: GoTool, settings: DevClusterSettings) -> bool:
    """Every binary and module file of the tool is in its version's cache directory."""
    target = cache_dir_for(tool, settings)
    return all((target / name).is_file() for name in (*tool.binaries, *tool.module_files))


def _candidates(
    binary: str, tool: GoTool, settings: DevClusterSettings
) -> Iterator[tuple[Path, str]]:
    if settings.bin_dir is not None:
        yield settings.bin_dir / binary, "bin-dir"
    if settings.use_path:
        found = shutil.which(binary)
        if found:
            yield Path(found), "PATH"
    yield cache_dir_for(tool, settings) / binary, "cache"


def locate(tool: GoTool, settings: DevClusterSettings) -> ResolvedTool | None:
    """Every binary of the tool at the pinned version, or None if any is missing."""
    paths: dict[str, Path] = {}
    sources: set[str] = set()
    for binary in tool.binaries:
        for candidate, source in _candidates(binary, tool, settings):
            if (
                candidate.is_file()
                and os.access(candidate, os.X_OK)
                and (
                    cached_complete(tool, settings)
                    if source == "cache"
                    else has_version(candidate, tool)
                )
            ):
                paths[binary] = candidate.resolve()
                sources.add(source)
                break
        else:
            return None
    return ResolvedTool(tool, paths, "+".join(sorted(sources)))


def go_executable() -> str:
    found = shutil.which("go")
    if found is None:
        raise MissingPrerequisiteError(
            "Go is needed to build the local control plane once: install Go 1.24 or newer "
            "(https://go.dev/doc/install) and put `go` on PATH, or point MEC_DEVCLUSTER_BIN_DIR "
            "at a directory holding kube-apiserver, kube-controller-manager, kube-scheduler, "
            "kubectl, etcd, kwok and helm."
        )
    return found


def c_compiler_check(tool: GoTool) -> None:
    """A cgo build needs a C compiler (Go's default is gcc, or what CC names)."""
    if not tool.cgo:
        return
    compiler = (os.environ.get("CC") or "gcc").split()[0]
    if shutil.which(compiler) is None:
        raise MissingPrerequisiteError(
            f"{tool.name} is built with cgo and needs a C compiler: install gcc (Debian: "
            f"apt-get install gcc libc6-dev; scripts/system-deps.sh does it) or set CC, or put "
            f"a ready {', '.join(tool.binaries)} {tool.version} in MEC_DEVCLUSTER_BIN_DIR."
        )


def _go_env(work: Path, cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "1" if cgo else "0",
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOWORK": "off",
        }
    )
    env.setdefault("GOTOOLCHAIN", "auto")
    env["PWD"] = str(work)
    return env


def _run_go(args: list[str], work: Path, log: Path, cgo: bool = False) -> str:
    with log.open("a") as sink:
        sink.write(f"$ go {' '.join(args)}\n")
        sink.flush()
        done = subprocess.run(
            [go_executable(), *args],
            cwd=work,
            env=_go_env(work, cgo),
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise DevClusterError(f"`go {args[0]}` failed in {work} (full log: {log}):\n{tail}")
    return done.stdout


def local_replaces(gomod_text: str) -> list[str]:
    """Modules that an upstream go.mod replaces with a local path (its staging or siblings)."""
    modules: list[str] = []
    in_block = False
    for line in gomod_text.splitlines():
        stripped = line.split("//", 1)[0].rstrip()
        if stripped.startswith("replace ("):
            in_block = True
            continue
        if in_block and stripped.strip() == ")":
            in_block = False
            continue
        if not (in_block or stripped.lstrip().startswith("replace ")):
            continue
        match = _LOCAL_REPLACE.match(stripped)
        if match and "FORBIDDEN" not in match["target"]:
            modules.append(match["module"])
    return modules


def wrapper_gomod(tool: GoTool, replaced_modules: list[str]) -> str:
    lines = [
        f"// Generated wrapper to build {tool.module} {tool.version} outside its repository.",
        f"module mec.dev/devcluster/build/{tool.name}",
        "",
        "go 1.24",
        "",
        f"require {tool.module} {tool.version}",
    ]
    replaces = {m: tool.replace_version for m in replaced_modules if m != tool.module}
    replaces.update(tool.extra_replaces)
    targets = {module: f"{module} {version}" for module, version in replaces.items()}
    targets.update(tool.fork_replaces)
    if targets:
        lines += ["", "replace ("]
        lines += [f"\t{module} => {target}" for module, target in sorted(targets.items())]
        lines.append(")")
    return "\n".join(lines) + "\n"


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(tool: GoTool, settings: DevClusterSettings, progress: Progress = quiet) -> ResolvedTool:
    """Build every binary of the tool into the cache (once, even with concurrent callers)."""
    target = cache_dir_for(tool, settings)
    c_compiler_check(tool)
    with locked(settings.build_dir / f"{tool.name}-{tool.version}.lock"):
        if cached_complete(tool, settings):
            return ResolvedTool(tool, {b: target / b for b in tool.binaries}, "cache")
        work = settings.build_dir / f"{tool.name}-{tool.version}"
        work.mkdir(parents=True, exist_ok=True)
        log = work / "build.log"
        log.write_text("")
        (work / "go.sum").unlink(missing_ok=True)
        replaced: list[str] = []
        if tool.replace_from_gomod:
            # Outside any module: only the upstream go.mod is fetched, not its module graph.
            outside = Path(tempfile.mkdtemp(prefix="gomod-", dir=settings.build_dir))
            try:
                raw = _run_go(
                    ["mod", "download", "-json", f"{tool.module}@{tool.version}"], outside, log
                )
            finally:
                shutil.rmtree(outside)
            replaced = local_replaces(Path(json.loads(raw)["GoMod"]).read_text())
        (work / "go.mod").write_text(wrapper_gomod(tool, replaced))
        settings.bin_cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{tool.name}-", dir=settings.bin_cache_dir))
        try:
            for index, (binary, package) in enumerate(tool.packages.items(), start=1):
                started = time.monotonic()
                progress(f"building {binary} {tool.version} [{index}/{len(tool.packages)}] ...")
                tags = ["-tags", ",".join(tool.tags)] if tool.tags else []
                _run_go(
                    [
                        "build",
                        "-trimpath",
                        *tags,
                        "-ldflags",
                        " ".join(tool.ldflags),
                        "-o",
                        str(staging / binary),
                        package,
                    ],
                    work,
                    log,
                    tool.cgo,
                )
                progress(f"built {binary} in {time.monotonic() - started:.0f} s")
            if tool.module_files:
                raw = _run_go(
                    ["mod", "download", "-json", f"{tool.module}@{tool.version}"], work, log
                )
                source = Path(json.loads(raw)["Dir"])
                for name in tool.module_files:
                    shutil.copyfile(source / name, staging / name)
            for binary in tool.binaries if tool.reports_version else ():
                if not has_version(staging / binary, tool):
                    seen = reported_version(staging / binary, tool)
                    raise DevClusterError(
                        f"built {binary} reports {seen!r}, expected {tool.version}"
                    )
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return ResolvedTool(tool, {b: target / b for b in tool.binaries}, "built")


def ensure(
    tools: tuple[GoTool, ...] | None = None,
    settings: DevClusterSettings | None = None,
    progress: Progress = quiet,
) -> dict[str, Path]:
    """Path of every binary of every tool, building what no lookup finds."""
    settings = settings or DevClusterSettings()
    paths: dict[str, Path] = {}
    for tool in tools or default_tools():
        resolved = locate(tool, settings)
        if resolved is None:
            progress(
                f"{tool.name} {tool.version}: not found, building it with Go"
                " (done once, then cached)"
            )
            resolved = build(tool, settings, progress)
        paths.update(resolved.paths)
    return paths
