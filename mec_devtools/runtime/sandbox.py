"""A pod's sandbox on an emulated host: its mounts, its user, its privileges.

With a sandbox, a container's process does not just run in the host's network namespace: it
gets a private mount namespace in which its volumes (emptyDir, configMap, the ServiceAccount's
projected token) are bind-mounted at their mountPaths, the cluster's names are in /etc/hosts,
the root filesystem is read-only when the container asks for it, and it runs as the user and
group of its securityContext with no capabilities and no_new_privs — so a chart that claims the
restricted Pod Security Standard is held to it. What is not emulated: seccomp profiles, image
filesystems (the process sees the machine's filesystem), resource limits.

`plan_container` is pure (pod spec in, plan out, or a `SandboxError` naming what cannot be
run); `SandboxPlan.wrap` turns a command into the argv that builds the sandbox and execs it
(util-linux `unshare`, `mount` and `setpriv`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where Kubernetes mounts a pod's ServiceAccount token, CA bundle and namespace."""

ROOT_UID = 0

STAGING = "/run/mec-sandbox"
"""Where paths a mount would hide are held while it is made (a tmpfs private to the sandbox)."""


class SandboxError(ValueError):
    """The pod asks for something the emulated runtime cannot give (the message says what)."""


@dataclass(frozen=True)
class Bind:
    """A directory or file of the pod (source, on the machine) at a path of the container."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class SandboxPlan:
    """What one container's sandbox is made of."""

    binds: tuple[Bind, ...]
    read_only_root: bool
    uid: int
    gid: int
    supplementary_groups: tuple[int, ...] = ()
    drop_privileges: bool = True
    volume_dirs: Mapping[str, str] = field(default_factory=dict)  # volume name -> source dir
    # Paths that must stay visible, read-only, whatever is mounted over their parents: the
    # installed project the container runs (a checkout under /tmp must survive an emptyDir at
    # /tmp).
    keep: tuple[str, ...] = ()

    def ordered_binds(self) -> list[Bind]:
        """The binds in mount order: parents before children.

        A bind that would hide the source of others (an emptyDir at /tmp while the pod's files
        live under /tmp) comes after them.
        """

        def hides_a_source(bind: Bind) -> bool:
            target = PurePosixPath(bind.target)
            return any(
                other is not bind and PurePosixPath(other.source).is_relative_to(target)
                for other in self.binds
            )

        return sorted(
            self.binds, key=lambda b: (hides_a_source(b), len(PurePosixPath(b.target).parts))
        )

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """Argv run inside the sandbox: mounts first (as root), then the user, then exec."""
        steps = ["set -e"]
        staged: dict[str, str] = {}
        if self._hidden_keeps():
            steps.append(f"mount -t tmpfs -o size=1m,mode=0700 mec-sandbox {STAGING}")
        for bind in self.ordered_binds():
            source, target = shlex.quote(bind.source), shlex.quote(bind.target)
            hidden = [
                keep
                for keep in self.keep
                if keep not in staged and PurePosixPath(keep).is_relative_to(bind.target)
            ]
            for keep in hidden:  # held aside before the mount hides it ...
                staged[keep] = f"{STAGING}/{len(staged)}"
                steps.append(f"mkdir -p {staged[keep]}")
                steps.append(f"mount --bind {shlex.quote(keep)} {staged[keep]}")
            steps.append(f"mount --bind {source} {target}")
            if bind.read_only:
                steps.append(f"mount -o remount,bind,ro {target}")
            for keep in hidden:  # ... and put back at its path, read-only
                steps.append(f"mkdir -p {shlex.quote(keep)}")
                steps.append(f"mount --bind {staged[keep]} {shlex.quote(keep)}")
                steps.append(f"mount -o remount,bind,ro {shlex.quote(keep)}")
        if self.read_only_root:
            steps.append("mount -o remount,bind,ro /")
        become: list[str] = []
        if self.drop_privileges:
            groups = ",".join(str(g) for g in self.supplementary_groups)
            become = [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.gid}",
                f"--groups={groups}" if groups else "--clear-groups",
                "--no-new-privs",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        steps.append('exec "$@"')
        script = "\n".join(steps)
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            script,
            "sandbox",
            *become,
            *argv,
        ]

    def _hidden_keeps(self) -> bool:
        return any(
            PurePosixPath(keep).is_relative_to(bind.target)
            for keep in self.keep
            for bind in self.binds
        )

    @property
    def mount_targets(self) -> tuple[str, ...]:
        """Paths that must exist on the machine before the mounts (created empty if missing)."""
        staging = (STAGING,) if self._hidden_keeps() else ()
        return (*(bind.target for bind in self.binds), *staging)


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's securityContext over the pod's (the container's fields win)."""
    pod_context = (pod.get("spec") or {}).get("securityContext") or {}
    own = container.get("securityContext") or {}
    merged = {k: v for k, v in pod_context.items() if k in ("runAsUser", "runAsGroup")}
    merged.update(own)
    merged["fsGroup"] = pod_context.get("fsGroup")
    merged["supplementalGroups"] = pod_context.get("supplementalGroups") or []
    return merged


def _absolute(path: object, what: str) -> str:
    if not isinstance(path, str) or not PurePosixPath(path).is_absolute() or ".." in path:
        raise SandboxError(f"{what} must be an absolute path without '..', not {path!r}")
    return path


def is_service_account_volume(volume: Mapping[str, Any]) -> bool:
    """The projected volume the API server adds for the ServiceAccount (kube-api-access-*)."""
    projected = volume.get("projected")
    if not isinstance(projected, Mapping):
        return False
    kinds = {kind for source in projected.get("sources") or [] for kind in source}
    return "serviceAccountToken" in kinds and kinds <= PROJECTED_SOURCES


PROJECTED_SOURCES = frozenset({"serviceAccountToken", "configMap", "downwardAPI"})


def _volume_dirs(
    pod: Mapping[str, Any], pod_dir: str, service_account_dir: str | None
) -> dict[str, str]:
    """Volume name -> its directory: emptyDir, configMap and the ServiceAccount's volume."""
    volumes: dict[str, str] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name") if isinstance(volume, Mapping) else None
        if not isinstance(name, str) or not name:
            raise SandboxError(f"a volume without a name: {volume!r}")
        if is_service_account_volume(volume) and service_account_dir is not None:
            volumes[name] = service_account_dir
            continue
        kinds = sorted(k for k in volume if k != "name")
        if kinds not in (["emptyDir"], ["configMap"]):
            raise SandboxError(
                f"volume {name!r}: {', '.join(kinds) or 'no source'} is not supported by the "
                "emulated runtime (emptyDir, configMap and the ServiceAccount's token are)"
            )
        volumes[name] = f"{pod_dir}/volumes/{name}"
    return volumes


def _identity(security: Mapping[str, Any]) -> tuple[int, int]:
    """(uid, gid) of the container, refused as the kubelet would refuse it."""
    uid = security.get("runAsUser")
    gid = security.get("runAsGroup")
    run_as_non_root = security.get("runAsNonRoot") is True
    if uid is None:
        if run_as_non_root:
            raise SandboxError(
                "runAsNonRoot without runAsUser: the emulated runtime has no image user to check"
            )
        uid = ROOT_UID
    if not isinstance(uid, int) or uid < 0:
        raise SandboxError(f"runAsUser must be a non-negative integer, not {uid!r}")
    if run_as_non_root and uid == ROOT_UID:
        raise SandboxError("runAsNonRoot with runAsUser 0: the kubelet refuses to start it")
    if gid is None:
        gid = uid
    if not isinstance(gid, int) or gid < 0:
        raise SandboxError(f"runAsGroup must be a non-negative integer, not {gid!r}")
    return uid, gid


def plan_container(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    pod_dir: str,
    service_account_dir: str | None,
    hosts_file: str | None,
    keep: tuple[str, ...] = (),
) -> SandboxPlan:
    """The sandbox of one container of pod, its volumes under pod_dir/volumes/<name>.

    service_account_dir: where the pod's token, ca.crt and namespace were written, bound where
    the pod mounts its ServiceAccount volume (the API server adds that volume and its mount at
    SERVICE_ACCOUNT_DIR); hosts_file: the cluster's names for /etc/hosts.
    """
    volumes = _volume_dirs(pod, pod_dir, service_account_dir)
    binds: list[Bind] = []
    for mount in container.get("volumeMounts") or []:
        name = mount.get("name")
        if name not in volumes:
            raise SandboxError(f"volumeMount {name!r} names no volume of the pod")
        target = _absolute(mount.get("mountPath"), f"volumeMount {name!r} mountPath")
        if mount.get("subPath"):
            raise SandboxError(f"volumeMount {name!r}: subPath is not supported")
        binds.append(Bind(volumes[name], target, read_only=bool(mount.get("readOnly"))))
    if hosts_file is not None:
        binds.append(Bind(hosts_file, "/etc/hosts", read_only=True))

    security = _security(pod, container)
    uid, gid = _identity(security)
    groups = [g for g in [security.get("fsGroup"), *security["supplementalGroups"]] if g]
    capabilities = security.get("capabilities") or {}
    if capabilities.get("add"):
        raise SandboxError("capabilities.add is not supported by the emulated runtime")
    return SandboxPlan(
        binds=tuple(binds),
        read_only_root=security.get("readOnlyRootFilesystem") is True,
        uid=uid,
        gid=gid,
        supplementary_groups=tuple(int(g) for g in groups),
        drop_privileges=uid != ROOT_UID or security.get("allowPrivilegeEscalation") is False,
        volume_dirs=volumes,
        keep=keep,
    )
